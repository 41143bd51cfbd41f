/**
 * A minimal CBOR (RFC 8949) writer and reader for envelope headers: unsigned and negative
 * integers, float64, text, byte strings, booleans, null, and definite-length arrays.
 *
 * Why not cbor-x here: envelopes carry an already-encoded payload as a byte string, and cbor-x
 * spends ~0.5 µs per byte string on the way out (measured in bench/codec.ts, `envelope.encode`
 * vs `cbor-x.encode`); this writer does the whole envelope in ~0.15 µs. The output is plain
 * CBOR that any decoder reads. The reader is strict: it accepts only these shapes, bounds-checks
 * every read, and throws `CborError` on anything else, which callers turn into `EPROTO`.
 */

/** A malformed or unexpected CBOR item. */
export class CborError extends Error {
  override readonly name = 'CborError'
}

const MAJOR_UINT = 0x00
const MAJOR_NEGINT = 0x20
const MAJOR_BYTES = 0x40
const MAJOR_TEXT = 0x60
const MAJOR_ARRAY = 0x80
const SIMPLE_FALSE = 0xf4
const SIMPLE_TRUE = 0xf5
const SIMPLE_NULL = 0xf6
const SIMPLE_UNDEFINED = 0xf7
const FLOAT64 = 0xfb
// float64s are read through one 8-byte scratch rather than a DataView per value (Done.ms on every task)
const FLOAT_BYTES = new Uint8Array(8)
const FLOAT_VIEW = new DataView(FLOAT_BYTES.buffer)

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })

// Output goes into 64 KiB slabs and is handed out as views. A slab region is never written
// twice (a full slab is replaced, not rewound), so a view stays valid while a transport holds
// it in its write queue.
const SLAB_BYTES = 64 * 1024

/** Bytes [start, end) of `buf`: a frame or payload passed along without a view of its own. */
export interface ByteRange {
  readonly buf: Uint8Array
  readonly start: number
  readonly end: number
}

/**
 * Writes one CBOR item sequence at a time into a shared slab: `begin()`, items, then either
 * `view()` or the range itself (`buf`, `start`, `end`) for a caller that copies the bytes at once.
 * Each item makes room for itself first; when the slab is full, the item sequence written so
 * far moves to a new slab.
 */
export class CborWriter implements ByteRange {
  #buf = new Uint8Array(SLAB_BYTES)
  #view = new DataView(this.#buf.buffer)
  #pos = 0
  #start = 0

  begin(): void {
    this.#start = this.#pos
  }

  /** The slab holding the bytes written since `begin()`; never overwritten later. */
  get buf(): Uint8Array {
    return this.#buf
  }

  get start(): number {
    return this.#start
  }

  get end(): number {
    return this.#pos
  }

