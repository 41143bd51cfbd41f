/** Contract drivers for the schemes that listen by URL. */
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dial, listen, parseAddress, type ListenOptions } from '../../transports/index.js'
import { dialMemory } from '../../transports/memory.js'
import { StreamLink } from '../../transports/stream-link.js'
import { dialTls } from '../../transports/tls.js'
import type { Link } from '../../transports/link.js'
import { unique, withDeadline } from '../harness.js'
import type { Driver } from '../transport-contract.js'

/** A connected link with no Troupe handshake done; over tls:// TLS itself is done, keyed as the listener is. */
async function rawLink(url: string, options: ListenOptions): Promise<Link> {
  const address = parseAddress(url)
  if (address.scheme === 'mem') return dialMemory(address.name)
  if (address.scheme === 'tls') {
    const { socket } = await dialTls(address.host, address.port, options)
    return new StreamLink(socket, url)
  }
  const socket = address.scheme === 'unix' ? createConnection({ path: address.path }) : createConnection({ host: address.host, port: address.port })
  await withDeadline(new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject)), 5000, `raw connect to ${url}`)
  return new StreamLink(socket, url)
}

export function urlDriver(makeUrl: () => string): Driver {
  return {
    async listen(options, accept) {
      const listener = await listen(makeUrl(), options, accept)
      return {
        dial: (dialOptions, sink) => dial(listener.address, dialOptions, sink),
        raw: () => rawLink(listener.address, options),
        close: () => listener.close(),
      }
    },
  }
}

export const memoryUrl = (): string => `mem://${unique('contract')}`
export const tcpUrl = (): string => 'tcp://127.0.0.1:0'
export const tlsUrl = (): string => 'tls://127.0.0.1:0'
export const unixUrl = (): string => `unix://${join(tmpdir(), `${unique('troupe')}.sock`)}`
