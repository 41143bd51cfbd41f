/**
 * All time in Troupe comes from a `Clock`, so tests can drive deadlines by hand
 * (`clock.advance(5000)`) instead of sleeping.
 */

/**
 * The longest delay a Node timer takes (about 24.8 days); a longer one would fire at once.
 * Duration options stop there, and the clock caps delays from the wire to it.
 */
export const MAX_DELAY_MS = 2 ** 31 - 1

/** An opaque handle for a scheduled callback. */
export type Timer = { readonly __timer: true }

/** Where time and timers come from. */
export interface Clock {
  /** Milliseconds on a monotonic scale (only differences mean anything). */
  now(): number
  /**
   * Calls `fn` once after `delayMs`. A `background` timer does not keep the process alive
   * (heartbeats, housekeeping); a deadline someone awaits does.
   */
  setTimer(delayMs: number, fn: () => void, background?: boolean): Timer
  clearTimer(timer: Timer | undefined): void
}

/** The real clock: `performance.now()` and Node timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(delayMs, fn, background = false) {
    const handle = setTimeout(fn, Math.min(delayMs, MAX_DELAY_MS))
    if (background) handle.unref()
    return handle as unknown as Timer
  },
  clearTimer(timer) {
    if (timer !== undefined) clearTimeout(timer as unknown as NodeJS.Timeout)
  },
}

interface ManualTimer { at: number; seq: number; fn: () => void }

/** A clock that moves only when told to; timers fire in deadline order during `advance()`. */
export class ManualClock implements Clock {
  #now = 0
  #seq = 0
  readonly #timers = new Set<ManualTimer>()

  now(): number {
    return this.#now
  }

  setTimer(delayMs: number, fn: () => void): Timer {
    const timer: ManualTimer = { at: this.#now + Math.max(0, delayMs), seq: this.#seq++, fn }
    this.#timers.add(timer)
    return timer as unknown as Timer
  }

  clearTimer(timer: Timer | undefined): void {
    if (timer !== undefined) this.#timers.delete(timer as unknown as ManualTimer)
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, earliest first. */
  advance(ms: number): void {
    const end = this.#now + ms
    for (;;) {
      let next: ManualTimer | undefined
      for (const t of this.#timers) {
        if (t.at <= end && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t
      }
      if (next === undefined) break
      this.#timers.delete(next)
      this.#now = next.at
      next.fn()
    }
    this.#now = end
  }

  /** How many timers are scheduled (lets tests assert that nothing was left behind). */
  get pending(): number {
    return this.#timers.size
  }
}
