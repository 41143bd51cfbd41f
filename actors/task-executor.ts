/**
 * Runs assignments where the task code lives (the pool's own event loop for inline pools, a
 * child process or thread otherwise): decodes the input, calls the task with its context, and
 * reports the outcome exactly once. Timeouts are the pool's business; here an abort only
 * reaches `ctx.signal`.
 */
import type { Clock } from '../lib/clock.js'
import { decodeValue, encodeValue } from '../lib/codec.js'
import { thrownToWire, toWireError, type WireError } from '../lib/envelope.js'
import { TroupeError } from '../lib/errors.js'
import { IdTable } from '../lib/id-table.js'
import { RingBuffer } from '../lib/ring.js'
import { promiseOf } from '../lib/thenable.js'
import type { JobRun } from './job.js'
import type { TaskContext, TaskFunction, TaskRunner } from './tasks.js'

/** Where outcomes go; always called on a later turn than `start()`. */
export interface RunReport {
  done(id: number, body: Uint8Array, ms: number): void
  failed(id: number, err: WireError): void
  progress(id: number, value: number): void
  /** A job's subtask waits at barrier `name` until `release(id, name)`. */
  barrier(id: number, name: string): void
}

/**
 * How many progress reports per event-loop turn go out as they come. Progress is a latest-value
 * signal, but a task that reports a few steps expects each to reach `onProgress`; one that
 * reports in a tight loop (2 000 000 calls) made a thread pool post a frame each, and its host
 * grew to 2 GB and stalled 8.5 s (spec/grid/task-results.spec.ts floods 200 000). Past this many,
 * each run keeps only its latest value until the next turn or its outcome, whichever is first.
 */
const PROGRESS_BURST = 64

/** Where a live run's `ctx.progress()` goes: the executor, which decides what to send now. */
type ProgressGate = (ctx: RunContext, value: number) => void

/** One assignment, as a worker receives it. */
export interface Assignment {
  id: number
  name: string
  body: Uint8Array
  attempt: number
}

/**
 * A run: its context, and what to call until it is called. The signal is made on first use:
 * an AbortController costs ~2 µs and most tasks never look at it (bench `task.tcp.c256`:
 * 507 ms of a 4.2 s pool profile).
 */
class RunContext implements TaskContext, JobRun {
  readonly id: number
  readonly attempt: number
  readonly startedAt: number
  fn: TaskFunction<unknown, unknown> | undefined
  input: unknown
  /** The latest progress not yet sent (the burst was spent); undefined when none waits. */
  heldProgress: number | undefined = undefined
  #controller: AbortController | undefined
  #abortReason: unknown
  #aborted = false
  // where progress and barriers go while the run lasts
  #report: RunReport | undefined
  readonly #progressGate: ProgressGate
  // barriers this run waits at (a job's subtask), by name
  #barriers: Map<string, { resolve(): void; reject(reason: unknown): void }> | undefined

