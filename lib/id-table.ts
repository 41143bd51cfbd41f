/**
 * A table of values by integer id, for requests in flight (our asks, a peer's asks), where ids
 * are mostly sequential and each entry lives a short while.
 *
 * Why not a `Map`: V8 rehashes a `Map` that sees many deletes into a new table and links the old
 * table to the new one. Once one table of a long-lived, churning `Map` reaches the old
 * generation, every later table and every entry they held stays reachable from it until the next
 * full GC, so the young-generation GC copies and promotes them all. Over tcp:// at 256 asks in
 * flight the client promoted ~1.1 MB per scavenge (promotion rate ~95%, `--trace-gc-nvp`) and
 * scavenges took ~12% of its time; with this table it promotes ~0.2 MB (bench `ask.mem.c256`
 * 430 k → 520 k/s, see the commit that added it).
 *
 * An entry lives in slot `id & mask` (sequential ids fill slots in turn). An id whose slot is
 * held by an older entry that is still waiting goes to a small overflow `Map` instead, so any
 * id pattern works; it only loses the fast path. The table doubles when half full and never
 * shrinks: its size is bounded by twice the most entries it ever held at once.
 */
const INITIAL_SLOTS = 64

export class IdTable<T> {
  #ids: Float64Array
  #values: (T | undefined)[]
  #mask: number
  #inSlots = 0
  // ids whose slot was taken; normally empty (null until first needed)
  #overflow: Map<number, T> | null = null

  constructor(initialSlots = INITIAL_SLOTS) {
    let slots = 2
    while (slots < initialSlots) slots *= 2
    this.#ids = new Float64Array(slots)
    this.#values = new Array<T | undefined>(slots).fill(undefined)
    this.#mask = slots - 1
  }

  get size(): number {
    return this.#inSlots + (this.#overflow?.size ?? 0)
  }

  /** Adds or replaces the entry for `id`. `value` must not be undefined. */
  set(id: number, value: T): void {
    const i = id & this.#mask
    const held = this.#values[i]
    if (held === undefined) {
      this.#ids[i] = id
      this.#values[i] = value
      if (++this.#inSlots > this.#values.length >> 1) this.#grow()
      return
    }
    if (this.#ids[i] === id) this.#values[i] = value
    else (this.#overflow ??= new Map()).set(id, value)
  }

  get(id: number): T | undefined {
    const i = id & this.#mask
    if (this.#ids[i] === id) {
      const value = this.#values[i]
      if (value !== undefined) return value
    }
    return this.#overflow === null ? undefined : this.#overflow.get(id)
  }

  has(id: number): boolean {
    return this.get(id) !== undefined
  }

  /** Removes the entry for `id` and returns it (undefined when there was none). */
  take(id: number): T | undefined {
    const i = id & this.#mask
    if (this.#ids[i] === id) {
      const value = this.#values[i]
      if (value !== undefined) {
        this.#values[i] = undefined
        this.#inSlots--
        return value
      }
    }
    if (this.#overflow === null) return undefined
    const value = this.#overflow.get(id)
    if (value !== undefined) this.#overflow.delete(id)
    return value
  }

  /** Every id, in no particular order (a copy: safe to delete while iterating). */
  ids(): number[] {
    const out: number[] = []
    for (let i = 0; i < this.#values.length; i++) if (this.#values[i] !== undefined) out.push(this.#ids[i] as number)
    if (this.#overflow !== null) out.push(...this.#overflow.keys())
    return out
  }

  /** Removes every entry and returns them. */
  drain(): T[] {
    const out: T[] = []
    for (const id of this.ids()) out.push(this.take(id) as T)
    return out
  }

  #grow(): void {
    const ids = this.#ids
    const values = this.#values
    const overflow = this.#overflow
    const slots = values.length * 2
    this.#ids = new Float64Array(slots)
    this.#values = new Array<T | undefined>(slots).fill(undefined)
    this.#mask = slots - 1
    this.#inSlots = 0
    this.#overflow = null
    for (let i = 0; i < values.length; i++) {
      const value = values[i]
      if (value !== undefined) this.set(ids[i] as number, value)
    }
    if (overflow !== null) for (const [id, value] of overflow) this.set(id, value)
  }
}
