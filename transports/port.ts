/**
 * A `Link` over a worker_threads MessagePort (a pool's thread workers). Frames queued in one
 * microtask are posted as one message, as the socket writer batches them into one write.
 */
import { TroupeError } from '../lib/errors.js'
import { NO_LISTENER, oversizeFrame, type Link, type LinkEvents } from './link.js'

/** The part of a Worker or of `parentPort` the link uses. */
export interface PortEndpoint {
  postMessage(message: unknown): void
  on(event: 'message', listener: (message: unknown) => void): unknown
  on(event: 'close' | 'exit', listener: () => void): unknown
}

export class PortLink implements Link {
  readonly remoteAddress: string
  events: LinkEvents = NO_LISTENER
  readonly unsentBytes = 0 // the peer takes every frame on its next turn
  maxFrameBytes = Number.MAX_SAFE_INTEGER
  readonly #port: PortEndpoint
  readonly #close: () => void
  // frames for the next post; emptied every microtask
  #queued: Uint8Array[] = []
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
    for (const frame of message) {
      if (!(frame instanceof Uint8Array)) continue
      if (frame.length > this.maxFrameBytes) {
        this.#gone(oversizeFrame(frame.length, this.maxFrameBytes))
        this.#close()
        return
      }
      this.events.frame(frame, 0, frame.length)
      if (this.#closed) return
    }
  }

  send(buf: Uint8Array, start = 0, end = buf.length): boolean {
    if (this.#closed) return false
    // copied: the frame is a range of a shared slab, and posting it whole would copy the slab
    this.#queued.push(buf.slice(start, end))
    if (this.#queued.length === 1) queueMicrotask(this.#flush)
    return true
  }

  readonly #flush = (): void => {
    if (this.#queued.length === 0 || this.#closed) return
    const frames = this.#queued
    this.#queued = []
    this.#port.postMessage(frames)
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
    this.#queued = []
    this.events.closed(err)
  }
}
