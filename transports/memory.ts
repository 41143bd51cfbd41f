/**
 * `mem://name`: connections between systems in one process. Frames are the same encoded bytes
 * as on a socket, delivered in batches on the next turn of the event loop, with the same
 * high-water mark and frame limit, so a unit test over mem:// means what it says about TCP.
 */
import { TroupeError } from '../lib/errors.js'
import { NO_LISTENER, oversizeFrame, type Link, type LinkEvents } from './link.js'
import { HIGH_WATER_BYTES } from './stream-link.js'

/** One end of an in-memory pair. */
export class MemoryLink implements Link {
  readonly remoteAddress: string
  events: LinkEvents = NO_LISTENER
  readonly unsentBytes = 0 // the peer takes every frame on its next turn
  maxFrameBytes = Number.MAX_SAFE_INTEGER
  #peer: MemoryLink | undefined
  // frames the peer sent us, not yet delivered; bounded in practice by the sender's
  // backpressure (send() returns false past HIGH_WATER_BYTES) and emptied every event-loop turn
  #inbox: Uint8Array[] = []
  #inboxBytes = 0
  #scheduled = false
  #senderCongested = false
  #ending = false
  #closed = false

  private constructor(remoteAddress: string) {
    this.remoteAddress = remoteAddress
  }

  /** Two connected ends. */
  static pair(dialerAddress: string, listenerAddress: string): [dialer: MemoryLink, listener: MemoryLink] {
    const dialer = new MemoryLink(listenerAddress)
    const listener = new MemoryLink(dialerAddress)
    dialer.#peer = listener
    listener.#peer = dialer
    return [dialer, listener]
  }

  send(buf: Uint8Array, start = 0, end = buf.length): boolean {
    const peer = this.#peer
    if (peer === undefined || this.#ending) return false
    // the bytes stay put (Link.send), so a view of them can wait for the next turn
    peer.#inbox.push(start === 0 && end === buf.length ? buf : new Uint8Array(buf.buffer, buf.byteOffset + start, end - start))
    peer.#inboxBytes += end - start
    peer.#schedule()
    if (peer.#inboxBytes < HIGH_WATER_BYTES) return true
    peer.#senderCongested = true
    return false
  }

  #schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    // setImmediate, not a microtask: a ping-pong of asks over mem:// must still let timers
    // and I/O run, as it would over a socket
    setImmediate(this.#deliver)
  }

  readonly #deliver = (): void => {
    this.#scheduled = false
    const frames = this.#inbox
    this.#inbox = []
    this.#inboxBytes = 0
    for (const frame of frames) {
      if (this.#closed) return
      if (frame.length > this.maxFrameBytes) {
        this.#hangUp(oversizeFrame(frame.length, this.maxFrameBytes))
        return
      }
      this.events.frame(frame, 0, frame.length)
    }
    if (this.#senderCongested) {
      this.#senderCongested = false
      this.#peer?.events.drain()
    }
    const peer = this.#peer
    if (peer !== undefined && peer.#ending) peer.#hangUp(undefined)
  }

  end(): void {
    if (this.#ending || this.#closed) return
    this.#ending = true
    // the peer hangs up after delivering what we queued, as a socket flushes before FIN
    const peer = this.#peer
    if (peer === undefined || peer.#closed) this.#hangUp(undefined)
    else peer.#schedule()
  }

  destroy(): void {
    this.#hangUp(undefined)
  }

  /** Closes both ends: this one with `err`, the peer as closed by its peer. */
  #hangUp(err: TroupeError | undefined): void {
    if (this.#closed) return
    this.#closed = true
    this.#inbox = []
    const peer = this.#peer
    this.#peer = undefined
    setImmediate(() => this.events.closed(err))
    if (peer !== undefined && !peer.#closed) {
      peer.#peer = undefined
      peer.#closed = true
      peer.#inbox = []
      setImmediate(() => peer.events.closed(undefined))
    }
  }
}

/** Listeners by name, one registry per process. */
const listeners = new Map<string, (link: MemoryLink) => void>()
let nextDialer = 1

/** Registers `name`; new links are handed to `accept`. */
export function listenMemory(name: string, accept: (link: MemoryLink) => void): () => void {
  if (listeners.has(name)) throw new TroupeError('ECONFIG', `mem://${name} is already listening`)
  listeners.set(name, accept)
  return () => {
    listeners.delete(name)
  }
}

/** Connects to the listener registered as `name`. */
export function dialMemory(name: string): MemoryLink {
  const accept = listeners.get(name)
  if (accept === undefined) throw new TroupeError('ECLOSED', `nothing listens on mem://${name}`)
  const [dialer, listener] = MemoryLink.pair(`mem://${name}#${nextDialer++}`, `mem://${name}`)
  accept(listener)
  return dialer
}