  /** The bytes written since `begin()`, as a view that is never overwritten. */
  view(): Uint8Array {
    return new Uint8Array(this.#buf.buffer, this.#start, this.#pos - this.#start)
  }

  #room(bytes: number): void {
    if (this.#pos + bytes <= this.#buf.length) return
    const written = this.#buf.subarray(this.#start, this.#pos)
    const next = new Uint8Array(Math.max(SLAB_BYTES, written.length + bytes))
    next.set(written)
    this.#buf = next
    this.#view = new DataView(next.buffer)
    this.#start = 0
    this.#pos = written.length
  }

  #head(major: number, n: number): void {
    this.#room(9)
    const b = this.#buf
    if (n < 24) {
      b[this.#pos++] = major | n
    } else if (n < 0x100) {
      b[this.#pos++] = major | 24
      b[this.#pos++] = n
    } else if (n < 0x10000) {
      b[this.#pos++] = major | 25
      this.#view.setUint16(this.#pos, n)
      this.#pos += 2
    } else if (n <= 0xffffffff) {
      b[this.#pos++] = major | 26
      this.#view.setUint32(this.#pos, n)
      this.#pos += 4
    } else {
      b[this.#pos++] = major | 27
      this.#view.setUint32(this.#pos, Math.floor(n / 0x100000000))
      this.#view.setUint32(this.#pos + 4, n >>> 0)
      this.#pos += 8
    }
  }

  array(length: number): void {
    this.#head(MAJOR_ARRAY, length)
  }

  /** A safe integer as a CBOR integer, anything else as a float64. */
  number(n: number): void {
    if (Number.isSafeInteger(n)) {
      if (n >= 0) this.#head(MAJOR_UINT, n)
      else this.#head(MAJOR_NEGINT, -1 - n)
      return
    }
    this.#room(9)
    this.#buf[this.#pos++] = FLOAT64
    this.#view.setFloat64(this.#pos, n)
    this.#pos += 8
  }

  // text() and bytesOf() check their input before moving the write position: an item of the
  // wrong type (a number where text belongs) would leave it NaN for every later frame
  text(s: string): void {
    if (typeof s !== 'string') throw new CborError(`expected a string, got ${typeof s}`)
    const n = s.length
    this.#room(9 + n * 3)
    // ASCII is written by hand (names and ids, the usual case); anything else by TextEncoder
    // after a worst-case head, moved down if the string turned out shorter.
    let ascii = true
    for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) { ascii = false; break }
    if (ascii) {
      this.#head(MAJOR_TEXT, n)
      const b = this.#buf
      const p = this.#pos
      for (let i = 0; i < n; i++) b[p + i] = s.charCodeAt(i)
      this.#pos += n
      return
    }
    const bytes = textEncoder.encode(s)
    this.#head(MAJOR_TEXT, bytes.length)
    this.#buf.set(bytes, this.#pos)
    this.#pos += bytes.length
  }

  bytes(data: Uint8Array): void {
    this.bytesOf(data, 0, data.byteLength)
  }

  /** A byte string holding bytes [start, end) of `src`. */
  bytesOf(src: Uint8Array, start: number, end: number): void {
    const n = end - start
    if (!(n >= 0)) throw new CborError(`expected a byte range, got ${start}..${end}`)
    this.#room(9 + n)
    this.#head(MAJOR_BYTES, n)
    const b = this.#buf
    const p = this.#pos
    // TypedArray#set (and the subarray it needs) has a fixed cost that dominates for the short
    // payloads most tasks carry
    if (n <= 64) for (let i = 0; i < n; i++) b[p + i] = src[start + i] as number
    else b.set(src.subarray(start, end), p)
    this.#pos += n
  }

  boolean(v: boolean): void {
    this.#room(1)
    this.#buf[this.#pos++] = v ? SIMPLE_TRUE : SIMPLE_FALSE
  }

  null(): void {
    this.#room(1)
    this.#buf[this.#pos++] = SIMPLE_NULL
  }
}

/** How deep {@link CborReader.skip} follows nested arrays and maps before giving up. */
const MAX_SKIP_DEPTH = 16

/** Reads CBOR items from one frame; every method throws `CborError` on bad or short input. */
export class CborReader {
  buf: Uint8Array
  pos: number
  end: number

  constructor(buf: Uint8Array = new Uint8Array(0), pos = 0, end = buf.length) {
    this.buf = buf
    this.pos = pos
    this.end = end
  }

  /** Points the reader at bytes [start, end) of `buf` (one reader serves every frame: no allocation per frame). */
  reset(buf: Uint8Array, start = 0, end = buf.length): void {
    this.buf = buf
    this.pos = start
    this.end = end
  }

  get done(): boolean {
    return this.pos >= this.end
  }

  /** Major type (top three bits) of the next item, without consuming it. */
  peekMajor(): number {
    if (this.pos >= this.end) throw new CborError('unexpected end of frame')
    return (this.buf[this.pos] as number) & 0xe0
  }

  /** True, and consumed, when the next item is null or undefined (an absent optional field). */
  nil(): boolean {
    const b = this.buf[this.pos]
    if (b === SIMPLE_NULL || b === SIMPLE_UNDEFINED) {
      this.pos++
      return true
    }
    return false
  }

  /** Reads a head of the given major type and returns its argument. */
  head(major: number): number {
    if (this.pos >= this.end) throw new CborError('unexpected end of frame')
    const first = this.buf[this.pos++] as number
    if ((first & 0xe0) !== major) throw new CborError(`expected major type ${major >> 5}, got ${first >> 5}`)
    return this.argument(first & 0x1f)
  }

  private argument(info: number): number {
    if (info < 24) return info
    const b = this.buf
    const p = this.pos
    switch (info) {
      case 24:
        this.need(1)
        this.pos += 1
        return b[p] as number
      case 25:
        this.need(2)
        this.pos += 2
        return ((b[p] as number) << 8) | (b[p + 1] as number)
      case 26:
        this.need(4)
        this.pos += 4
        return (b[p] as number) * 0x1000000 + (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number))
      case 27: {
        this.need(8)
        this.pos += 8
        const hi = (b[p] as number) * 0x1000000 + (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number))
        const lo = (b[p + 4] as number) * 0x1000000 + (((b[p + 5] as number) << 16) | ((b[p + 6] as number) << 8) | (b[p + 7] as number))
        const n = hi * 0x100000000 + lo
        if (!Number.isSafeInteger(n)) throw new CborError('integer beyond 2^53')
        return n
      }
      default:
        throw new CborError(`unsupported additional info ${info}`)
    }
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new CborError('unexpected end of frame')
  }

  array(): number {
    return this.head(MAJOR_ARRAY)
  }

  uint(): number {
    return this.head(MAJOR_UINT)
  }

  /** An integer of either sign, or a float64. */
  number(): number {
    if (this.pos >= this.end) throw new CborError('unexpected end of frame')
    const first = this.buf[this.pos] as number
    if (first === FLOAT64) {
      this.pos++
      this.need(8)
      const b = this.buf
      for (let i = 0; i < 8; i++) FLOAT_BYTES[i] = b[this.pos + i] as number
      this.pos += 8
      return FLOAT_VIEW.getFloat64(0)
    }
    if ((first & 0xe0) === MAJOR_NEGINT) return -1 - this.head(MAJOR_NEGINT)
    return this.head(MAJOR_UINT)
  }

  text(): string {
    const n = this.head(MAJOR_TEXT)
    this.need(n)
    const start = this.pos
    this.pos += n
    const b = this.buf
    if (n <= SHORT_TEXT_BYTES) return shortText(b, start, n)
    return decodeUtf8(b, start, start + n)
  }

  /** A view into the frame, not a copy. */
  bytes(): Uint8Array {
    const n = this.head(MAJOR_BYTES)
    this.need(n)
    const start = this.pos
    this.pos += n
    // the constructor, not subarray(): Buffer's subarray goes through a species lookup that
    // costs more than the rest of an envelope decode
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset + start, n)
  }

  boolean(): boolean {
    const b = this.buf[this.pos]
    if (b === SIMPLE_TRUE || b === SIMPLE_FALSE) {
      this.pos++
      return b === SIMPLE_TRUE
    }
    throw new CborError('expected a boolean')
  }

  /** Steps over one well-formed item of any type (fields a newer peer added). */
  skip(depth = 0): void {
    if (depth > MAX_SKIP_DEPTH) throw new CborError('nesting too deep')
    if (this.pos >= this.end) throw new CborError('unexpected end of frame')
    const first = this.buf[this.pos++] as number
    const major = first & 0xe0
    const info = first & 0x1f
    if (major === 0xe0) {
      // simple values and floats: 24 → 1 byte, 25/26/27 → 2/4/8 bytes
      const extra = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : info < 24 ? 0 : -1
      if (extra < 0) throw new CborError('indefinite or reserved item')
      this.need(extra)
      this.pos += extra
      return
    }
    const n = this.argument(info)
    if (major === MAJOR_BYTES || major === MAJOR_TEXT) {
      this.need(n)
      this.pos += n
    } else if (major === MAJOR_ARRAY || major === 0xa0) {
      const items = major === MAJOR_ARRAY ? n : n * 2
      if (items > this.end - this.pos) throw new CborError('container longer than the frame')
      for (let i = 0; i < items; i++) this.skip(depth + 1)
    } else if (major === 0xc0) {
      this.skip(depth + 1)
    }
  }
}

// Short ASCII strings (task and actor names, error codes, node ids) come back from a small
// direct-mapped cache: the same name arrives in every frame, and a hit costs a hash and a
// compare instead of building a string, and hands out one shared copy rather than one per
// queued task (bench queue.100k: 100 000 copies of a task's name were ~2.4 MB).
const SHORT_TEXT_BYTES = 32
const TEXT_CACHE_SLOTS = 256 // a power of two; the cache never holds more than this many strings
const textCache: (string | undefined)[] = new Array<string | undefined>(TEXT_CACHE_SLOTS).fill(undefined)

function shortText(b: Uint8Array, start: number, n: number): string {
  const end = start + n
  let h = n
  for (let i = start; i < end; i++) {
    const c = b[i] as number
    if (c > 0x7f) return decodeUtf8(b, start, end)
    h = Math.imul(h ^ c, 0x01000193)
  }
  const slot = (h ^ (h >>> 16)) & (TEXT_CACHE_SLOTS - 1)
  const cached = textCache[slot]
  if (cached !== undefined && cached.length === n) {
    let same = true
    for (let i = 0; i < n; i++) {
      if (cached.charCodeAt(i) !== b[start + i]) {
        same = false
        break
      }
    }
    if (same) return cached
  }
  // one call makes a flat string (concatenation would leave a rope in the cache)
  // (a view by the constructor, not subarray(): see bytes())
  const s = String.fromCharCode.apply(null, new Uint8Array(b.buffer, b.byteOffset + start, n) as unknown as number[])
  textCache[slot] = s
  return s
}

function decodeUtf8(b: Uint8Array, start: number, end: number): string {
  try {
    return textDecoder.decode(b.subarray(start, end))
  } catch {
    throw new CborError('invalid UTF-8 in text string')
  }
}
