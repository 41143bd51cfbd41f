/**
 * The manager's core: the bounded priority queue, the pools and what runs on each, coalescing,
 * assign timeouts and requeueing after a worker loss (API.md §4, semantics 1–6, 9, 10).
 *
 * It never decodes a payload: inputs and results stay opaque bytes. It knows pools and clients
 * only through `PoolHandle` and `ClientHandle`, so the same core serves a networked `Manager`
 * and the pool inside a standalone `WorkerPool`. Everything here runs one event at a time on
 * the event loop, the way an actor handles one message at a time.
 */
import type { Clock, Timer } from '../lib/clock.js'
import type { WireError } from '../lib/envelope.js'
import { fitsSlots, leastLoaded, rangeOf, type SelectWorker, type SlotRanges, type TaskInfo, type WorkerInfo } from './routing.js'
import { TaskQueue, type Queued } from './task-queue.js'
import { EVAL_TASK } from './tasks.js'

/** A pool, as the dispatcher reaches it. */
export interface PoolHandle {
  readonly id: string
  /** Sends assignment `id` to the pool. */
  assign(id: number, run: Execution): void
  /** Asks the pool to stop assignment `id`; it still answers for it. */
  revoke(id: number): void
}

/** A client, as the dispatcher answers it. */
export interface ClientHandle {
  readonly id: string
  done(taskId: number, body: Uint8Array, ms: number): void
  failed(taskId: number, err: WireError): void
  progress(taskId: number, value: number): void
}

/** Hooks for the manager's events. */
export interface DispatcherEvents {
  rejected(task: TaskInfo, client: string): void
  assignTimeout(task: TaskInfo, client: string): void
  workerLost(pool: string, running: number): void
}

export interface DispatcherOptions {
  clock: Clock
  /** Queued tasks beyond which new ones are rejected (Infinity allowed). */
  queueSize: number
  maxAttempts: number
  coalesce: boolean
  sacredGuarantees: boolean
  selectWorker: SelectWorker | undefined
  events: DispatcherEvents
}

/** What a submit asks for. */
export interface SubmitOptions {
  priority: number
  runTimeoutMs: number | undefined
  assignTimeoutMs: number | undefined
  key: string | undefined
}

/** One caller waiting on a run: several when runs are coalesced. */
interface Waiter {
  readonly client: ClientHandle
  readonly taskId: number
  readonly run: Execution
}

/** One run of a task, with every caller waiting on it. */
export class Execution implements Queued {
  queued = false
  readonly name: string
  readonly body: Uint8Array
  readonly priority: number
  readonly runTimeoutMs: number | undefined
  readonly key: string | undefined
  /** Times it has been handed to a pool. */
  attempts = 0
  waiters: Waiter[] = []
  pool: PoolEntry | undefined
  assignmentId = 0
  assignTimer: Timer | undefined
  /** Every waiter has gone; the pool was asked to stop it. */
  revoked = false

  constructor(name: string, body: Uint8Array, options: SubmitOptions) {
    this.name = name
    this.body = body
    this.priority = options.priority
    this.runTimeoutMs = options.runTimeoutMs
    this.key = options.key
  }

  get info(): TaskInfo {
    return { name: this.name, priority: this.priority, key: this.key, attempt: this.attempts + 1 }
  }
}

/** What the dispatcher tracks of a pool. */
class PoolEntry implements WorkerInfo {
  readonly handle: PoolHandle
  capacity: number
  readonly ranges: SlotRanges
  readonly allowEval: boolean
  draining = false
  running = 0
  readonly runningByRange: number[]
  avgRunMs = 0
  readonly assignments = new Map<number, Execution>()

  constructor(handle: PoolHandle, capacity: number, ranges: SlotRanges, allowEval: boolean) {
    this.handle = handle
    this.capacity = capacity
    this.ranges = ranges
    this.allowEval = allowEval
    this.runningByRange = new Array<number>(ranges.thresholds.length + 1).fill(0)
  }

  get id(): string {
    return this.handle.id
  }

  get load(): number {
    return this.capacity === 0 ? 1 : this.running / this.capacity
  }
}

/** Weight of the newest run time in a pool's moving average. */
const RUN_TIME_WEIGHT = 0.1

export class Dispatcher {
  readonly #o: DispatcherOptions
  readonly #queue = new TaskQueue<Execution>()
  readonly #pools = new Map<PoolHandle, PoolEntry>()
  // open tasks per client, by the client's task id (for Withdraw and disconnects)
  readonly #clients = new Map<ClientHandle, Map<number, Waiter>>()
  // runs that later submits with the same name and key join (coalesce)
  readonly #coalesced = new Map<string, Execution>()
  #nextAssignment = 1
  #draining = false
  readonly counts = { done: 0, failed: 0, rejected: 0, requeued: 0, lost: 0 }

  constructor(options: DispatcherOptions) {
    this.#o = options
  }

  // ---- clients ---------------------------------------------------------------------------------

