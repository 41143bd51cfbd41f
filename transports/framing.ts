/**
 * Length-prefixed frames on a byte stream: a 4-byte big-endian length, then that many bytes.
 *
 * `FrameReader` cuts a stream into frames whatever the chunking (a frame split at any byte,
 * a thousand frames in one chunk), refusing a length over the limit before allocating for it.
 * `FrameWriter` batches: every frame queued within one microtask, or up to FLUSH_BYTES, goes
 * out in one write, and it tracks the socket's own buffer for backpressure.
 *
 * Frames travel as byte ranges (`buf`, `start`, `end`) rather than views: a view costs ~50 ns
 * and 96 bytes, and there would be one per frame on each side (bench ask.tcp.c256).
 */
import { RingBuffer } from '../lib/ring.js'
import { oversizeFrame } from './link.js'

const PREFIX_BYTES = 4

export class FrameReader {
  /** Largest frame accepted; the connection lowers it until the peer has authenticated. */
  maxFrameBytes: number
  readonly #onFrame: (buf: Uint8Array, start: number, end: number) => void
  // a length prefix split across chunks
  readonly #prefix = new Uint8Array(PREFIX_BYTES)
  #prefixFill = 0
  // a frame split across chunks: allocated once its length is known, filled chunk by chunk
  #partial: Uint8Array | undefined
  #partialFill = 0

  constructor(maxFrameBytes: number, onFrame: (buf: Uint8Array, start: number, end: number) => void) {
    this.maxFrameBytes = maxFrameBytes
    this.#onFrame = onFrame
  }

