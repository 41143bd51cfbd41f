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
import type { JobRun } from './job.js'
import type { TaskContext, TaskRunner } from './tasks.js'

/** Where outcomes go; always called on a later turn than `start()`. */
export interface RunReport {
  done(id: number, body: Uint8Array, ms: number): void
  failed(id: number, err: WireError): void
  progress(id: number, value: number): void
  /** A job's subtask waits at barrier `name` until `release(id, name)`. */
  barrier(id: number, name: string): void
}

/** One assignment, as a worker receives it. */
export interface Assignment {
  id: number
  name: string
  body: Uint8Array
  attempt: number
}

/**
 * A run's context. The signal is made on first use: an AbortController costs ~2 µs and most
 * tasks never look at it (bench `task.tcp.c256`: 507 ms of a 4.2 s pool profile).
 */
class RunContext implements TaskContext, JobRun {
  readonly id: number
  readonly attempt: number
  #controller: AbortController | undefined
  #abortReason: unknown
  #aborted = false
  #report: RunReport | undefined
  // barriers this run waits at (a job's subtask), by name
  #barriers: Map<string, { resolve(): void; reject(reason: unknown): void }> | undefined

  constructor(id: number, attempt: number, report: RunReport) {
    this.id = id
    this.attempt = attempt
    this.#report = report
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#aborted) this.#controller.abort(this.#abortReason)
    }
    return this.#controller.signal
  }

  progress(value: number): void {
    if (typeof value === 'number' && Number.isFinite(value)) this.#report?.progress(this.id, value)
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
  readonly #running = new Map<number, RunContext>()

  constructor(runner: TaskRunner, report: RunReport, clock: Clock) {
    this.#runner = runner
    this.#report = report
    this.#clock = clock
  }

  get running(): number {
    return this.#running.size
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
    const ctx = new RunContext(id, a.attempt, this.#report)
    this.#running.set(id, ctx)
    const startedAt = this.#clock.now()
    Promise.resolve()
      .then(() => prepared.fn(prepared.input, ctx))
      .then(
        (result) => {
          if (!this.#finish(id, ctx)) return
          let body: Uint8Array
          try {
            body = encodeValue(result)
          } catch (err) {
            this.#report.failed(id, { code: 'ETASK', message: `the result cannot be sent: ${(err as Error).message}`, name: 'TroupeError' })
            return
          }
          this.#report.done(id, body, this.#clock.now() - startedAt)
        },
        (thrown: unknown) => {
          if (this.#finish(id, ctx)) this.#report.failed(id, thrownToWire(thrown))
        },
      )
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
    for (const ctx of this.#running.values()) ctx.abort(reason)
  }

  #finish(id: number, ctx: RunContext): boolean {
    if (this.#running.get(id) !== ctx) return false
    this.#running.delete(id)
    ctx.end()
    return true
  }
}