  /** A client's new task. Answered later through `client`, exactly once. */
  submit(client: ClientHandle, taskId: number, name: string, body: Uint8Array, options: SubmitOptions): void {
    let open = this.#clients.get(client)
    if (open === undefined) this.#clients.set(client, (open = new Map()))
    if (open.has(taskId)) return // a re-send of a task already here (after a reconnect race)
    if (this.#draining) {
      client.failed(taskId, { code: 'EREJECTED', message: 'the manager is draining and takes no new task' })
      return
    }
    const coalesceKey = this.#o.coalesce && options.key !== undefined ? `${name}\u0000${options.key}` : undefined
    const leader = coalesceKey === undefined ? undefined : this.#coalesced.get(coalesceKey)
    if (leader !== undefined) {
      const waiter = { client, taskId, run: leader }
      leader.waiters.push(waiter)
      open.set(taskId, waiter)
      return
    }
    // the body is a view into a read buffer shared with other frames: keep our own copy
    const run = new Execution(name, body.slice(), options)
    if (this.#queue.size >= this.#o.queueSize && this.#pick(run) === undefined) {
      this.counts.rejected++
      this.#o.events.rejected(run.info, client.id)
      client.failed(taskId, { code: 'EREJECTED', message: `the queue is full (${this.#o.queueSize} tasks)` })
      return
    }
    const waiter = { client, taskId, run }
    run.waiters.push(waiter)
    open.set(taskId, waiter)
    if (coalesceKey !== undefined) this.#coalesced.set(coalesceKey, run)
    if (options.assignTimeoutMs !== undefined) {
      run.assignTimer = this.#o.clock.setTimer(options.assignTimeoutMs, () => this.#assignTimedOut(run, options.assignTimeoutMs as number))
    }
    this.#queue.push(run)
    this.#dispatch()
  }

  /** The client gave up on `taskId` (timeout, abort, `all()` failing): drop it or stop its run. */
  withdraw(client: ClientHandle, taskId: number): void {
    const waiter = this.#clients.get(client)?.get(taskId)
    if (waiter !== undefined) this.#dropWaiter(waiter)
  }

  /** A client disconnected: its tasks are withdrawn (it re-sends what it still wants). */
  clientGone(client: ClientHandle): void {
    const open = this.#clients.get(client)
    if (open === undefined) return
    for (const waiter of [...open.values()]) this.#dropWaiter(waiter)
    this.#clients.delete(client)
  }

