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
import { dialSocket, stopServer } from './net-socket.js'
import { StreamLink } from './stream-link.js'
import { formatHostPort, requireKeyOffLoopback, serveHostPort } from './tcp.js'
import { DEFAULT_MAX_HANDSHAKING, type DialOptions, type ListenOptions, type TlsCredentials, type Transport } from './transport.js'

/** The PSK identity both sides use: the PSK itself says which grid. */
export const PSK_IDENTITY = 'troupe'
const PSK_LABEL = 'troupe-tls-psk-v1'

/**
 * Only suites with an ephemeral (EC)DHE exchange, so a key that leaks later does not decrypt
 * recorded traffic. TLS 1.3 (OpenSSL offers psk_dhe_ke) uses an external PSK only with a
 * SHA-256 suite; the TLS 1.2 ECDHE-PSK suites are for peers whose TLS library lacks TLS 1.3 PSK.
 */
const PSK_SUITES = {
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-PSK-CHACHA20-POLY1305',
    'ECDHE-PSK-AES256-CBC-SHA384',
  ].join(':'),
  minVersion: 'TLSv1.2',
} as const

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
    ...PSK_SUITES,
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
    ...PSK_SUITES,
    pskCallback: () => ({ psk, identity: PSK_IDENTITY }),
    // the PSK authenticates the server; there is no certificate whose name could be checked
    checkServerIdentity: () => undefined,
  }
}

/** Listens; `stop()` stops accepting and drops the peers still in TLS, which nobody else could close. */
export async function listenTls(host: string, port: number, options: ListenOptions, accept: (link: StreamLink) => void): Promise<{ address: string; stop(): Promise<void> }> {
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
  const dropInTls = trackInTls(server, options.maxHandshaking ?? DEFAULT_MAX_HANDSHAKING)
  const { address } = await serveHostPort('tls', server, host, port, accept, 'secureConnection')
  return {
    address,
    stop() {
      const stopped = stopServer(server)
      dropInTls()
      return stopped
    },
  }
}

/**
 * Until 'secureConnection' a socket belongs to no one, so the listener's close() could not end
 * it and a peer stalled in TLS would outlive the listener. The raw sockets of each 'connection'
 * are kept until TLS completes or they close, and the function returned destroys them. Past `max`
 * of them a new one is dropped at once (its dialer sees a reset during TLS, and retries).
 */
function trackInTls(server: Server, max: number): () => void {
  // Bounded by `max`, each ended by handshakeTimeout. Keyed by the peer's address and port,
  // unique among open connections to one listening port: Node does not document a way from
  // the TLS socket back to its raw socket.
  const inTls = new Map<string, Socket>()
  const peerOf = (socket: Socket): string => `${socket.remoteAddress}|${socket.remotePort}`
  server.on('connection', (raw: Socket) => {
    if (inTls.size >= max) {
      debug('tls: %d connections already in TLS; dropping one from %s', max, raw.remoteAddress)
      raw.destroy()
      return
    }
    const peer = peerOf(raw)
    inTls.set(peer, raw)
    raw.once('close', () => {
      if (inTls.get(peer) === raw) inTls.delete(peer)
    })
  })
  server.on('secureConnection', (socket: Socket) => inTls.delete(peerOf(socket)))
  return () => {
    for (const raw of inTls.values()) raw.destroy()
    inTls.clear()
  }
}

/**
 * Connects and completes TLS.
 * @throws TroupeError `EAUTH` (no key and no certificates, or TLS refused: wrong key, untrusted
 * certificate), `ECLOSED` (unreachable, reset or closed during TLS, no answer in time), `EABORT`
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
    // TCP got through and TLS said no (an alert, a certificate we do not trust): a key or
    // certificate problem, which retrying will not fix. A reset or close mid-TLS is not that:
    // the listener may be restarting, so it stays ECLOSED and the caller reconnects.
    if (reached && err instanceof TroupeError && err.code === 'ECLOSED' && isTlsRefusal(err.cause)) throw tlsRefused(target, err.cause)
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
    if (err.cause === undefined || isTlsRefusal(err.cause)) throw tlsRefused(target, err.cause ?? err.message)
    throw err
  }
}

/** OpenSSL's certificate verification failures, as Node names them in `err.code`. */
const CERT_ERRORS = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_CRL', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE', 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE', 'CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED', 'CRL_NOT_YET_VALID', 'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD', 'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_CHAIN_TOO_LONG', 'CERT_REVOKED',
  'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/**
 * True when `cause` is TLS refusing to authenticate: an OpenSSL error or alert (`ERR_SSL_*`:
 * a wrong PSK, no shared suite, a certificate the other side rejected) or a certificate we
 * rejected. Resets, closes and timeouts (`ECONNRESET`, `EPIPE`, `ERR_TLS_HANDSHAKE_TIMEOUT`)
 * are not: nothing was said about our credentials.
 */
function isTlsRefusal(cause: unknown): boolean {
  const code = (cause as { code?: unknown } | undefined)?.code
  return typeof code === 'string' && (code.startsWith('ERR_SSL_') || CERT_ERRORS.has(code))
}

function tlsRefused(target: string, cause: unknown): TroupeError {
  const why = cause instanceof Error ? cause.message.trim() : String(cause)
  return new TroupeError('EAUTH', `TLS handshake with ${target} failed (wrong key, or a certificate the other side does not trust): ${why}`, { cause })
}