  /**
   * Feeds the bytes `chunk[0, end)`. Whole frames inside them are delivered as ranges of `chunk`
   * (no copy).
   * @throws TroupeError `EFRAME` when a length prefix exceeds `maxFrameBytes`.
   */
  push(chunk: Uint8Array, end = chunk.length): void {
    let pos = 0
    while (pos < end) {
      if (this.#partial !== undefined) {
        const want = this.#partial.length - this.#partialFill
        const take = Math.min(want, end - pos)
        this.#partial.set(chunk.subarray(pos, pos + take), this.#partialFill)
        this.#partialFill += take
        pos += take
        if (this.#partialFill === this.#partial.length) {
          const frame = this.#partial
          this.#partial = undefined
          this.#onFrame(frame, 0, frame.length)
        }
        continue
      }
      let length: number
      if (this.#prefixFill === 0 && end - pos >= PREFIX_BYTES) {
        length = readLength(chunk, pos)
        pos += PREFIX_BYTES
      } else {
        while (this.#prefixFill < PREFIX_BYTES && pos < end) this.#prefix[this.#prefixFill++] = chunk[pos++] as number
        if (this.#prefixFill < PREFIX_BYTES) return
        this.#prefixFill = 0
        length = readLength(this.#prefix, 0)
      }
      if (length > this.maxFrameBytes) {
        throw oversizeFrame(length, this.maxFrameBytes)
      }
      if (end - pos >= length) {
        this.#onFrame(chunk, pos, pos + length)
        pos += length
      } else {
        this.#partial = new Uint8Array(length)
        this.#partialFill = 0
      }
    }
  }
}

function readLength(b: Uint8Array, at: number): number {
  return (b[at] as number) * 0x1000000 + (((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number))
}

/** The part of a socket the writer needs (net.Socket, tls.TLSSocket). */
export interface ByteStream {
  write(chunk: Uint8Array): boolean
  readonly writableLength: number
}

// A batch is written at once, before the end of the microtask, past FLUSH_BYTES (the nats.js
// client's threshold) or FLUSH_FRAMES. The frame bound splits a burst of small frames into a
// few writes, so the peer starts on the first part while this side still builds the rest:
// bench `ask.tcp.c256` measured ~300 k/s with whole-window writes, ~490 k/s at 64 frames
// (16: 365 k, 32: 458 k, 128: 462 k).
const FLUSH_BYTES = 32 * 1024
const FLUSH_FRAMES = 64
// A frame this large is written as is, after its prefix, rather than copied into a batch.
const DIRECT_BYTES = 16 * 1024
// The most the socket itself buffers; past it, writes wait here until it drains. Node hands a
// socket's whole buffer to the kernel as one write that completes only when all of it is sent, so
// a smaller socket buffer is what lets `pendingBytes` show a slow peer's progress.
const SOCKET_BUFFER_BYTES = 1024 * 1024

export class FrameWriter {
  readonly #stream: ByteStream
  readonly #highWaterBytes: number
  // Frames waiting for the end of the microtask, as ranges in three parallel arrays reused from
  // batch to batch; bounded by FLUSH_FRAMES and FLUSH_BYTES (flushed when reached).
  readonly #bufs: Uint8Array[] = []
  readonly #starts: number[] = []
  readonly #ends: number[] = []
  #queuedFrames = 0
  #queuedBytes = 0
  #scheduled = false
  #closed = false
  // written chunks waiting for the socket to drain (see SOCKET_BUFFER_BYTES)
  readonly #held = new RingBuffer<Uint8Array>()
  #heldBytes = 0

  constructor(stream: ByteStream, highWaterBytes: number) {
    this.#stream = stream
    this.#highWaterBytes = highWaterBytes
  }

  /** Bytes not yet handed to the kernel: our batch, what waits for the socket, and its buffer. */
  get pendingBytes(): number {
    return this.#queuedBytes + this.#heldBytes + this.#stream.writableLength
  }

  /**
   * Queues the frame in bytes [start, end) of `buf`, which must not change until it is written
   * (the end of the microtask at the latest). False once past the high-water mark (the frame is
   * still sent).
   */
  push(buf: Uint8Array, start = 0, end = buf.length): boolean {
    if (this.#closed) return false
    const length = end - start
    if (length >= DIRECT_BYTES) {
      this.flush()
      const prefix = new Uint8Array(PREFIX_BYTES)
      writeLength(prefix, 0, length)
      this.#write(prefix)
      this.#write(start === 0 && end === buf.length ? buf : buf.subarray(start, end))
      return this.pendingBytes < this.#highWaterBytes
    }
    const n = this.#queuedFrames++
    this.#bufs[n] = buf
    this.#starts[n] = start
    this.#ends[n] = end
    this.#queuedBytes += length + PREFIX_BYTES
    if (this.#queuedBytes >= FLUSH_BYTES || this.#queuedFrames >= FLUSH_FRAMES) this.flush()
    else if (!this.#scheduled) {
      this.#scheduled = true
      queueMicrotask(this.flush)
    }
    return this.pendingBytes < this.#highWaterBytes
  }

  /** Writes every queued frame in one chunk. Bound once so it can be queued as a microtask. */
  readonly flush = (): void => {
    this.#scheduled = false
    const count = this.#queuedFrames
    if (count === 0 || this.#closed) return
    const out = Buffer.allocUnsafe(this.#queuedBytes)
    let pos = 0
    for (let i = 0; i < count; i++) {
      const buf = this.#bufs[i] as Uint8Array
      const start = this.#starts[i] as number
      const end = this.#ends[i] as number
      writeLength(out, pos, end - start)
      pos += PREFIX_BYTES
      // a loop beats TypedArray#set (and the subarray it needs) for the small frames of most asks
      if (end - start <= 64) for (let j = start; j < end; j++) out[pos++] = buf[j] as number
      else {
        out.set(buf.subarray(start, end), pos)
        pos += end - start
      }
      this.#bufs[i] = EMPTY // let the frame's buffer be collected
    }
    this.#queuedFrames = 0
    this.#queuedBytes = 0
    this.#write(out)
  }

  #write(chunk: Uint8Array): void {
    if (this.#heldBytes === 0 && this.#stream.writableLength < SOCKET_BUFFER_BYTES) this.#stream.write(chunk)
    else {
      this.#held.push(chunk)
      this.#heldBytes += chunk.length
    }
  }

  /**
   * Gives the socket what waits for it, up to its share; call on its 'drain'. With `all`, gives
   * it everything (before ending the stream).
   */
  writeHeld(all = false): void {
    while (this.#held.length > 0 && (all || this.#stream.writableLength < SOCKET_BUFFER_BYTES)) {
      const chunk = this.#held.shift() as Uint8Array
      this.#heldBytes -= chunk.length
      this.#stream.write(chunk)
    }
  }

  /** Drops what is queued and refuses more (the stream is being destroyed). */
  discard(): void {
    this.#closed = true
    this.#bufs.fill(EMPTY, 0, this.#queuedFrames)
    this.#queuedFrames = 0
    this.#queuedBytes = 0
    this.#held.drain()
    this.#heldBytes = 0
  }
}

const EMPTY = new Uint8Array(0)

function writeLength(b: Uint8Array, at: number, n: number): void {
  b[at] = n >>> 24
  b[at + 1] = (n >>> 16) & 0xff
  b[at + 2] = (n >>> 8) & 0xff
  b[at + 3] = n & 0xff
}

/** One frame with its prefix, for tests and raw peers. */
export function frameBytes(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(PREFIX_BYTES + frame.length)
  writeLength(out, 0, frame.length)
  out.set(frame, PREFIX_BYTES)
  return out
}