  #dropWaiter(waiter: Waiter): void {
    const run = waiter.run
    this.#clients.get(waiter.client)?.delete(waiter.taskId)
    run.waiters = run.waiters.filter((w) => w !== waiter)
    if (run.waiters.length > 0) return
    this.#forget(run)
    if (run.queued) {
      this.#queue.remove(run)
    } else if (run.pool !== undefined && !run.revoked) {
      // the pool keeps the slot until it answers: the work may still be running there
      run.revoked = true
      run.pool.handle.revoke(run.assignmentId)
    }
  }

  #assignTimedOut(run: Execution, ms: number): void {
    run.assignTimer = undefined
    if (!run.queued) return
    this.#queue.remove(run)
    this.#forget(run)
    for (const w of run.waiters) this.#o.events.assignTimeout(run.info, w.client.id)
    this.#answer(run, (w) => w.client.failed(w.taskId, { code: 'EATO', message: `no worker took the task within ${ms} ms` }))
  }

  // ---- pools ---------------------------------------------------------------------------------

  poolJoined(handle: PoolHandle, capacity: number, ranges: SlotRanges, allowEval: boolean): void {
    this.#pools.set(handle, new PoolEntry(handle, capacity, ranges, allowEval))
    this.#dispatch()
  }

  poolState(handle: PoolHandle, capacity: number, draining: boolean): void {
    const pool = this.#pools.get(handle)
    if (pool === undefined) return
    pool.capacity = capacity
    pool.draining = draining
    this.#dispatch()
  }

  /** A pool disconnected: what it was running goes back to the head of the queue. */
  poolGone(handle: PoolHandle): void {
    const pool = this.#pools.get(handle)
    if (pool === undefined) return
    this.#pools.delete(handle)
    const lost = [...pool.assignments.values()]
    this.#o.events.workerLost(handle.id, lost.length)
    for (const run of lost) {
      this.#release(pool, run)
      if (run.revoked) this.#forget(run) // nobody waits for it any more
      else this.#retryOrFail(run, 'the pool running it disconnected')
    }
    this.#dispatch()
  }

  /** Assignment `id` finished on `handle`. */
  done(handle: PoolHandle, id: number, body: Uint8Array, ms: number): void {
    const pool = this.#pools.get(handle)
    const run = pool?.assignments.get(id)
    if (pool === undefined || run === undefined) return // late: its pool was given up on
    this.#release(pool, run)
    pool.avgRunMs = pool.avgRunMs === 0 ? ms : pool.avgRunMs + RUN_TIME_WEIGHT * (ms - pool.avgRunMs)
    this.#forget(run)
    if (!run.revoked) this.counts.done++
    this.#answer(run, (w) => w.client.done(w.taskId, body, ms))
    this.#dispatch()
  }

  /** Assignment `id` failed on `handle`. `EWORKERLOST` (its process died) runs it again. */
  failed(handle: PoolHandle, id: number, err: WireError): void {
    const pool = this.#pools.get(handle)
    const run = pool?.assignments.get(id)
    if (pool === undefined || run === undefined) return
    this.#release(pool, run)
    if (err.code === 'EWORKERLOST' && !run.revoked) this.#retryOrFail(run, err.message)
    else {
      this.#forget(run)
      if (!run.revoked) this.counts.failed++
      this.#answer(run, (w) => w.client.failed(w.taskId, err))
    }
    this.#dispatch()
  }

  progress(handle: PoolHandle, id: number, value: number): void {
    const run = this.#pools.get(handle)?.assignments.get(id)
    if (run !== undefined) for (const w of run.waiters) w.client.progress(w.taskId, value)
  }

  #retryOrFail(run: Execution, why: string): void {
    if (run.attempts >= this.#o.maxAttempts) {
      this.#forget(run)
      this.counts.lost++
      this.#answer(run, (w) => w.client.failed(w.taskId, lostError(run.attempts, why)))
      return
    }
    this.counts.requeued++
    run.pool = undefined
    this.#queue.pushFront(run)
  }

  // ---- assignment ------------------------------------------------------------------------------

  /** Hands queued tasks to pools while any can take one, highest priority first. */
  #dispatch(): void {
    for (;;) {
      if (!this.#anyFreeSlot()) return
      let started = false
      for (const run of this.#queue.heads()) {
        const pool = this.#pick(run)
        if (pool === undefined) continue // caps may still let a lower priority in
        this.#queue.take(run)
        this.#start(run, pool)
        started = true
        break
      }
      if (!started) return
    }
  }

  #anyFreeSlot(): boolean {
    for (const pool of this.#pools.values()) if (!pool.draining && pool.running < pool.capacity) return true
    return false
  }

  /** The pool that should take `run` now, if any may. */
  #pick(run: Execution): PoolEntry | undefined {
    const eligible: PoolEntry[] = []
    const needsEval = run.name === EVAL_TASK // code goes to pools that run it (below)
    let evalPools = 0
    for (const pool of this.#pools.values()) {
      if (pool.allowEval) evalPools++
      if (pool.draining || pool.running >= pool.capacity) continue
      if (!fitsSlots(pool.ranges, pool.capacity, pool.runningByRange, run.priority, this.#o.sacredGuarantees)) continue
      eligible.push(pool)
    }
    // code goes only where it may run, as long as such a pool is connected at all
    const candidates = needsEval && evalPools > 0 ? eligible.filter((p) => p.allowEval) : eligible
    if (candidates.length === 0) return undefined
    const chosen = (this.#o.selectWorker ?? leastLoaded)(run.info, candidates)
    return candidates.find((p) => p === chosen || p.id === chosen?.id)
  }

  #start(run: Execution, pool: PoolEntry): void {
    this.#o.clock.clearTimer(run.assignTimer)
    run.assignTimer = undefined
    run.attempts++
    run.pool = pool
    run.assignmentId = this.#nextAssignment++
    pool.running++
    pool.runningByRange[rangeOf(pool.ranges, run.priority)]!++
    pool.assignments.set(run.assignmentId, run)
    pool.handle.assign(run.assignmentId, run)
  }

  #release(pool: PoolEntry, run: Execution): void {
    pool.assignments.delete(run.assignmentId)
    pool.running--
    pool.runningByRange[rangeOf(pool.ranges, run.priority)]!--
  }

  /** Ends a run's coalescing and timers; its waiters are answered by the caller. */
  #forget(run: Execution): void {
    this.#o.clock.clearTimer(run.assignTimer)
    run.assignTimer = undefined
    if (run.key !== undefined) {
      const coalesceKey = `${run.name}\u0000${run.key}`
      if (this.#coalesced.get(coalesceKey) === run) this.#coalesced.delete(coalesceKey)
    }
  }

  #answer(run: Execution, send: (w: Waiter) => void): void {
    for (const w of run.waiters) {
      this.#clients.get(w.client)?.delete(w.taskId)
      send(w)
    }
    run.waiters = []
  }

  // ---- draining and state ----------------------------------------------------------------------

  /** Stops taking new tasks; queued and running ones go on. */
  drain(): void {
    this.#draining = true
  }

  /** True when nothing is queued or running. */
  get idle(): boolean {
    if (this.#queue.size > 0) return false
    for (const pool of this.#pools.values()) if (pool.running > 0) return false
    return true
  }

  get queued(): number {
    return this.#queue.size
  }

  /** The pools, for stats and `selectWorker`. */
  get pools(): WorkerInfo[] {
    return [...this.#pools.values()].map((p) => ({ id: p.id, capacity: p.capacity, running: p.running, load: p.load, avgRunMs: p.avgRunMs, draining: p.draining }))
  }
}

function lostError(attempts: number, why: string): WireError {
  return { code: 'EWORKERLOST', message: `the task's worker was lost ${attempts} time(s), the most allowed (last: ${why})` }
}
