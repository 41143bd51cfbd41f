import { Connection } from '../../transports/connection.js'
import { openDialed } from '../../transports/index.js'
import { channelOf } from '../../transports/ipc.js'
import { StreamLink } from '../../transports/stream-link.js'
import { donatedSocketpair } from '../children.js'
import { transportContract, type Driver } from '../transport-contract.js'

const ipcDriver: Driver = {
  async listen(options, accept) {
    const opened: { destroy(): void }[] = []
    const pair = async () => {
      const { child, theirs } = await donatedSocketpair()
      // the pool's end, as spawnWithChannel makes it (nothing was written to it yet)
      const ours = channelOf(child)
      opened.push(ours, theirs)
      const connection: Connection = new Connection(ours, options, 'listener', () => accept(connection))
      return new StreamLink(theirs, 'ipc://pool')
    }
    return {
      dial: async (dialOptions, sink) => openDialed(await pair(), dialOptions, sink),
      raw: pair,
      close: async () => {
        for (const s of opened) s.destroy()
      },
    }
  },
}

transportContract('ipc', ipcDriver)
