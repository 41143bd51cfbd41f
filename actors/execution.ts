/**
 * `Execution`: the manager's record of one run of a task, with every caller waiting on it (one,
 * or several when runs are coalesced), its payload, its attempts and where it runs. 100 000 of
 * them may wait in the queue (bench `queue.100k`), so each is kept small: see the class.
 */
import type { Timer } from '../lib/clock.js'
import type { WireError } from '../lib/envelope.js'
import type { PoolEntry } from './pool-entry.js'
import type { TaskInfo } from './routing.js'
import type { Queued } from './task-queue.js'

/** A client, as the dispatcher answers it. */
export interface ClientHandle {
  readonly id: string
  done(taskId: number, body: Uint8Array, ms: number): void
  failed(taskId: number, err: WireError): void
  progress(taskId: number, value: number): void
}

/** What a submit asks for. */
export interface SubmitOptions {
  priority: number
  runTimeoutMs: number | undefined
  assignTimeoutMs: number | undefined
  key: string | undefined
}

/** One caller waiting on a run: several when runs are coalesced. */
export interface Waiter {
  readonly client: ClientHandle
  readonly taskId: number
  readonly run: Execution
  /** This caller's `assignTimeout`, while the run waits in the queue. */
  assignTimer: Timer | undefined
}

/** Payloads up to this size wait in the queue's byte ring (see `Execution.park`). */
const PARKED_BODY_BYTES = 1024

/** What few tasks set: kept out of line so a plain queued task does not carry three empty fields. */
interface Extra {
  runTimeoutMs: number | undefined
  key: string | undefined
  assignTimer: Timer | undefined
}

// Execution state packed into one small integer: two flags and the attempt count.
const QUEUED = 1
const REVOKED = 2
const ATTEMPT = 4

/**
 * One run of a task, with every caller waiting on it. It is also the `TaskInfo` routing sees,
 * and the waiter of the caller who submitted it, so an uncoalesced task is one object
 * (bench `queue.100k`: every queued task costs memory, and 100 000 may wait). Its fields are
 * kept few for the same reason: flags and attempts share one integer, and the options most
 * tasks leave unset live in an `Extra` made only when one is set.
 */
export class Execution implements Queued, TaskInfo, Waiter {
  readonly client: ClientHandle
  readonly taskId: number
  readonly name: string
  readonly priority: number
  pool: PoolEntry | undefined = undefined
  assignmentId = 0
  order = 0
  #state = 0
  #extra: Extra | undefined
  // who waits: the submitter (this run) and any coalesced followers
  #waiters: Waiter | Set<Waiter> | undefined = this
  // the payload: a view into a read buffer until kept, a copy while running, undefined while parked
  #body: Uint8Array | undefined

  constructor(client: ClientHandle, taskId: number, name: string, body: Uint8Array, options: SubmitOptions) {
    this.client = client
    this.taskId = taskId
    this.name = name
    this.priority = options.priority
    this.#body = body
    this.#extra = options.runTimeoutMs === undefined && options.key === undefined ? undefined : { runTimeoutMs: options.runTimeoutMs, key: options.key, assignTimer: undefined }
  }

  get run(): Execution {
    return this
  }

  /** In the queue (false once it left it any way: taken, withdrawn, timed out). */
  get queued(): boolean {
    return (this.#state & QUEUED) !== 0
  }

  set queued(on: boolean) {
    this.#state = on ? this.#state | QUEUED : this.#state & ~QUEUED
  }

  /** Every waiter has gone; the pool was asked to stop it. */
  get revoked(): boolean {
    return (this.#state & REVOKED) !== 0
  }

  set revoked(on: boolean) {
    this.#state = on ? this.#state | REVOKED : this.#state & ~REVOKED
  }

  /** Times it has been handed to a pool. */
  get attempts(): number {
    return this.#state >>> 2
  }

  /** Counts one more hand-over to a pool. */
  countAttempt(): void {
    this.#state += ATTEMPT
  }

  get runTimeoutMs(): number | undefined {
    return this.#extra?.runTimeoutMs
  }

  get key(): string | undefined {
    return this.#extra?.key
  }

  get assignTimer(): Timer | undefined {
    return this.#extra?.assignTimer
  }

  set assignTimer(timer: Timer | undefined) {
    if (this.#extra !== undefined) this.#extra.assignTimer = timer
    else if (timer !== undefined) this.#extra = { runTimeoutMs: undefined, key: undefined, assignTimer: timer }
  }

  /** The payload (never asked for while the queue holds it: see `park`). */
  get body(): Uint8Array {
    if (this.#body === undefined) throw new Error(`the payload of task ${this.taskId} is parked in the queue`)
    return this.#body
  }

  /** Keeps its own copy of the payload, which arrived as a view into a shared read buffer. */
  keep(): void {
    this.#body = this.body.slice()
  }

  /**
   * Before it waits in the queue: hands over a small payload, for the queue to copy into its
   * byte ring (a Uint8Array of any size costs ~208 heap bytes, a queued payload there only its
   * bytes + 2), and forgets it until `unpark`. A larger one it keeps a copy of, and returns
   * undefined.
   */
  park(): Uint8Array | undefined {
    const b = this.body
    if (b.length > PARKED_BODY_BYTES) {
      this.#body = b.slice()
      return undefined
    }
    this.#body = undefined
    return b
  }

  /** Takes back the payload the queue held. */
  unpark(body: Uint8Array): void {
    this.#body = body
  }

  /** Calls `fn` for every waiter. */
  forEachWaiter(fn: (w: Waiter) => void): void {
    const w = this.#waiters
    if (w === undefined) return
    if (w instanceof Set) for (const one of w) fn(one)
    else fn(w)
  }

  // a Set once coalesced: a thundering herd of N callers costs O(N), not O(N²)
  addWaiter(waiter: Waiter): void {
    const w = this.#waiters
    if (w === undefined) this.#waiters = waiter
    else if (w instanceof Set) w.add(waiter)
    else this.#waiters = new Set([w, waiter])
  }

  /** Removes one waiter; true when none is left. */
  removeWaiter(waiter: Waiter): boolean {
    const w = this.#waiters
    if (w instanceof Set) {
      w.delete(waiter)
      if (w.size === 0) this.#waiters = undefined
    } else if (w === waiter) {
      this.#waiters = undefined
    }
    return this.#waiters === undefined
  }

  /** True once every waiter was answered or gave up. */
  get abandoned(): boolean {
    return this.#waiters === undefined
  }

  /** Takes every waiter away (they are being answered): one, several, or none. */
  takeWaiters(): Waiter | Set<Waiter> | undefined {
    const w = this.#waiters
    this.#waiters = undefined
    return w
  }

  /** The run it is about to start (1 for the first). */
  get attempt(): number {
    return this.attempts + 1
  }

  /** A detached copy for events, unaffected by what happens to the run later. */
  get info(): TaskInfo {
    return { name: this.name, priority: this.priority, key: this.key, attempt: this.attempt }
  }
}
