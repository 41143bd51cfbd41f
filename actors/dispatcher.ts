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
import { fitsSlots, lessLoaded, rangeOf, type SelectWorker, type SlotRanges, type TaskInfo, type WorkerInfo } from './routing.js'
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

/** Payloads up to this size wait in the queue packed into a string (see `Execution.park`). */
const PACKED_BODY_BYTES = 1024

/**
 * One run of a task, with every caller waiting on it. It is also the `TaskInfo` routing sees,
 * and the waiter of the caller who submitted it, so an uncoalesced task is one object
 * (bench `queue.100k`: every queued task costs memory, and 100 000 may wait).
 */
export class Execution implements Queued, TaskInfo, Waiter {
  queued = false
  readonly name: string
  readonly priority: number
  readonly runTimeoutMs: number | undefined
  readonly key: string | undefined
  readonly client: ClientHandle
  readonly taskId: number
  /** Times it has been handed to a pool. */
  attempts = 0
  pool: PoolEntry | undefined
  assignmentId = 0
  assignTimer: Timer | undefined
  /** Every waiter has gone; the pool was asked to stop it. */
  revoked = false
  // who waits: the submitter (this run) and any coalesced followers
  #waiters: Waiter | Waiter[] | undefined = this
  // the payload: a view into a read buffer until kept, a copy while running, packed while queued
  #body: Uint8Array | string

  constructor(client: ClientHandle, taskId: number, name: string, body: Uint8Array, options: SubmitOptions) {
    this.client = client
    this.taskId = taskId
    this.name = name
    this.#body = body
    this.priority = options.priority
    this.runTimeoutMs = options.runTimeoutMs
    this.key = options.key
  }

  get run(): Execution {
    return this
  }

  /** The payload as bytes (unpacked once if it waited in the queue). */
  get body(): Uint8Array {
    if (typeof this.#body === 'string') this.#body = new Uint8Array(Buffer.from(this.#body, 'latin1'))
    return this.#body
  }

  /** Keeps its own copy of the payload, which arrived as a view into a shared read buffer. */
  keep(): void {
    if (typeof this.#body !== 'string') this.#body = this.#body.slice()
  }

  /**
   * Packs a small payload into a one-byte string while it waits: a Uint8Array of any size costs
   * ~208 heap bytes, a Latin-1 string ~16 + n.
   */
  park(): void {
    const b = this.#body
    if (typeof b === 'string' || b.length > PACKED_BODY_BYTES) return this.keep()
    this.#body = Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1')
  }

  get waiting(): boolean {
    return this.#waiters !== undefined
  }

  /** Calls `fn` for every waiter. */
  forEachWaiter(fn: (w: Waiter) => void): void {
    const w = this.#waiters
    if (w === undefined) return
    if (Array.isArray(w)) for (const one of [...w]) fn(one)
    else fn(w)
  }

  addWaiter(waiter: Waiter): void {
    const w = this.#waiters
    this.#waiters = w === undefined ? waiter : Array.isArray(w) ? [...w, waiter] : [w, waiter]
  }

  /** Removes one waiter; true when none is left. */
  removeWaiter(waiter: Waiter): boolean {
    const w = this.#waiters
    if (Array.isArray(w)) {
      const rest = w.filter((one) => one !== waiter)
      this.#waiters = rest.length === 0 ? undefined : rest.length === 1 ? rest[0] : rest
    } else if (w === waiter) {
      this.#waiters = undefined
    }
    return this.#waiters === undefined
  }

  /** Takes every waiter away (they are being answered). */
  takeWaiters(): Waiter[] {
    const w = this.#waiters
    this.#waiters = undefined
    return w === undefined ? [] : Array.isArray(w) ? w : [w]
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
      leader.addWaiter(waiter)
      open.set(taskId, waiter)
      return
    }
    const run = new Execution(client, taskId, name, body, options)
    if (this.#queue.size >= this.#o.queueSize && this.#pick(run) === undefined) {
      this.counts.rejected++
      this.#o.events.rejected(run.info, client.id)
      client.failed(taskId, { code: 'EREJECTED', message: `the queue is full (${this.#o.queueSize} tasks)` })
      return
    }
    open.set(taskId, run)
    if (coalesceKey !== undefined) this.#coalesced.set(coalesceKey, run)
    // nothing waits ahead of it: straight to a pool if one is free (the common case)
    const pool = this.#queue.size === 0 ? this.#pick(run) : undefined
    if (pool !== undefined) {
      run.keep() // kept for running again should the pool be lost
      this.#start(run, pool)
      return
    }
    if (options.assignTimeoutMs !== undefined) {
      run.assignTimer = this.#o.clock.setTimer(options.assignTimeoutMs, () => this.#assignTimedOut(run, options.assignTimeoutMs as number))
    }
    run.park()
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
    if (!run.removeWaiter(waiter)) return
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
    run.forEachWaiter((w) => this.#o.events.assignTimeout(run.info, w.client.id))
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
    run?.forEachWaiter((w) => w.client.progress(w.taskId, value))
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
    return this.#anyPool((p) => !p.draining && p.running < p.capacity)
  }

  /** The pool that should take `run` now, if any may. */
  #pick(run: Execution): PoolEntry | undefined {
    // code goes only to pools that run it, as long as such a pool is connected at all
    const evalOnly = run.name === EVAL_TASK && this.#anyPool((p) => p.allowEval)
    const may = (p: PoolEntry): boolean =>
      !p.draining &&
      p.running < p.capacity &&
      (!evalOnly || p.allowEval) &&
      fitsSlots(p.ranges, p.capacity, p.runningByRange, run.priority, this.#o.sacredGuarantees)
    const select = this.#o.selectWorker
    if (select === undefined) {
      // the default choice without building a candidate list: this runs for every task
      let best: PoolEntry | undefined
      for (const p of this.#pools.values()) if (may(p) && (best === undefined || lessLoaded(p, best))) best = p
      return best
    }
    const candidates = [...this.#pools.values()].filter(may)
    if (candidates.length === 0) return undefined
    const chosen = select(run.info, candidates)
    return candidates.find((p) => p === chosen || p.id === chosen?.id)
  }

  #anyPool(test: (p: PoolEntry) => boolean): boolean {
    for (const p of this.#pools.values()) if (test(p)) return true
    return false
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
    for (const w of run.takeWaiters()) {
      this.#clients.get(w.client)?.delete(w.taskId)
      send(w)
    }
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
