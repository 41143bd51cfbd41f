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
import { TaskRunner, type TaskContext } from './tasks.js'

/** Where outcomes go; always called on a later turn than `start()`. */
export interface RunReport {
  done(id: number, body: Uint8Array, ms: number): void
  failed(id: number, err: WireError): void
  progress(id: number, value: number): void
}

/** One assignment, as a worker receives it. */
export interface Assignment {
  id: number
  name: string
  body: Uint8Array
  attempt: number
}

export class TaskExecutor {
  readonly #runner: TaskRunner
  readonly #report: RunReport
  readonly #clock: Clock
  readonly #running = new Map<number, AbortController>()

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
    const controller = new AbortController()
    this.#running.set(id, controller)
    const ctx: TaskContext = {
      signal: controller.signal,
      attempt: a.attempt,
      id,
      progress: (value: number) => {
        if (this.#running.get(id) === controller && typeof value === 'number' && Number.isFinite(value)) this.#report.progress(id, value)
      },
    }
    const startedAt = this.#clock.now()
    Promise.resolve()
      .then(() => prepared.fn(prepared.input, ctx))
      .then(
        (result) => {
          if (!this.#finish(id, controller)) return
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
          if (this.#finish(id, controller)) this.#report.failed(id, thrownToWire(thrown))
        },
      )
  }

  /** Aborts run `id`'s signal; it still reports how it ended (the pool decides what to keep). */
  abort(id: number, reason: TroupeError): void {
    this.#running.get(id)?.abort(reason)
  }

  /** Aborts every run (the pool is closing or lost its manager). */
  abortAll(reason: TroupeError): void {
    for (const controller of this.#running.values()) controller.abort(reason)
  }

  #finish(id: number, controller: AbortController): boolean {
    if (this.#running.get(id) !== controller) return false
    this.#running.delete(id)
    return true
  }
}
