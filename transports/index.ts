/**
 * Listening and dialling by URL (API.md §1). Every scheme ends in the same `Connection`, so the
 * handshake, heartbeats and close semantics are identical whatever carries the bytes.
 */
import { TroupeError } from '../lib/errors.js'
import { Connection, refuse } from './connection.js'
import type { Link } from './link.js'
import { dialMemory, listenMemory } from './memory.js'
import { stopServer } from './net-socket.js'
import { StreamLink } from './stream-link.js'
import { dialTcp, listenTcp } from './tcp.js'
import { DEFAULT_MAX_HANDSHAKING, type Accept, type DialOptions, type FrameSink, type ListenOptions, type Listener, type Transport } from './transport.js'
import { dialUnix, listenUnix } from './unix.js'

export type { Accept, DialOptions, FrameSink, ListenOptions, Listener, TlsCredentials, Transport } from './transport.js'
export { LARGEST_FRAME_BYTES, SMALLEST_MAX_FRAME_BYTES } from './transport.js'
export type { Link } from './link.js'
export { parentChannel, spawnWithChannel } from './ipc.js'
export { PortLink, type PortEndpoint } from './port.js'

// node:tls adds about 1.3 MB to a process that loads it: only nodes that use tls:// pay for it
const loadTls = (): Promise<typeof import('./tls.js')> => import('./tls.js')

/** A parsed address. */
export type Address =
  | { scheme: 'mem'; name: string }
  | { scheme: 'tcp' | 'tls'; host: string; port: number }
  | { scheme: 'unix'; path: string }

/**
 * Parses `mem://name`, `tcp://host:port`, `tls://host:port` or `unix:///path`.
 * @throws TroupeError `ECONFIG` for anything else.
 */
export function parseAddress(url: string): Address {
  const bad = (why: string): TroupeError => new TroupeError('ECONFIG', `bad address ${JSON.stringify(url)}: ${why}`)
  if (typeof url !== 'string') throw bad('expected a URL string')
  const match = /^([a-z]+):\/\/(.*)$/.exec(url)
  if (match === null) throw bad('expected scheme://...')
  const [, scheme, rest] = match as unknown as [string, string, string]
  switch (scheme) {
    case 'mem':
      if (!/^[\w.-]+$/.test(rest)) throw bad('expected mem://name (letters, digits, _ . -)')
      return { scheme, name: rest }
    case 'unix':
      if (!rest.startsWith('/')) throw bad('expected unix:///absolute/path')
      return { scheme, path: rest }
    case 'tcp':
    case 'tls': {
      const hp = /^(\[[0-9a-fA-F:.]+\]|[^:/\[\]]+):(\d{1,5})$/.exec(rest)
      if (hp === null) throw bad('expected host:port')
      const port = Number(hp[2])
      if (port > 65535) throw bad('port out of range')
      return { scheme, host: (hp[1] as string).replace(/^\[|\]$/g, ''), port }
    }
    default:
      throw bad(`unknown scheme "${scheme}" (mem, tcp, tls, unix)`)
  }
}

/**
 * Listens on `url`. Each peer that completes the handshake is handed to `accept`, which
 * returns the sink for its frames.
 * @throws TroupeError `ECONFIG` (bad URL, address in use), `EAUTH` (non-loopback without key;
 * tls:// with neither a key nor certificates)
 */
export async function listen(url: string, options: ListenOptions, accept: Accept): Promise<Listener> {
  const address = parseAddress(url)
  // connections still in their handshake belong to no owner yet, so closing the listener closes them
  const handshaking = new Set<Connection>()
  const maxHandshaking = options.maxHandshaking ?? DEFAULT_MAX_HANDSHAKING
  let closed = false
  const onLink = (link: Link): void => {
    if (closed) {
      link.destroy() // a tls:// peer that finished TLS after close()
      return
    }
    if (handshaking.size >= maxHandshaking) {
      refuse(link, new TroupeError('ECLOSED', `${maxHandshaking} connections are already in their handshake here; try again`), options.clock)
      return
    }
    const connection: Connection = new Connection(link, options, 'listener', () => {
      handshaking.delete(connection)
      return accept(connection)
    })
    handshaking.add(connection)
    connection.opened.catch(() => handshaking.delete(connection))
  }
  const listener = (real: string, stopAccepting: () => Promise<void>): Listener => ({
    address: real,
    async close() {
      closed = true
      await Promise.all([stopAccepting(), ...[...handshaking].map((connection) => connection.close())])
    },
  })
  switch (address.scheme) {
    case 'mem': {
      const stop = listenMemory(address.name, onLink)
      return listener(url, async () => stop())
    }
    case 'tcp': {
      const { server, address: real } = await listenTcp(address.host, address.port, options, onLink)
      return listener(real, () => stopServer(server))
    }
    case 'tls': {
      const { listenTls } = await loadTls()
      const { address: real, stop } = await listenTls(address.host, address.port, options, onLink)
      return listener(real, stop)
    }
    case 'unix': {
      const server = await listenUnix(address.path, onLink)
      return listener(`unix://${address.path}`, () => stopServer(server))
    }
  }
}

/**
 * Connects to `url` and completes the handshake; `sink` receives every frame after it.
 * @throws TroupeError `ECLOSED` (unreachable), `EAUTH` (wrong key; over tls:// also TLS refused),
 * `EPROTO` (version), `EABORT`
 */
export async function dial(url: string, options: DialOptions, sink: FrameSink): Promise<Transport> {
  const address = parseAddress(url)
  let link: Link
  switch (address.scheme) {
    case 'mem':
      link = dialMemory(address.name)
      break
    case 'tcp': {
      const { socket, target, reads } = await dialTcp(address.host, address.port, options)
      link = new StreamLink(socket, target, { reads })
      break
    }
    case 'tls': {
      const { dialTls, openTlsDialed } = await loadTls()
      const { socket, target } = await dialTls(address.host, address.port, options)
      return openTlsDialed(socket, target, (tlsLink) => openDialed(tlsLink, options, sink))
    }
    case 'unix': {
      const { socket, target, reads } = await dialUnix(address.path, options)
      link = new StreamLink(socket, target, { reads })
      break
    }
  }
  return openDialed(link, options, sink)
}

/**
 * Runs the listener's side of the handshake on a link that is already connected (a child
 * process's socketpair); resolves once the peer has proved the key.
 */
export async function openAccepted(link: Link, options: ListenOptions, sink: FrameSink): Promise<Transport> {
  const connection = new Connection(link, options, 'listener', () => sink)
  await connection.opened
  return connection
}

/** Runs the dialer's side of the handshake on a link (also used for a child's socketpair). */
export async function openDialed(link: Link, options: DialOptions, sink: FrameSink): Promise<Transport> {
  const connection = new Connection(link, options, 'dialer', () => sink)
  const { signal } = options
  const onAbort = (): void => void connection.close(new TroupeError('EABORT', 'connect aborted', { cause: signal?.reason }))
  // a signal that aborted while the link was being made fires no more events
  if (signal?.aborted === true) onAbort()
  else signal?.addEventListener('abort', onAbort, { once: true })
  try {
    await connection.opened
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
  return connection
}
