/**
 * The options of `Client.connect()` and of the client's calls, and the shapes of what `each()`
 * and `job()` give back. Each list of names is checked against its interface when compiled
 * (`optionNames`), and refuses a misspelt option when called (`knownOptions`).
 */
import type { TroupeError } from '../lib/errors.js'
import { optionNames } from '../lib/options.js'
import type { Outcome } from './job.js'
import { NETWORK_OPTION_NAMES, type NetworkOptions } from './network-options.js'
import type { ReconnectOption } from './reconnector.js'
import type { TaskContext } from './tasks.js'

/** Options of one call (API.md §4). */
export interface RunOptions {
  /** Whole life of the call, in ms, on the client's clock → `ECSTO`. */
  timeout?: number | undefined
  /** Running time on a worker, in ms → `ETO` (the task's signal aborts). */
  runTimeout?: number | undefined
  /** Waiting time for a worker, in ms → `EATO`. */
  assignTimeout?: number | undefined
  /** Higher runs first (default 0); equal priorities run in order. */
  priority?: number | undefined
  /** Coalescing key (with a manager started with `coalesce: true`). */
  key?: string | undefined
  /** Aborting it rejects the call with `EABORT` and stops the task. */
  signal?: AbortSignal | undefined
  /** Called with each `ctx.progress(value)` of the task. */
  onProgress?: ((value: number) => void) | undefined
}

/** Options of `each()`: how many tasks may be open at once (default 1024). */
export interface EachOptions extends RunOptions {
  concurrency?: number | undefined
}

/** One outcome of `each()`, in the order tasks finish. */
export type EachResult<R> = { index: number; ok: true; value: R } | { index: number; ok: false; error: TroupeError }

/** Options of `broadcast()` and of each broadcast of a job. */
export interface BroadcastOptions {
  /** Bound on each broadcast in ms: a pool that has not answered gets an `ETO` outcome (default 30 000). */
  timeout?: number | undefined
  /** Fewest pools to broadcast to, else `EATO` (default 1). */
  min?: number | undefined
  /** Aborting it rejects with `EABORT`. */
  signal?: AbortSignal | undefined
}

/** Options of `job()`. */
export interface JobOptions extends BroadcastOptions {
  /** Wait until this many pools are connected before `run` (D::P `n_workers`; default 0), within `timeout`. */
  workers?: number | undefined
}

/** What `client.job(J).run()` resolves with. */
export interface JobResult<V> {
  /** What `run(all)` returned. */
  value: V
  /** Every broadcast's outcomes, in call order. */
  outcomes: Outcome<unknown>[][]
  /**
   * Every pool's `this.report()` lines, sorted by time. A pool whose lines could not be brought
   * back (`EFRAME`: they did not fit maxFrame; `ETO`, `EWORKERLOST`) has one line saying so instead.
   */
  reports: { worker: string; time: number; message: string }[]
}

export const DEFAULT_BROADCAST_TIMEOUT_MS = 30_000
/** Tasks open at once in `each()` when `concurrency` is not given. */
export const DEFAULT_EACH_CONCURRENCY = 1024

/** Options of `Client.connect()`. */
export interface ClientOptions extends NetworkOptions {
  /** Retries of a task rejected by a full queue, waiting (1 + ln(attempt)) × `delay` ms (default 10 × 100 ms). */
  retry?: { attempts?: number | undefined; delay?: number | undefined } | undefined
  /** Reconnect after losing the manager (default on, 100 ms doubling to 5 s); false: fail open calls with `ECLOSED`. */
  reconnect?: ReconnectOption
}

export const CLIENT_OPTIONS = optionNames<ClientOptions>()(...NETWORK_OPTION_NAMES, 'retry', 'reconnect')
export const RETRY_OPTIONS = optionNames<NonNullable<ClientOptions['retry']>>()('attempts', 'delay')
const RUN_OPTION_NAMES = ['timeout', 'runTimeout', 'assignTimeout', 'priority', 'key', 'signal', 'onProgress'] as const
export const RUN_OPTIONS = optionNames<RunOptions>()(...RUN_OPTION_NAMES)
export const EACH_OPTIONS = optionNames<EachOptions>()(...RUN_OPTION_NAMES, 'concurrency')
const BROADCAST_OPTION_NAMES = ['timeout', 'min', 'signal'] as const
export const BROADCAST_OPTIONS = optionNames<BroadcastOptions>()(...BROADCAST_OPTION_NAMES)
export const JOB_OPTIONS = optionNames<JobOptions>()(...BROADCAST_OPTION_NAMES, 'workers')

/** A task module's functions, as the client sees them. */
export type AnyTask = (input: never, ctx: TaskContext) => unknown
type Input<F> = F extends (input: infer I, ...rest: never[]) => unknown ? I : never
type Output<F> = F extends (...args: never[]) => infer O ? Awaited<O> : never

/** `client.typed<typeof tasks>()`: the same calls, checked against a task module's types. */
export interface TypedClient<T extends Record<string, AnyTask>> {
  run<K extends keyof T & string>(name: K, input: Input<T[K]>, options?: RunOptions): Promise<Output<T[K]>>
  all<K extends keyof T & string>(name: K, inputs: readonly Input<T[K]>[], options?: RunOptions): Promise<Output<T[K]>[]>
  each<K extends keyof T & string>(name: K, inputs: Iterable<Input<T[K]>> | AsyncIterable<Input<T[K]>>, options?: EachOptions): AsyncIterable<EachResult<Output<T[K]>>>
}
