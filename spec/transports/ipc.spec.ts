import { spawn } from 'node:child_process'
import type { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Connection } from '../../transports/connection.js'
import { openDialed } from '../../transports/index.js'
import { StreamLink } from '../../transports/stream-link.js'
import { withDeadline } from '../harness.js'
import { transportContract, type Driver } from '../transport-contract.js'

const donor = fileURLToPath(new URL('../fixtures/socketpair-donor.ts', import.meta.url))

/** Both ends of a socketpair made the way the ipc transport makes one (stdio 'pipe' on fd 3). */
async function socketpair(): Promise<[Socket, Socket]> {
  const child = spawn(process.execPath, [...process.execArgv, donor], { stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'ipc'] })
  const theirs = await withDeadline(
    new Promise<Socket>((resolve, reject) => {
      child.once('message', (_m, handle) => resolve(handle as Socket))
      child.once('exit', () => reject(new Error('the donor exited without sending its socket')))
    }),
    10_000,
    'socketpair donor',
  )
  return [child.stdio[3] as Socket, theirs]
}

const ipcDriver: Driver = {
  async listen(options, accept) {
    const opened: Socket[] = []
    const pair = async () => {
      const [pool, child] = await socketpair()
      opened.push(pool, child)
      const connection: Connection = new Connection(new StreamLink(pool, 'ipc://child'), options, 'listener', () => accept(connection))
      return new StreamLink(child, 'ipc://pool')
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
