/**
 * A bare TCP listener for playing a peer that misbehaves below Troupe: one that accepts and never
 * answers, reads nothing, counts its callers, or relays with faults. It binds 127.0.0.1 port 0,
 * keeps every socket it accepts, and the test's cleanup destroys them all and closes it.
 */
import { createServer, type Socket } from 'node:net'
import { nextEvent, type BoundedSuite } from './harness.js'

export interface RawServer {
  readonly port: number
  /** `tcp://127.0.0.1:<port>`, for `connect()` and the CLI. */
  readonly url: string
  /** Every socket accepted so far, in order of arrival; closed ones stay listed. */
  readonly sockets: readonly Socket[]
  /** The next socket accepted, after `onConnection` has seen it; rejects past `ms`. */
  nextSocket(ms?: number): Promise<Socket>
}

/**
 * Listens on 127.0.0.1 port 0 and hands each accepted socket to `onConnection`; by default
 * nothing consumes what a socket receives. Socket errors are swallowed: a reset from the side
 * under test is what these peers exist to provoke.
 */
export async function rawServer(t: Pick<BoundedSuite, 'cleanup'>, onConnection: (socket: Socket) => void = () => {}): Promise<RawServer> {
  const sockets: Socket[] = []
  const server = createServer((socket) => {
    sockets.push(socket)
    socket.on('error', () => {})
    onConnection(socket)
  })
  t.cleanup(() => {
    for (const socket of sockets) socket.destroy()
    return new Promise((resolve) => server.close(resolve))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as { port: number }
  return {
    port,
    url: `tcp://127.0.0.1:${port}`,
    sockets,
    nextSocket: async (ms = 5000) => (await nextEvent<[Socket]>(server, 'connection', ms))[0],
  }
}
