/**
 * `tls://host:port`: TCP + TLS. TLS is keyed either by a pre-shared key derived from the grid's
 * shared key, or by certificates (`tls: { cert, key, ca }`). Either way the usual HMAC handshake
 * still runs inside the encrypted stream, so a TLS setup mistake never lets an unkeyed peer in.
 * docs/PROTOCOL.md ("TLS") gives the PSK derivation for peers in other languages.
 */
import { createHmac } from 'node:crypto'
import type { Server, Socket } from 'node:net'
import { connect, createServer, type ConnectionOptions as TlsConnectOptions, type TlsOptions } from 'node:tls'
import { debug } from '../lib/debug.js'
import { TroupeError } from '../lib/errors.js'
import { dialSocket, onStopServer } from './net-socket.js'
import { StreamLink } from './stream-link.js'
import { formatHostPort, requireKeyOffLoopback, serveHostPort } from './tcp.js'
import type { DialOptions, ListenOptions, TlsCredentials, Transport } from './transport.js'

/** The PSK identity both sides use: the PSK itself says which grid. */
export const PSK_IDENTITY = 'troupe'
const PSK_LABEL = 'troupe-tls-psk-v1'

/**
 * Only suites with an ephemeral (EC)DHE exchange, so a key that leaks later does not decrypt
 * recorded traffic. TLS 1.3 (OpenSSL offers psk_dhe_ke) uses an external PSK only with a
 * SHA-256 suite; the TLS 1.2 ECDHE-PSK suites are for peers whose TLS library lacks TLS 1.3 PSK.
 */
const PSK_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-PSK-CHACHA20-POLY1305',
  'ECDHE-PSK-AES256-CBC-SHA384',
].join(':')

/** The TLS pre-shared key for a grid key: HMAC-SHA256(key, "troupe-tls-psk-v1"). */
export function tlsPsk(key: Uint8Array): Buffer {
  return createHmac('sha256', key).update(PSK_LABEL).digest()
}

const NO_SECRET = 'tls:// needs the grid\'s key (TLS is then keyed from it) or certificates (tls: { cert, key, ca })'

function certMode(tls: TlsCredentials | undefined): tls is TlsCredentials {
  return tls !== undefined && (tls.cert !== undefined || tls.key !== undefined || tls.ca !== undefined)
}

/** cert and key come together or not at all: one without the other is a typo, not a choice. */
function checkPair(tls: TlsCredentials): void {
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new TroupeError('ECONFIG', 'tls.cert and tls.key must be given together')
  }
}

/**
 * What `tls.createServer()` needs for a listener with `options`.
 * @throws TroupeError `EAUTH` (no key and no certificates), `ECONFIG` (cert without key)
 */
function serverOptions(options: ListenOptions): TlsOptions {
  const { tls } = options
  if (certMode(tls)) {
    checkPair(tls)
    if (tls.cert === undefined) throw new TroupeError('ECONFIG', 'a tls:// listener with certificates needs tls.cert and tls.key')
    const withCa = tls.ca !== undefined
    return { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: withCa, rejectUnauthorized: withCa } as TlsOptions
  }
  if (options.key.length === 0) throw new TroupeError('EAUTH', NO_SECRET)
  const psk = tlsPsk(options.key)
  return {
    ciphers: PSK_CIPHERS,
    minVersion: 'TLSv1.2',
    pskCallback: (_socket, identity) => (identity === PSK_IDENTITY ? psk : null),
  }
}

function clientOptions(options: DialOptions): TlsConnectOptions {
  const { tls } = options
  if (certMode(tls)) {
    checkPair(tls)
    return { cert: tls.cert, key: tls.key, ca: tls.ca, rejectUnauthorized: true } as TlsConnectOptions
  }
  if (options.key.length === 0) throw new TroupeError('EAUTH', NO_SECRET)
  const psk = tlsPsk(options.key)
  return {
    ciphers: PSK_CIPHERS,
    minVersion: 'TLSv1.2',
    pskCallback: () => ({ psk, identity: PSK_IDENTITY }),
    // the PSK authenticates the server; there is no certificate whose name could be checked
    checkServerIdentity: () => undefined,
  }
}

