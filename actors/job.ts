/**
 * Broadcast jobs in the style of Distributed::Process (API.md §5). A `Job` subclass lives in a
 * pool's task module; each pool keeps one instance of it on one worker, so state set by one
 * broadcast is there for the next. Its `__methods` are the subtasks; `run(all)` is the schedule,
 * run by the caller with `all` fanning each `__method` call out to every pool.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { TroupeError } from '../lib/errors.js'

/**
 * One pool's answer to one broadcast: never a throw, so one pool cannot sink the others. An
 * error's code is `ETASK`, `ETO`, `EWORKERLOST`, or `EFRAME` when this answer was left out
 * because the outcomes of all pools together exceeded maxFrame (the largest give way).
 */
export type Outcome<T> =
  | { worker: string; ok: true; value: T; ms: number }
  | { worker: string; ok: false; error: TroupeError }

/** `all` in `run(all)`: each `__method(...args)` of `J` sent to every pool, one outcome per pool. */
export type Everyone<J> = {
  [K in keyof J as K extends `__${string}` ? (J[K] extends (...args: never[]) => unknown ? K : never) : never]:
    J[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Outcome<Awaited<R>>[]> : never
}

/** A line of `this.report()`: when, and what. */
export interface ReportLine {
  time: number
  message: string
}

/** What a running subtask offers its job: the barrier of its broadcast. */
export interface JobRun {
  barrier(name: string): Promise<void>
}

/** The subtask the code on an async path runs for. */
export interface Subtask {
  readonly run: JobRun
  /** The caller's job run (one `client.job(J).run()`) it is part of: its report lines go there. */
  readonly jobRun: string | undefined
}

/** A reported line, and the job run it goes to (undefined: reported outside a job run's subtask). */
interface StoredLine extends ReportLine {
  jobRun: string | undefined
}

// Keyed in the global symbol registry: a task module imports `Job` from the installed package,
// and the pool running it may hold another copy of this file (sources under tsx, a bundled
// app). Both copies must agree on what a job is and where the current run is.
const JOB_MARK: unique symbol = Symbol.for('troupe.job') as never
const REPORTS: unique symbol = Symbol.for('troupe.job.reports') as never
const CURRENT_SUBTASK: unique symbol = Symbol.for('troupe.job.subtask') as never

/** Lines kept per job instance between two collections; older ones are dropped. */
const REPORT_LIMIT = 10_000

/** Which subtask the code on this async path belongs to. */
export function subtasks(): AsyncLocalStorage<Subtask> {
  const registry = globalThis as { [CURRENT_SUBTASK]?: AsyncLocalStorage<Subtask> }
  return (registry[CURRENT_SUBTASK] ??= new AsyncLocalStorage<Subtask>())
}

/**
 * Base class of broadcast jobs.
 * @example
 * export class Survey extends Job {
 *   async __uptime() { return process.uptime() }
 *   async run(all: Everyone<Survey>) { return all.__uptime() }
 * }
 */
export abstract class Job {
  static readonly [JOB_MARK] = true
  private [REPORTS]: StoredLine[] = []

  /**
   * Records a timestamped line on this node; `client.job(...).run()` gathers those of its own
   * subtasks from every pool (and those reported outside any subtask).
   */
  report(message: string): void {
    const lines = this[REPORTS]
    if (lines.length >= REPORT_LIMIT) lines.shift()
    lines.push({ jobRun: subtasks().getStore()?.jobRun, time: Date.now(), message: String(message) })
  }

  /**
   * Waits until every pool taking part in this broadcast has reached barrier `name` (D::P
   * `synchro`); pools that already answered do not hold it up. Bounded by the broadcast's timeout.
   * @throws TroupeError `ECONFIG` outside a subtask; the run's abort reason when it times out.
   */
  barrier(name: string): Promise<void> {
    const subtask = subtasks().getStore()
    if (subtask === undefined) return Promise.reject(new TroupeError('ECONFIG', 'barrier() works only inside a __subtask run by a broadcast'))
    return subtask.run.barrier(String(name))
  }

  /**
   * The schedule, run by the caller: `all.__method(...)` broadcasts; the result is the job's
   * value. Declare it as `run(all: Everyone<MyJob>)` (typed `never` here so any subclass fits).
   */
  abstract run(all: never): unknown
}

/** A `Job` subclass, from whichever copy of this file it was built. */
export type JobClass<J extends Job = Job> = (abstract new () => J) & { name: string }

export function isJobClass(value: unknown): value is new () => Job {
  return typeof value === 'function' && (value as unknown as Record<symbol, unknown>)[JOB_MARK] === true
}

/**
 * Whether `method` is a subtask of the job `Class`: a method named `__something` that the job's
 * own classes define. Names `Job` and `Object` define (`__lookupGetter__`, ...) are not, or any
 * client could call them on the pools.
 */
export function isSubtask(Class: new () => Job, method: string): boolean {
  if (!method.startsWith('__')) return false
  for (let proto: object | null = Class.prototype; proto !== null && proto !== Object.prototype && !isJobBase(proto); proto = Object.getPrototypeOf(proto)) {
    if (typeof Object.getOwnPropertyDescriptor(proto, method)?.value === 'function') return true
  }
  return false
}

/** `Job.prototype`, of whichever copy of this file: its class carries the mark itself, subclasses inherit it. */
function isJobBase(proto: object): boolean {
  const owner: unknown = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value
  return typeof owner === 'function' && Object.hasOwn(owner, JOB_MARK)
}

/**
 * Takes the lines of job run `jobRun`, and those reported outside any job run's subtask. Lines
 * of other runs stay: runs of one job may overlap, from one client or several.
 */
export function takeReports(job: object, jobRun: string | undefined): ReportLine[] {
  const holder = job as { [REPORTS]?: StoredLine[] }
  const taken: ReportLine[] = []
  const kept: StoredLine[] = []
  for (const line of holder[REPORTS] ?? []) {
    if (line.jobRun === undefined || line.jobRun === jobRun) taken.push({ time: line.time, message: line.message })
    else kept.push(line)
  }
  holder[REPORTS] = kept
  return taken
}
