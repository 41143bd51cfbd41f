/**
 * A `Link` over a worker_threads MessagePort (a pool's thread workers). Frames queued in one
 * microtask are posted as one message, as the socket writer batches them into one write: their
 * bytes back to back in one buffer, transferred, with the end offset of each frame. One buffer
 * per frame cost the receiver an ArrayBuffer each to clone: 2 000 000 progress frames grew the
 * host to 2 GB (167 MB batched), before the task executor coalesced progress.
 */
import { TroupeError } from '../lib/errors.js'
import { NO_LISTENER, oversizeFrame, type Link, type LinkEvents } from './link.js'

/** The part of a Worker or of `parentPort` the link uses. */
export interface PortEndpoint {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void
  on(event: 'message', listener: (message: unknown) => void): unknown
  on(event: 'close' | 'exit', listener: () => void): unknown
}

/** A batch is posted once it holds this much; a bigger frame gets a batch of its own. */
const BATCH_BYTES = 64 * 1024

export class PortLink implements Link {
  readonly remoteAddress: string
  events: LinkEvents = NO_LISTENER
  readonly unsentBytes = 0 // the peer takes every frame on its next turn
  maxFrameBytes = Number.MAX_SAFE_INTEGER
  readonly #port: PortEndpoint
  readonly #close: () => void
  // the next post: frames copied back to back, as send()'s buffers are ranges of a shared slab.
  // Reused, as each post takes a copy of the bytes it holds; a frame that would overflow it
  // posts what it holds first
  readonly #batch = new Uint8Array(BATCH_BYTES)
  #batchBytes = 0
  #ends: number[] = []
  #closed = false

  /** `close` ends the channel (terminate the worker, close the port); 'close'/'exit' then follows. */
  constructor(port: PortEndpoint, remoteAddress: string, close: () => void) {
    this.#port = port
    this.remoteAddress = remoteAddress
    this.#close = close
    port.on('message', (message) => this.#receive(message))
    const gone = (): void => this.#gone(undefined)
    port.on('close', gone)
    port.on('exit', gone)
  }

  #receive(message: unknown): void {
    if (this.#closed || !Array.isArray(message)) return
    const [bytes, ends] = message as unknown[]
    if (!(bytes instanceof Uint8Array) || !Array.isArray(ends)) return
    let start = 0
    for (const end of ends) {
      // the peer is our own worker, but a bad message still must not read past the buffer
      if (typeof end !== 'number' || !(end >= start && end <= bytes.length)) return
      if (end - start > this.maxFrameBytes) {
        this.#gone(oversizeFrame(end - start, this.maxFrameBytes))
        this.#close()
        return
      }
      this.events.frame(bytes, start, end)
      if (this.#closed) return
      start = end
    }
  }

  send(buf: Uint8Array, start = 0, end = buf.length): boolean {
    if (this.#closed) return false
    const length = end - start
    if (this.#batchBytes + length > BATCH_BYTES) this.#flush()
    if (length > BATCH_BYTES) {
      this.#post(buf.slice(start, end), [length])
      return true
    }
    // a flush queued for a batch posted early finds this one instead: harmless
    if (this.#ends.length === 0) queueMicrotask(this.#flush)
    this.#batch.set(buf.subarray(start, end), this.#batchBytes)
    this.#batchBytes += length
    this.#ends.push(this.#batchBytes)
    return true
  }

  readonly #flush = (): void => {
    if (this.#ends.length === 0 || this.#closed) return
    const ends = this.#ends
    const bytes = this.#batch.slice(0, this.#batchBytes)
    this.#batchBytes = 0
    this.#ends = []
    this.#post(bytes, ends)
  }

  // `bytes` is the link's own copy: transferred, not cloned again
  #post(bytes: Uint8Array, ends: number[]): void {
    this.#port.postMessage([bytes, ends], [bytes.buffer as ArrayBuffer])
  }

  end(): void {
    this.#flush()
    this.destroy()
  }

  destroy(): void {
    if (this.#closed) return
    this.#close()
    // the port's 'close' (or the worker's 'exit') reports it; a port already gone reports now
    setImmediate(() => this.#gone(undefined))
  }

  #gone(err: TroupeError | undefined): void {
    if (this.#closed) return
    this.#closed = true
    this.#batchBytes = 0
    this.#ends = []
    this.events.closed(err)
  }
}
