/**
 * All that actors may know about a connection: it carries frames (opaque byte strings) both
 * ways to one authenticated peer, says when it can take more, and says once why it closed.
 * Transports move bytes; what a frame means is the actor layer's business.
 */
import type { Clock } from '../lib/clock.js'
import type { TroupeError } from '../lib/errors.js'

/** Where a transport delivers what happens on it. */
export interface FrameSink {
  /**
   * One frame from the peer: bytes [start, end) of `buf`, a read buffer (copy what you keep).
   * A range rather than a view: a view per frame costs ~50 ns (bench ask.tcp.c256).
   */
  frame(buf: Uint8Array, start: number, end: number): void
  /** The outbound queue fell back under its high-water mark after `send()` returned false. */
  drain(): void
  /** Called exactly once, when the connection is gone; `why` says why (`ECLOSED`, `EFRAME`...). */
  closed(why: TroupeError): void
}

/** An open, authenticated connection. */
export interface Transport {
  /** Node id the peer proved in the handshake. */
  readonly peerNode: string
  /** A printable address of the other end (for logs and stats). */
  readonly remoteAddress: string
  /** The largest frame the peer accepts, as it said in its Hello; undefined if it did not say. */
  readonly peerMaxFrameBytes?: number | undefined
  /**
   * Queues one frame: bytes [start, end) of `buf` (default: all of it), which must not change
   * afterwards. Returns false once the outbound queue is past its high-water mark: the frame is
   * still sent, but the caller should wait for `sink.drain()` before sending more. Frames sent
   * after close are dropped (the sink has been told).
   */
  send(buf: Uint8Array, start?: number, end?: number): boolean
  /**
   * Closes after flushing what is queued; with a `reason`, the peer is told it first. Idempotent;
   * resolves after `sink.closed()` ran.
   */
  close(reason?: TroupeError): Promise<void>
}

/** A listening endpoint. */
export interface Listener {
  /** The real URL, e.g. `tcp://127.0.0.1:43121` after listening on port 0. */
  readonly address: string
  /**
   * Stops accepting and closes the connections still in their handshake, which have no owner
   * yet; resolves once they are closed. Connections already handed to `accept` stay open
   * (their owners close them).
   */
  close(): Promise<void>
}

/**
 * Liveness checking: a ping after `intervalMs` of silence, then one every `intervalMs` while the
 * silence lasts; closed once `misses` pings in a row went an interval unanswered. A silent peer
 * is thus dropped after (misses + 1) × intervalMs.
 */
export interface HeartbeatOptions {
  intervalMs: number
  misses: number
}

/** What every connection needs, on both the dialing and the listening side. */
export interface ConnectionOptions {
  /** This node's id, sent in the handshake. */
  node: string
  /** Shared secret; an empty key is still a key (both sides must have none). */
  key: Uint8Array
  /** Largest frame accepted or sent, in bytes. */
  maxFrameBytes: number
  heartbeat: HeartbeatOptions | false
  /** Bound on the whole handshake. */
  handshakeTimeoutMs: number
  clock: Clock
}

/**
 * Certificates for `tls://` (PEM text or bytes). Without them, tls:// keys TLS from the shared key.
 * A listener needs `cert` and `key`; with `ca` it also requires client certificates signed by it.
 * A dialer checks the listener's certificate against `ca` (default: the system's CAs) and
 * presents `cert`/`key` if given.
 */
export interface TlsCredentials {
  cert?: string | Uint8Array | undefined
  key?: string | Uint8Array | undefined
  ca?: string | Uint8Array | undefined
}

/**
 * Default bound on a listener's connections still in their handshake (over tls://, also on
 * those still in TLS). Like sshd's MaxStartups: a stranger may hold a few, never every socket.
 */
export const DEFAULT_MAX_HANDSHAKING = 128

/** The least `maxFrame` a node takes, and a peer's announced limit is raised to: every control frame fits. */
export const SMALLEST_MAX_FRAME_BYTES = 1024
/** Frames carry a 4-byte length, so nothing larger can be described. */
export const LARGEST_FRAME_BYTES = 0xffffffff

export interface ListenOptions extends ConnectionOptions {
  /** Allow a non-loopback listener without a key. */
  insecure: boolean
  /**
   * Most connections at once still in their handshake (default `DEFAULT_MAX_HANDSHAKING`); one
   * more is turned away with `ECLOSED`, which a dialer retries. Each lasts at most
   * `handshakeTimeoutMs`.
   */
  maxHandshaking?: number | undefined
  /** Certificates for tls:// (ignored by other schemes). */
  tls?: TlsCredentials | undefined
}

export interface DialOptions extends ConnectionOptions {
  signal?: AbortSignal | undefined
  /** Certificates for tls:// (ignored by other schemes). */
  tls?: TlsCredentials | undefined
}

/** Called when a listener has authenticated a new peer; returns where its frames go. */
export type Accept = (transport: Transport) => FrameSink
