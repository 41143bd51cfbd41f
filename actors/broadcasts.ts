/**
 * The manager's side of broadcasts (API.md §5): one subtask to every pool connected when the
 * broadcast starts, one outcome per pool, never more than one, and never a wait past the
 * broadcast's timeout. Barriers are kept here too: a barrier opens once every run of the
 * broadcast that has not answered yet is waiting at it.
 */
import type { Clock, Timer } from '../lib/clock.js'
import { toWireError, type WireError, type WireOutcome } from '../lib/envelope.js'
import { TroupeError } from '../lib/errors.js'

/** A pool as a broadcast reaches it. */
export interface CastTarget {
  readonly id: string
  cast(id: number, name: string, body: Uint8Array, timeoutMs: number): void
  release(id: number, name: string): void
  /** Nobody waits for cast `id` any more: abort its run. */
  revokeCast(id: number): void
}

/** Broadcasts in flight at once; more are refused with `EREJECTED` (each holds a run on every pool). */
const MAX_BROADCASTS = 1024

interface Run {
  readonly id: number
  readonly broadcast: Broadcast
  readonly index: number
  readonly target: CastTarget
}

class Broadcast {
  readonly runs: Run[] = []
  readonly outcomes: (WireOutcome | undefined)[]
  /** Runs waiting at each barrier, by barrier name. */
  readonly barriers = new Map<string, Set<Run>>()
  open: number
  timer: Timer | undefined
  readonly finish: (outcomes: WireOutcome[] | null) => void
  readonly owner: object
  readonly ownerId: number

  constructor(size: number, finish: (outcomes: WireOutcome[] | null) => void, owner: object, ownerId: number) {
    this.outcomes = new Array<WireOutcome | undefined>(size).fill(undefined)
    this.open = size
    this.finish = finish
    this.owner = owner
    this.ownerId = ownerId
  }
}

/** Distinct barrier names one broadcast may have open at once. */
const MAX_OPEN_BARRIERS = 1024

export class Broadcasts {
  readonly #clock: Clock
  readonly #runs = new Map<number, Run>()
  // broadcasts running, by who asked for them and under what id, so that they can withdraw them
  readonly #byOwner = new Map<object, Map<number, Broadcast>>()
  #active = 0
  #nextId = 1

  constructor(clock: Clock) {
    this.#clock = clock
  }

  /**
   * Casts `name` to every target; resolves with their outcomes in target order once each has
   * answered, or after `timeoutMs` with `ETO` for the rest; with null if `owner` withdraws it
   * (by `ownerId`, its id for the broadcast) first.
   * @throws TroupeError `EATO` with fewer than `min` targets, `EREJECTED` over `MAX_BROADCASTS`
   */
  start(targets: readonly CastTarget[], name: string, body: Uint8Array, timeoutMs: number, min: number, owner: object, ownerId: number): Promise<WireOutcome[] | null> {
    if (targets.length < min) return Promise.reject(new TroupeError('EATO', `a broadcast needs ${min} pool(s) and ${targets.length} are connected`))
    if (targets.length === 0) return Promise.resolve([])
    if (this.#active >= MAX_BROADCASTS) return Promise.reject(new TroupeError('EREJECTED', `${MAX_BROADCASTS} broadcasts are already running`))
    return new Promise((resolve) => {
      this.#active++
      const b = new Broadcast(targets.length, resolve, owner, ownerId)
      let owned = this.#byOwner.get(owner)
      if (owned === undefined) this.#byOwner.set(owner, (owned = new Map()))
      owned.set(ownerId, b)
      for (const [index, target] of targets.entries()) {
        const id = this.#nextId++
        const run: Run = { id, broadcast: b, index, target }
        b.runs.push(run)
        this.#runs.set(id, run)
        try {
          target.cast(id, name, body, timeoutMs)
        } catch (err) {
          // EFRAME (the subtask does not fit this pool's link) or EMAILBOX (the pool reads slower
          // than it is sent, or not at all): that pool's outcome, reported once every run is set up
          queueMicrotask(() => this.failed(target, id, toWireError(err as TroupeError)))
        }
      }
      b.timer = this.#clock.setTimer(timeoutMs, () => this.#expire(b, `no answer within the broadcast timeout of ${timeoutMs} ms`))
    })
  }

  done(target: CastTarget, id: number, body: Uint8Array, ms: number): void {
    const run = this.#take(target, id)
    if (run !== undefined) this.#settle(run, { worker: target.id, ok: true, body: body.slice(), ms })
  }

  failed(target: CastTarget, id: number, err: WireError): void {
    const run = this.#take(target, id)
    if (run !== undefined) this.#settle(run, { worker: target.id, ok: false, err: outcomeError(err) })
  }

  barrier(target: CastTarget, id: number, name: string): void {
    const run = this.#runs.get(id)
    if (run === undefined || run.target !== target) return
    const b = run.broadcast
    let waiting = b.barriers.get(name)
    if (waiting === undefined) {
      if (b.barriers.size >= MAX_OPEN_BARRIERS) {
        // a pool naming ever new barriers would grow this without end: its run fails instead
        target.revokeCast(id)
        return this.failed(target, id, { code: 'ETASK', message: `more than ${MAX_OPEN_BARRIERS} barriers open in one broadcast` })
      }
      b.barriers.set(name, (waiting = new Set()))
    }
    waiting.add(run)
    // only this barrier can have opened: checking every name here would cost O(names) per call
    if (waiting.size >= b.open) this.#open(b, name, waiting)
  }

  /** A pool left: what it had not answered is lost. */
  targetGone(target: CastTarget): void {
    for (const [id, run] of this.#runs) {
      if (run.target !== target) continue
      this.#runs.delete(id)
      this.#settle(run, { worker: target.id, ok: false, err: { code: 'EWORKERLOST', message: `pool ${target.id} left before answering` } })
    }
  }

  /** Broadcast `ownerId` of `owner` is given up: its runs still going are revoked, and it resolves with null. */
  withdraw(owner: object, ownerId: number): void {
    const b = this.#byOwner.get(owner)?.get(ownerId)
    if (b === undefined) return // finished already
    for (const run of b.runs) {
      if (b.outcomes[run.index] !== undefined) continue
      this.#runs.delete(run.id)
      run.target.revokeCast(run.id)
    }
    b.open = 0
    this.#end(b)
    b.finish(null)
  }

  /** Everything `owner` broadcast is given up (it is gone). */
  withdrawAll(owner: object): void {
    for (const ownerId of [...(this.#byOwner.get(owner)?.keys() ?? [])]) this.withdraw(owner, ownerId)
  }

  #take(target: CastTarget, id: number): Run | undefined {
    const run = this.#runs.get(id)
    if (run === undefined || run.target !== target) return undefined // late, or not this pool's to answer
    this.#runs.delete(id)
    return run
  }

  #settle(run: Run, outcome: WireOutcome): void {
    const b = run.broadcast
    if (b.outcomes[run.index] !== undefined) return
    b.outcomes[run.index] = outcome
    for (const waiting of b.barriers.values()) waiting.delete(run)
    if (--b.open === 0) this.#finish(b)
    else this.#openBarriers(b) // one fewer run to wait for
  }

  /** Opens each barrier every unanswered run is waiting at. */
  #openBarriers(b: Broadcast): void {
    for (const [name, waiting] of b.barriers) if (waiting.size >= b.open) this.#open(b, name, waiting)
  }

  #open(b: Broadcast, name: string, waiting: Set<Run>): void {
    b.barriers.delete(name)
    for (const run of waiting) run.target.release(run.id, name)
  }

