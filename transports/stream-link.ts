/**
 * A `Link` over a Node stream socket: TCP, TLS, Unix domain sockets and the socketpair a pool
 * shares with its child processes all come through here.
 */
import type { Socket } from 'node:net'
import { TroupeError, asError } from '../lib/errors.js'
import { FrameReader, FrameWriter } from './framing.js'
import { NO_LISTENER, type Link, type LinkEvents } from './link.js'
import type { SlabReads } from './slab-reads.js'

/** Outbound bytes past which `send()` reports backpressure (frames are still accepted). */
export const HIGH_WATER_BYTES = 1024 * 1024

/**
 * Unsent bytes past which the accepting side of a connection stops reading from the peer until it
 * has caught up (less than HIGH_WATER_BYTES left). A peer that asks (or submits tasks) and never
 * reads the answers would otherwise make a server hold every answer; now it adds at most what the
 * requests of one read produce. The dialing side always reads, so the two sides of a connection
 * can never both wait for the other to read.
 */
export const PAUSE_READING_BYTES = 64 * 1024 * 1024

export interface StreamLinkOptions {
  /** Stop reading while more than PAUSE_READING_BYTES is unsent (the accepting side only). */
  pausesReading?: boolean
  /** The socket was made paused, reading through these (see SlabReads), not through 'data'. */
  reads?: SlabReads | undefined
}

export class StreamLink implements Link {
  readonly remoteAddress: string
  #events: LinkEvents = NO_LISTENER
  readonly #socket: Socket
  readonly #reader: FrameReader
  readonly #writer: FrameWriter
  #failure: TroupeError | undefined
  #congested = false
  readonly #pauseReadingPastBytes: number
  #readingPaused = false
  readonly #slabReads: boolean

  constructor(socket: Socket, remoteAddress: string, options: StreamLinkOptions = {}) {
    this.#socket = socket
    this.remoteAddress = remoteAddress
    this.#pauseReadingPastBytes = options.pausesReading === true ? PAUSE_READING_BYTES : Number.POSITIVE_INFINITY
    this.#reader = new FrameReader(Number.MAX_SAFE_INTEGER, (buf, start, end) => this.events.frame(buf, start, end))
    this.#slabReads = options.reads !== undefined
    if (options.reads !== undefined) options.reads.onChunk = (chunk, end) => this.#onData(chunk, end)
    this.#writer = new FrameWriter(socket, HIGH_WATER_BYTES)
    socket.setNoDelay?.(true)
    socket.on('drain', () => {
      this.#writer.writeHeld()
      if (this.#writer.pendingBytes >= HIGH_WATER_BYTES) return
      if (this.#readingPaused) {
        this.#readingPaused = false
        socket.resume()
      }
      if (this.#congested) {
        this.#congested = false
        this.events.drain()
      }
    })
    socket.on('error', (err) => {
      this.#failure ??= new TroupeError('ECLOSED', `connection to ${remoteAddress} failed: ${err.message}`, { cause: err })
      // Node does not always close the socket after 'error' (a TLS socket past its renegotiation
      // limit, ERR_TLS_SESSION_ATTACK, stays open). Left open, the link would drop every later
      // byte and never report closed: a dead connection only a heartbeat could find.
      socket.destroy()
    })
    socket.on('close', () => {
      this.#writer.discard()
      this.events.closed(this.#failure)
    })
  }

  get events(): LinkEvents {
    return this.#events
  }

  /** Reading starts when someone listens: until then the socket keeps what arrives. */
  set events(events: LinkEvents) {
    const first = this.#events === NO_LISTENER
    this.#events = events
    if (!first) return
    if (this.#slabReads) this.#socket.resume()
    else this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk))
  }

  get unsentBytes(): number {
    return this.#writer.pendingBytes
  }

  get maxFrameBytes(): number {
    return this.#reader.maxFrameBytes
  }

  set maxFrameBytes(bytes: number) {
    this.#reader.maxFrameBytes = bytes
  }

  #onData(chunk: Uint8Array, end = chunk.length): void {
    if (this.#failure !== undefined) return
    try {
      this.#reader.push(chunk, end)
    } catch (caught) {
      // an oversize prefix (EFRAME) or a handler bug: this connection ends, nothing escapes
      // the 'data' handler to crash the process
      const err = asError(caught)
      this.#failure = err instanceof TroupeError ? err : new TroupeError('EPROTO', err.message, { cause: err })
      this.#socket.destroy()
    }
  }

  send(buf: Uint8Array, start = 0, end = buf.length): boolean {
    if (this.#socket.destroyed || !this.#socket.writable) return false
    const below = this.#writer.push(buf, start, end)
    if (!below) {
      this.#congested = true
      if (!this.#readingPaused && this.#writer.pendingBytes > this.#pauseReadingPastBytes) {
        this.#readingPaused = true
        this.#socket.pause() // the 'drain' that finds it caught up resumes reading
      }
    }
    return below
  }

  end(): void {
    if (this.#socket.destroyed) return
    this.#writer.flush()
    this.#writer.writeHeld(true)
    this.#socket.end()
  }

  destroy(): void {
    this.#writer.discard()
    this.#socket.destroy()
  }
}