  constructor(id: number, attempt: number, startedAt: number, fn: TaskFunction<unknown, unknown>, input: unknown, report: RunReport, progressGate: ProgressGate) {
    this.id = id
    this.attempt = attempt
    this.startedAt = startedAt
    this.fn = fn
    this.input = input
    this.#report = report
    this.#progressGate = progressGate
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#aborted) this.#controller.abort(this.#abortReason)
    }
    return this.#controller.signal
  }

  progress(value: number): void {
    if (typeof value === 'number' && Number.isFinite(value) && this.#report !== undefined) this.#progressGate(this, value)
  }

  barrier(name: string): Promise<void> {
    if (this.#aborted) return Promise.reject(this.#abortReason)
    if (this.#report === undefined) return Promise.reject(new TroupeError('ECONFIG', 'barrier() after the subtask ended'))
    this.#barriers ??= new Map()
    if (this.#barriers.has(name)) return Promise.reject(new TroupeError('ECONFIG', `already waiting at barrier "${name}"`))
    const waiting = new Promise<void>((resolve, reject) => this.#barriers?.set(name, { resolve, reject }))
    this.#report.barrier(this.id, name)
    return waiting
  }

  release(name: string): void {
    const waiter = this.#barriers?.get(name)
    this.#barriers?.delete(name)
    waiter?.resolve()
  }

  abort(reason: unknown): void {
    if (this.#aborted) return
    this.#aborted = true
    this.#abortReason = reason
    this.#controller?.abort(reason)
    for (const waiter of this.#barriers?.values() ?? []) waiter.reject(reason)
    this.#barriers?.clear()
  }

  /** The run is over: later progress reports and barriers go nowhere. */
  end(): void {
    this.#report = undefined
  }
}

export class TaskExecutor {
  readonly #runner: TaskRunner
  readonly #report: RunReport
  readonly #clock: Clock
  // run ids are sequential: a table by id churns less than a Map (lib/id-table.ts)
  readonly #running = new IdTable<RunContext>()
  // Runs started and not yet called, called together in one microtask rather than one promise
  // chain each (three closures and three promises per task; bench task.process.c256). Bounded by
  // the runs the pool may give this worker at once (its capacity).
  readonly #ready = new RingBuffer<RunContext>()
  #scheduled = false
  // Progress reports sent as they came since the last flush (at most PROGRESS_BURST), and the
  // runs holding a later value for the flush: one entry per run at most, so bounded by the runs
  // this worker holds at once.
  #progressSent = 0
  #progressHeld: RunContext[] = []
  #progressFlushing = false

  constructor(runner: TaskRunner, report: RunReport, clock: Clock) {
    this.#runner = runner
    this.#report = report
    this.#clock = clock
  }

  start(a: Assignment): void {
    const { id } = a
    let input: unknown
    try {
      input = decodeValue(a.body)
    } catch (err) {
      queueMicrotask(() => this.#report.failed(id, toWireError(err as TroupeError)))
      return
    }
    const prepared = this.#runner.prepare(a.name, input)
    if (prepared instanceof TroupeError) {
      queueMicrotask(() => this.#report.failed(id, toWireError(prepared)))
      return
    }
    const ctx = new RunContext(id, a.attempt, this.#clock.now(), prepared.fn, prepared.input, this.#report, this.#gateProgress)
    this.#running.set(id, ctx)
    this.#ready.push(ctx)
    if (!this.#scheduled) {
      this.#scheduled = true
      queueMicrotask(this.#callReady)
    }
  }

  /** Aborts run `id`'s signal; it still reports how it ended (the pool decides what to keep). */
  abort(id: number, reason: TroupeError): void {
    this.#running.get(id)?.abort(reason)
  }

  /** Lets run `id` past barrier `name`. */
  release(id: number, name: string): void {
    this.#running.get(id)?.release(name)
  }

  /** Aborts every run (the pool is closing or lost its manager). */
  abortAll(reason: TroupeError): void {
    for (const id of this.#running.ids()) this.#running.get(id)?.abort(reason)
  }

  /** Calls every run started since the last call; bound once so it can be queued as a microtask. */
  readonly #callReady = (): void => {
    this.#scheduled = false
    // runs started while these report (an upstream that assigns at once) are called here too
    for (let ctx = this.#ready.shift(); ctx !== undefined; ctx = this.#ready.shift()) this.#call(ctx)
  }

  /**
   * Sends a live run's progress now while the turn's burst lasts, else holds it as the run's
   * latest value for the flush; bound once so each run can keep it without a closure of its own.
   */
  readonly #gateProgress = (ctx: RunContext, value: number): void => {
    if (ctx.heldProgress !== undefined) {
      ctx.heldProgress = value // already waiting: an older value is not worth a frame
      return
    }
    if (!this.#progressFlushing) {
      this.#progressFlushing = true
      // a turn, not a microtask: a task reporting between awaits stays within one turn's burst
      setImmediate(this.#flushProgress)
    }
    if (this.#progressSent < PROGRESS_BURST) {
      this.#progressSent++
      this.#report.progress(ctx.id, value)
      return
    }
    ctx.heldProgress = value
    this.#progressHeld.push(ctx)
  }

  /** Sends each held latest value and opens a new burst; bound once so it can be queued. */
  readonly #flushProgress = (): void => {
    this.#progressFlushing = false
    this.#progressSent = 0
    const held = this.#progressHeld
    this.#progressHeld = []
    for (const ctx of held) this.#sendHeldProgress(ctx)
  }

  #sendHeldProgress(ctx: RunContext): void {
    const value = ctx.heldProgress
    if (value === undefined) return // sent when its run ended
    ctx.heldProgress = undefined
    this.#report.progress(ctx.id, value)
  }

  #call(ctx: RunContext): void {
    const fn = ctx.fn as TaskFunction<unknown, unknown>
    const input = ctx.input
    ctx.fn = undefined
    ctx.input = undefined // the run may outlive its input by far
    let result: unknown
    let settled: Promise<unknown> | undefined
    try {
      result = fn(input, ctx)
      settled = promiseOf(result) // runs the result's own code: what it throws fails this task
    } catch (thrown) {
      this.#failed(ctx, thrown)
      return
    }
    // only an asynchronous task costs closures and a promise
    if (settled === undefined) this.#done(ctx, result)
    else settled.then((value) => this.#done(ctx, value), (thrown: unknown) => this.#failed(ctx, thrown))
  }

  #done(ctx: RunContext, result: unknown): void {
    if (!this.#finish(ctx)) return
    let body: Uint8Array
    try {
      body = encodeValue(result)
    } catch (err) {
      this.#report.failed(ctx.id, { code: 'ETASK', message: `the result cannot be sent: ${(err as Error).message}`, name: 'TroupeError' })
      return
    }
    this.#report.done(ctx.id, body, this.#clock.now() - ctx.startedAt)
  }

  #failed(ctx: RunContext, thrown: unknown): void {
    if (this.#finish(ctx)) this.#report.failed(ctx.id, thrownToWire(thrown))
  }

  #finish(ctx: RunContext): boolean {
    if (this.#running.get(ctx.id) !== ctx) return false
    this.#running.take(ctx.id)
    // its held progress goes before its outcome, as its caller would see it without the hold
    if (ctx.heldProgress !== undefined) this.#sendHeldProgress(ctx)
    ctx.end()
    return true
  }
}
