/**
 * The requests a node is waiting on, by integer id. `settle()` is the only way out, so each
 * request ends exactly once: with its answer, a failure, its deadline (`ECSTO`), its abort
 * signal (`EABORT`), or `rejectAll()` when the connection or system closes (`ECLOSED`).
 */
import { AbortWatch } from './abort-watch.js'
import type { Clock, Timer } from './clock.js'
import { TroupeError } from './errors.js'
import { IdTable } from './id-table.js'

/** Called when a request ends on the asker's side first, so the other side can stop work. */
export type GiveUp = (id: number, why: TroupeError) => void

interface Pending {
  resolve(value: unknown): void
  reject(err: TroupeError): void
  timer: Timer | undefined
  signal: AbortSignal | undefined
  giveUp: GiveUp | undefined
}

// `open()` takes the resolving functions out of the Promise constructor through this one
// function rather than a closure per request (STYLE §7; bench ask.tcp.c256)
let openedResolve: (value: unknown) => void = () => {}
let openedReject: (err: TroupeError) => void = () => {}
function capture(resolve: (value: unknown) => void, reject: (err: TroupeError) => void): void {
  openedResolve = resolve
  openedReject = reject
}

export class PendingAsks {
  readonly #clock: Clock
  // not a Map: see id-table.ts (bench ask.tcp.c256)
  readonly #pending = new IdTable<Pending>()
  readonly #aborts = new AbortWatch<number>((id, signal) => {
    const giveUp = this.#pending.get(id)?.giveUp
    const err = new TroupeError('EABORT', 'aborted by the caller', { cause: signal.reason })
    if (this.settle(id, err)) giveUp?.(id, err)
  })
  #nextId = 1
  /** Answers that arrived after their request had already settled; dropped, counted here. */
  lateReplies = 0

  constructor(clock: Clock) {
    this.#clock = clock
  }

  get size(): number {
    return this.#pending.size
  }

  /** The id the next `add()` or `open()` registers. */
  get nextId(): number {
    return this.#nextId
  }

  /** Registers a request under `nextId`, as `add()` does, and returns the promise it settles. */
  open(timeoutMs?: number, signal?: AbortSignal, giveUp?: GiveUp): Promise<unknown> {
    const promise = new Promise(capture)
    this.add(openedResolve, openedReject, timeoutMs, signal, giveUp)
    return promise
  }

  /**
   * Registers a request and returns its id. `timeoutMs` and `signal` bound it; `giveUp` is told
   * when either ends it. The caller checks `signal.aborted` first, so an already-aborted request
   * is never sent. (Positional rather than an options object: this runs for every ask.)
   */
  add(
    resolve: (value: unknown) => void,
    reject: (err: TroupeError) => void,
    timeoutMs?: number,
    signal?: AbortSignal,
    giveUp?: GiveUp,
  ): number {
    const id = this.#nextId++
    const entry: Pending = { resolve, reject, timer: undefined, signal, giveUp }
    if (timeoutMs !== undefined) {
      entry.timer = this.#clock.setTimer(timeoutMs, () => {
        const err = new TroupeError('ECSTO', `no answer within ${timeoutMs} ms`)
        if (this.settle(id, err)) giveUp?.(id, err)
      })
    }
    if (signal !== undefined) this.#aborts.add(signal, id)
    this.#pending.set(id, entry)
    return id
  }

  /** True while `id` waits. */
  has(id: number): boolean {
    return this.#pending.has(id)
  }

  /**
   * Ends request `id` with `err`, or with `value` when `err` is null. Returns false (and counts
   * a late reply) when it had already ended.
   */
  settle(id: number, err: TroupeError | null, value?: unknown): boolean {
    const p = this.#pending.take(id)
    if (p === undefined) {
      this.lateReplies++
      return false
    }
    this.#clock.clearTimer(p.timer)
    if (p.signal !== undefined) this.#aborts.delete(p.signal, id)
    if (err === null) p.resolve(value)
    else p.reject(err)
    return true
  }

  /** Ends every waiting request with `err` (connection or system closed). */
  rejectAll(err: TroupeError): void {
    for (const id of this.#pending.ids()) this.settle(id, err)
  }
}
