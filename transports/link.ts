/**
 * A `Link` is what each concrete transport provides: frames in both directions over one raw
 * channel (a socket, a socketpair, an in-memory pair), before any authentication.
 * `Connection` turns a link into a `Transport`.
 */
import { TroupeError } from '../lib/errors.js'

export interface LinkEvents {
  /** One frame: bytes [start, end) of `buf`, a read buffer (copy what you keep). */
  frame(buf: Uint8Array, start: number, end: number): void
  drain(): void
  /** The channel is gone; `err` when it failed (an oversize frame, a socket error). */
  closed(err: TroupeError | undefined): void
}

/** The events of a link nobody listens to yet. */
export const NO_LISTENER: LinkEvents = { frame() {}, drain() {}, closed() {} }

/** What a link ends with when the peer sends a frame over its `maxFrameBytes`. */
export function oversizeFrame(length: number, maxFrameBytes: number): TroupeError {
  return new TroupeError('EFRAME', `incoming frame of ${length} bytes exceeds maxFrame (${maxFrameBytes})`)
}

export interface Link {
  readonly remoteAddress: string
  /** Set by the connection before any data is read. */
  events: LinkEvents
  /** Bytes sent but not yet taken by the peer (0 where the peer always takes them at once). */
  readonly unsentBytes: number
  /** Largest incoming frame; raised by the connection once the peer is authenticated. */
  maxFrameBytes: number
  /**
   * Queues the frame in bytes [start, end) of `buf` (default: all of it), which must not change
   * afterwards; false once past the high-water mark.
   */
  send(buf: Uint8Array, start?: number, end?: number): boolean
  /** Flushes what is queued, then ends the channel; `events.closed` follows. */
  end(): void
  /** Ends the channel at once, dropping what is queued; `events.closed` follows. */
  destroy(): void
}
