/**
 * A bare TCP listener for playing a peer that misbehaves below Troupe: one that accepts and never
 * answers, reads nothing, counts its callers, or relays with faults. It binds 127.0.0.1 port 0,
 * keeps every socket it accepts, and the test's cleanup destroys them all and closes it.
 */
import { connect, createServer, type Socket } from 'node:net'
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

export interface RelayLink {
  /** The socket a dialer opened to the relay. */
  readonly inbound: Socket
  /** The relay's socket to the target. */
  readonly outbound: Socket
  /** From now on forwards nothing and reads nothing, either way; both sockets stay open. */
  freeze(): void
}

/**
 * A relay to `target` (a tcp://127.0.0.1 URL) whose links can be frozen, to play a peer that
 * stops reading (or goes silent) without closing. A frozen link's close does not carry over:
 * the test's cleanup destroys its outbound socket.
 */
export async function relay(t: Pick<BoundedSuite, 'cleanup'>, target: string): Promise<{ url: string; links: RelayLink[] }> {
  const port = Number(new URL(target.replace(/^tcp:/, 'http:')).port)
  const links: RelayLink[] = []
  t.cleanup(() => links.forEach((link) => link.outbound.destroy()))
  const server = await rawServer(t, (inbound) => {
    const outbound = connect(port, '127.0.0.1')
    let frozen = false
    links.push({
      inbound,
      outbound,
      freeze() {
        frozen = true
        inbound.pause()
        outbound.pause()
      },
    })
    inbound.on('data', (d) => void (frozen || outbound.write(d)))
    outbound.on('data', (d) => void (frozen || inbound.write(d)))
    outbound.on('error', () => {})
    for (const [a, b] of [[inbound, outbound], [outbound, inbound]] as const) a.on('close', () => frozen || b.destroy())
  })
  return { url: server.url, links }
}