  #expire(b: Broadcast, why: string): void {
    b.timer = undefined
    for (const run of b.runs) {
      if (b.outcomes[run.index] !== undefined) continue
      this.#runs.delete(run.id)
      b.outcomes[run.index] = { worker: run.target.id, ok: false, err: { code: 'ETO', message: why } }
    }
    if (b.open > 0) {
      b.open = 0
      this.#finish(b)
    }
  }

  #finish(b: Broadcast): void {
    this.#end(b)
    b.finish(b.outcomes as WireOutcome[])
  }

  #end(b: Broadcast): void {
    this.#clock.clearTimer(b.timer)
    this.#active--
    const owned = this.#byOwner.get(b.owner)
    owned?.delete(b.ownerId)
    if (owned?.size === 0) this.#byOwner.delete(b.owner)
  }
}

/**
 * The outcomes, made to fit one frame. Each pool's answer fit a frame of its own, but all of
 * them together may not: rather than lose every outcome, the largest give way to an `ETASK`
 * outcome (`remoteCode` `EFRAME`), the fewest that make the rest fit (`fits` tells), so the
 * caller still gets one outcome per pool. Undefined when not even that fits (such outcomes of very many pools).
 * Call it once the whole did not fit: it tries log2(pools) trimmed lists, not one per pool.
 */
export function fitOutcomes(outcomes: readonly WireOutcome[], fits: (outcomes: WireOutcome[]) => boolean): WireOutcome[] | undefined {
  const largestFirst = outcomes.map((_, index) => index).sort((a, b) => outcomeBytes(outcomes[b]) - outcomeBytes(outcomes[a]))
  const withoutLargest = (count: number): WireOutcome[] => {
    const trimmed = outcomes.slice()
    for (const index of largestFirst.slice(0, count)) {
      const err: WireError = { code: 'ETASK', remoteCode: 'EFRAME', message: 'left out: the outcomes of all pools together exceeded maxFrame' }
      trimmed[index] = { worker: (outcomes[index] as WireOutcome).worker, ok: false, err }
    }
    return trimmed
  }
  let tooFew = 0 // the whole did not fit
  let enough = outcomes.length
  if (!fits(withoutLargest(enough))) return undefined
  while (enough - tooFew > 1) {
    const count = (tooFew + enough) >>> 1
    if (fits(withoutLargest(count))) enough = count
    else tooFew = count
  }
  return withoutLargest(enough)
}

/** About what an outcome adds to a frame: enough to tell the large from the small. */
function outcomeBytes(outcome: WireOutcome | undefined): number {
  if (outcome === undefined) return 0
  if (outcome.ok) return outcome.body.byteLength
  const { message, stack, data } = outcome.err
  return message.length + (stack?.length ?? 0) + (data?.byteLength ?? 0)
}

/**
 * An outcome's error is `ETASK`, `ETO` or `EWORKERLOST` (API.md §5); anything else that kept a
 * pool from answering (`ENOTASK`, `EFRAME`, ...) is that pool's `ETASK`, its own code kept as `remoteCode`.
 */
function outcomeError(err: WireError): WireError {
  if (err.code === 'ETASK' || err.code === 'ETO' || err.code === 'EWORKERLOST') return err
  return { ...err, code: 'ETASK', remoteCode: err.remoteCode ?? err.code }
}