export async function listenTls(host: string, port: number, options: ListenOptions, accept: (link: StreamLink) => void): Promise<{ server: Server; address: string }> {
  requireKeyOffLoopback(host, options)
  const server = createServer({
    ...serverOptions(options),
    noDelay: true,
    // a peer that connects and never finishes TLS is dropped as one that never says Hello. A
    // deadline from the accept, not an idle timer: handshake bytes do not restart it, so a
    // trickler is dropped too (spec/transports/tls-faults.spec.ts)
    handshakeTimeout: options.handshakeTimeoutMs,
  })
  // The peer failed TLS (wrong key, untrusted certificate) or missed handshakeTimeout. Node only
  // reports it and leaves the socket open, so without the destroy a stalled stranger would hold a
  // socket (and keep the process alive) for as long as it likes.
  server.on('tlsClientError', (err: Error, socket: Socket) => {
    debug('tls handshake from %s failed: %s', socket.remoteAddress, err.message)
    socket.destroy()
  })
  dropInTlsOnStop(server)
  return serveHostPort('tls', server, host, port, accept, 'secureConnection')
}

/**
 * Until 'secureConnection' a socket belongs to no one, so the listener's close() could not end
 * it and a peer stalled in TLS would outlive the listener. The raw sockets from 'connection'
 * are kept until TLS completes or they close, and stopping the server destroys them.
 */
function dropInTlsOnStop(server: Server): void {
  // Bounded by the open TCP connections still in TLS, each ended by handshakeTimeout. Keyed by
  // the peer's address and port, unique among open connections to one listening port: Node
  // does not document a way from the TLS socket back to its raw socket.
  const inTls = new Map<string, Socket>()
  const peerOf = (socket: Socket): string => `${socket.remoteAddress}|${socket.remotePort}`
  server.on('connection', (raw: Socket) => {
    const peer = peerOf(raw)
    inTls.set(peer, raw)
    raw.once('close', () => {
      if (inTls.get(peer) === raw) inTls.delete(peer)
    })
  })
  server.on('secureConnection', (socket: Socket) => inTls.delete(peerOf(socket)))
  onStopServer(server, () => {
    for (const raw of inTls.values()) raw.destroy()
    inTls.clear()
  })
}

/**
 * Connects and completes TLS.
 * @throws TroupeError `EAUTH` (no key and no certificates, or TLS refused: wrong key, untrusted
 * certificate), `ECLOSED` (unreachable, no answer in time), `EABORT`
 */
export async function dialTls(host: string, port: number, options: DialOptions): Promise<{ socket: Socket; target: string }> {
  const target = formatHostPort('tls', host, port)
  const secure = clientOptions(options)
  let reached = false
  const open = (): Socket => {
    const socket = connect({ ...secure, host, port })
    socket.once('connect', () => (reached = true))
    return socket
  }
  try {
    const socket = await dialSocket(open, target, options.clock, options.handshakeTimeoutMs, options.signal, 'secureConnect')
    return { socket, target }
  } catch (err) {
    // TCP got through, so the failure is TLS refusing us: a key or certificate problem
    if (reached && err instanceof TroupeError && err.code === 'ECLOSED' && err.cause !== undefined) throw tlsRefused(target, err.cause)
    throw err
  }
}

/**
 * Runs the Troupe handshake over a dialed TLS socket, reporting a TLS refusal as `EAUTH`. Under
 * TLS 1.3 the client finishes its side before the server has checked the client's certificate,
 * so that refusal comes after `dialTls()`: as an alert (`ERR_SSL_*`), or, when Node's server
 * rejects the certificate itself, as a close without a word. A listener that accepted TLS
 * always speaks first (Hello), so a silent close before any frame is that refusal. A reset
 * stays `ECLOSED`: the listener may simply have died, and reconnecting is worth it.
 */
export async function openTlsDialed(socket: Socket, target: string, open: (link: StreamLink) => Promise<Transport>): Promise<Transport> {
  let heard = false
  const opening = open(new StreamLink(socket, target))
  // after open(): the link has started reading, so this listener only observes
  socket.once('data', () => (heard = true))
  try {
    return await opening
  } catch (err) {
    if (heard || !(err instanceof TroupeError) || err.code !== 'ECLOSED') throw err
    const code = (err.cause as { code?: unknown } | undefined)?.code
    if (err.cause === undefined || (typeof code === 'string' && code.startsWith('ERR_SSL_'))) throw tlsRefused(target, err.cause ?? err.message)
    throw err
  }
}

function tlsRefused(target: string, cause: unknown): TroupeError {
  const why = cause instanceof Error ? cause.message.trim() : String(cause)
  return new TroupeError('EAUTH', `TLS handshake with ${target} failed (wrong key, or a certificate the other side does not trust): ${why}`, { cause })
}
