/**
 * A FIFO of short byte strings in one circular buffer outside the JavaScript heap: each entry
 * is copied in behind a 2-byte length and copied out when it leaves. The manager's queue keeps
 * the payloads of waiting tasks here (`actors/task-queue.ts`): 100 000 of them cost half a
 * megabyte in one buffer, where a string or a Uint8Array each is an object the young-generation
 * GC copies and promotes (bench `queue.100k`).
 *
 * An entry may also be absent (`undefined`), which keeps its place in line like any other, so a
 * ring can run beside a queue of items of which only some have bytes. The buffer doubles when
 * full and never shrinks: it is bounded by twice the most bytes it ever held at once.
 */
const EMPTY = new Uint8Array(0)
const FIRST_CAPACITY = 256

export class ByteRing {
  /** The longest entry: its length + 1 must fit the 2-byte prefix (0 marks an absent entry). */
  static readonly MAX_ENTRY = 0xfffe

  #buf = EMPTY
  #head = 0
  // bytes in use, prefixes included
  #used = 0
  #count = 0

  /** Entries waiting, absent ones included. */
  get length(): number {
    return this.#count
  }

  /** Adds a copy of `bytes` (or an absent entry) at the tail. */
  push(bytes: Uint8Array | undefined): void {
    const n = this.#reserve(bytes)
    this.#put((this.#head + this.#used) & (this.#buf.length - 1), bytes)
    this.#used += n
    this.#count++
  }

  /** Adds a copy of `bytes` (or an absent entry) at the head. */
  unshift(bytes: Uint8Array | undefined): void {
    const n = this.#reserve(bytes)
    this.#head = (this.#head - n) & (this.#buf.length - 1)
    this.#put(this.#head, bytes)
    this.#used += n
    this.#count++
  }

  /** Removes the head entry and returns a copy of it: undefined when absent or when the ring is empty. */
  shift(): Uint8Array | undefined {
    if (this.#count === 0) return undefined
    const from = (this.#head + 2) & (this.#buf.length - 1)
    const prefix = this.#advance()
    if (prefix === 0) return undefined
    const out = new Uint8Array(prefix - 1)
    this.#copyOut(from, out)
    return out
  }

  /** Removes the head entry without copying it. */
  dropHead(): void {
    if (this.#count > 0) this.#advance()
  }

  /** Moves the head past its entry and returns the entry's prefix. */
  #advance(): number {
    const buf = this.#buf
    const mask = buf.length - 1
    const prefix = buf[this.#head]! | (buf[(this.#head + 1) & mask]! << 8)
    const n = 2 + (prefix === 0 ? 0 : prefix - 1)
    this.#head = (this.#head + n) & mask
    this.#used -= n
    this.#count--
    return prefix
  }

  /** Fills `into` with the bytes from `from` on, wrapping at the end of the buffer. */
  #copyOut(from: number, into: Uint8Array): void {
    const buf = this.#buf
    const first = Math.min(into.length, buf.length - from)
    into.set(buf.subarray(from, from + first))
    if (first < into.length) into.set(buf.subarray(0, into.length - first), first)
  }

  /** Writes the entry for `bytes` at `at`, wrapping at the end of the buffer. */
  #put(at: number, bytes: Uint8Array | undefined): void {
    const buf = this.#buf
    const mask = buf.length - 1
    const prefix = bytes === undefined ? 0 : bytes.length + 1
    buf[at] = prefix & 0xff
    buf[(at + 1) & mask] = prefix >>> 8
    if (bytes === undefined) return
    const from = (at + 2) & mask
    const first = Math.min(bytes.length, buf.length - from)
    buf.set(first === bytes.length ? bytes : bytes.subarray(0, first), from)
    if (first < bytes.length) buf.set(bytes.subarray(first), 0)
  }

  /** Makes room for the entry of `bytes` and returns its size. */
  #reserve(bytes: Uint8Array | undefined): number {
    const n = 2 + (bytes === undefined ? 0 : bytes.length)
    if (n - 2 > ByteRing.MAX_ENTRY) throw new RangeError(`a ByteRing entry holds at most ${ByteRing.MAX_ENTRY} bytes, not ${n - 2}`)
    if (this.#used + n <= this.#buf.length) return n
    let capacity = Math.max(FIRST_CAPACITY, this.#buf.length * 2)
    while (capacity < this.#used + n) capacity *= 2
    const next = new Uint8Array(capacity)
    this.#copyOut(this.#head, next.subarray(0, this.#used))
    this.#buf = next
    this.#head = 0
    return n
  }
}
