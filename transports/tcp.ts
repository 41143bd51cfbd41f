/** `tcp://host:port`: plain TCP. */
import type { Server } from 'node:net'
import { TroupeError } from '../lib/errors.js'
import { connectNet, dialSocket, newServer, serve } from './net-socket.js'
import { SlabReads } from './slab-reads.js'
import type { StreamLink } from './stream-link.js'
import type { DialOptions, ListenOptions } from './transport.js'

/** True for addresses only this machine can reach. */
function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '')
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h)
}

/**
 * Refuses a listener that other machines could reach when it has no key (API.md §2).
 * @throws TroupeError `EAUTH`
 */
export function requireKeyOffLoopback(host: string, options: ListenOptions): void {
  if (!isLoopback(host) && options.key.length === 0 && !options.insecure) {
    throw new TroupeError('EAUTH', `refusing to listen on ${host} without a key: pass a key, or insecure: true to accept anyone`)
  }
}

export function formatHostPort(scheme: string, host: string, port: number): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/**
 * Starts `server` on host:port (tcp:// and tls://); resolves with the address it really has, the
 * port chosen when asked for port 0. Peers are named `scheme://theirHost:theirPort`.
 */
export async function serveHostPort(
  scheme: string,
  server: Server,
  host: string,
  port: number,
  accept: (link: StreamLink) => void,
  connectionEvent?: string,
): Promise<{ server: Server; address: string }> {
  await serve(server, { host, port }, (s) => formatHostPort(scheme, s.remoteAddress ?? '?', s.remotePort ?? 0), accept, connectionEvent)
  const bound = server.address()
  const realPort = typeof bound === 'object' && bound !== null ? bound.port : port
  return { server, address: formatHostPort(scheme, host, realPort) }
}

export async function listenTcp(host: string, port: number, options: ListenOptions, accept: (link: StreamLink) => void): Promise<{ server: Server; address: string }> {
  requireKeyOffLoopback(host, options)
  return serveHostPort('tcp', newServer(), host, port, accept)
}

export function dialTcp(host: string, port: number, options: DialOptions) {
  const target = formatHostPort('tcp', host, port)
  const reads = new SlabReads()
  return dialSocket(connectNet({ host, port }, reads), target, options.clock, options.handshakeTimeoutMs, options.signal).then((socket) => ({ socket, target, reads }))
}
