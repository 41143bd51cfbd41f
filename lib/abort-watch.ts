/**
 * One 'abort' listener per signal, however many calls wait on it. Cancelling a batch of calls
 * with one AbortController is ordinary use, but Node warns of a leak once an AbortSignal has more
 * than 10 listeners, and adding and removing one per call costs more than a Set does.
 */

export class AbortWatch<T> {
  readonly #onAbort: (item: T, signal: AbortSignal) => void
  // bounded by the calls waiting: an entry goes when its last call ends or its signal fires
  readonly #watched = new Map<AbortSignal, { items: Set<T>; listener: () => void }>()

  /** `onAbort` runs once for each item still watched when its signal aborts. */
  constructor(onAbort: (item: T, signal: AbortSignal) => void) {
    this.#onAbort = onAbort
  }

  /** Watches `signal` for `item`. The caller has checked that it has not aborted yet. */
  add(signal: AbortSignal, item: T): void {
    const entry = this.#watched.get(signal)
    if (entry !== undefined) {
      entry.items.add(item)
      return
    }
    const created = {
      items: new Set([item]),
      listener: (): void => {
        this.#watched.delete(signal) // first: each onAbort ends its call, which calls delete()
        for (const waiting of created.items) this.#onAbort(waiting, signal)
      },
    }
    this.#watched.set(signal, created)
    signal.addEventListener('abort', created.listener, { once: true })
  }

  /** Stops watching `signal` for `item` (it ended some other way). */
  delete(signal: AbortSignal, item: T): void {
    const entry = this.#watched.get(signal)
    if (entry === undefined || !entry.items.delete(item) || entry.items.size > 0) return
    this.#watched.delete(signal)
    signal.removeEventListener('abort', entry.listener)
  }
}
