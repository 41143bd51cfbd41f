/**
 * A FIFO queue on a circular array, used for mailboxes and the manager's per-priority queues.
 * `Array#shift` is O(n) once an array leaves V8's fast path; this is O(1) per operation,
 * growing by doubling so the mask trick (`index & (capacity - 1)`) keeps working:
 *
 *     head                 head + length
 *      v                        v
 *   [  .  a  b  c  d  .  .  .  ]      capacity 8, mask 7
 *
 * The ring itself is unbounded; owners enforce their own limits (mailbox capacity, queueSize).
 */
export class RingBuffer<T> {
  #items: (T | undefined)[]
  #mask: number
  #head = 0
  #length = 0

  constructor(initialCapacity = 16) {
    let capacity = 2
    while (capacity < initialCapacity) capacity *= 2
    this.#items = new Array<T | undefined>(capacity)
    this.#mask = capacity - 1
  }

  get length(): number {
    return this.#length
  }

  /** Adds at the tail. */
  push(item: T): void {
    if (this.#length === this.#items.length) this.#grow()
    this.#items[(this.#head + this.#length) & this.#mask] = item
    this.#length++
  }

  /** Adds at the head (a task re-queued after its worker died goes first). */
  unshift(item: T): void {
    if (this.#length === this.#items.length) this.#grow()
    this.#head = (this.#head - 1) & this.#mask
    this.#items[this.#head] = item
    this.#length++
  }

  /** Removes and returns the head, or undefined when empty. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head] = undefined // let it be collected
    this.#head = (this.#head + 1) & this.#mask
    this.#length--
    return item
  }

  /** The head, left in place. */
  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head]
  }

  /** Keeps only the items `keep` accepts, in order; O(length). */
  retain(keep: (item: T) => boolean): void {
    const kept = new RingBuffer<T>(this.#length)
    for (let item = this.shift(); item !== undefined; item = this.shift()) if (keep(item)) kept.push(item)
    this.#items = kept.#items
    this.#mask = kept.#mask
    this.#head = kept.#head
    this.#length = kept.#length
  }

  /** Removes every item and returns them in order. */
  drain(): T[] {
    const out: T[] = []
    for (let item = this.shift(); item !== undefined; item = this.shift()) out.push(item)
    return out
  }

  #grow(): void {
    const old = this.#items
    const next = new Array<T | undefined>(old.length * 2)
    for (let i = 0; i < this.#length; i++) next[i] = old[(this.#head + i) & this.#mask]
    this.#items = next
    this.#mask = next.length - 1
    this.#head = 0
  }
}
