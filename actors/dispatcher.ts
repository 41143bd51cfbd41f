/**
 * The manager's core: the bounded priority queue, the pools and what runs on each, coalescing,
 * assign timeouts and requeueing after a worker loss (API.md §4, semantics 1–6, 9, 10).
 *
 * It never decodes a payload: inputs and results stay opaque bytes. It knows pools and clients
 * only through `PoolHandle` and `ClientHandle`, so the same core serves a networked `Manager`
 * and the pool inside a standalone `WorkerPool`. Everything here runs one event at a time on
 * the event loop, the way an actor handles one message at a time.
 */
import type { Clock } from '../lib/clock.js'
import type { WireError } from '../lib/envelope.js'
import { IdTable } from '../lib/id-table.js'
import { Execution, type ClientHandle, type SubmitOptions, type Waiter } from './execution.js'
import { PoolEntry, type PoolHandle } from './pool-entry.js'
import { anyFreeSlot, pickPool, rangeOf, type SelectWorker, type SlotRanges, type TaskInfo, type WorkerInfo } from './routing.js'
import { TaskQueue } from './task-queue.js'

/** Hooks for the manager's events. */
export interface DispatcherEvents {
  rejected(task: TaskInfo, client: string): void
  assignTimeout(task: TaskInfo, client: string): void
  workerLost(pool: string, running: number): void
  /**
   * The last queued or running task is gone (answered, lost, withdrawn or timed out): nothing
   * is left. Heard once each time that happens, after the answers; a draining close waits for it.
   */
  idle(): void
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

/** Weight of the newest run time in a pool's moving average. */
const RUN_TIME_WEIGHT = 0.1

export class Dispatcher {
  readonly #o: DispatcherOptions
  readonly #queue = new TaskQueue<Execution>()
  readonly #pools = new Map<PoolHandle, PoolEntry>()
  // open tasks per client, by the client's task id (for Withdraw and disconnects); a client
  // numbers its tasks in sequence, so a table by id serves better than a Map (lib/id-table.ts)
  readonly #clients = new Map<ClientHandle, IdTable<Waiter>>()
  // runs that later submits with the same name and key join (coalesce)
  readonly #coalesced = new Map<string, Execution>()
  // callers waiting on another's run: they count toward queueSize, as each holds its own state
  #followers = 0
  #nextAssignment = 1
  #draining = false
  // runs on all pools: idle() is decided after every outcome, without a walk over the pools
  #running = 0
  // set when a task is taken, cleared when the owner hears idle(): it hears that once per time work ends
  #busy = false
  readonly counts = { done: 0, failed: 0, rejected: 0, requeued: 0, lost: 0 }

  constructor(options: DispatcherOptions) {
    this.#o = options
  }

  // ---- clients ---------------------------------------------------------------------------------

  /** A client's new task. Answered later through `client`, exactly once. */
  submit(client: ClientHandle, taskId: number, name: string, body: Uint8Array, options: SubmitOptions): void {
    let open = this.#clients.get(client)
    if (open === undefined) this.#clients.set(client, (open = new IdTable()))
    if (open.has(taskId)) return // a re-send of a task already here (after a reconnect race)
    if (this.#draining) {
      client.failed(taskId, { code: 'EREJECTED', message: 'the manager is draining and takes no new task' })
      return
    }
    const key = this.#o.coalesce && options.key !== undefined ? coalesceKey(name, options.key) : undefined
    const leader = key === undefined ? undefined : this.#coalesced.get(key)
    if (leader !== undefined) {
      if (this.#queue.size + this.#followers >= this.#o.queueSize) return this.#refuse(client, taskId, leader.info)
      // it shares the leader's run (and so its priority and runTimeout), not its deadlines
      const waiter: Waiter = { client, taskId, run: leader, assignTimer: undefined }
      this.#followers++
      leader.addWaiter(waiter)
      open.set(taskId, waiter)
      if (leader.queued) this.#armAssignTimer(waiter, options.assignTimeoutMs)
      return
    }
    const run = new Execution(client, taskId, name, body, options)
    // Straight to a pool when one may take it. Whatever waits in the queue could not be placed
    // (every change that frees a slot dispatches), so this overtakes no one who could run.
    const pool = pickPool(this.#pools, run, this.#o, this.#selectFailed)
    if (run.abandoned) return // selectWorker threw: answered with ECONFIG
    if (pool === undefined && this.#queue.size + this.#followers >= this.#o.queueSize) return this.#refuse(client, taskId, run.info)
    open.set(taskId, run)
    this.#busy = true
    if (key !== undefined) this.#coalesced.set(key, run)
    if (pool !== undefined) {
      run.keep() // kept for running again should the pool be lost
      this.#start(run, pool)
      return
    }
    this.#armAssignTimer(run, options.assignTimeoutMs)
    this.#queue.push(run, run.park())
  }

  #refuse(client: ClientHandle, taskId: number, task: TaskInfo): void {
    this.counts.rejected++
    this.#o.events.rejected(task, client.id)
    client.failed(taskId, { code: 'EREJECTED', message: `the queue is full (${this.#o.queueSize} tasks)` })
  }

  /** The client gave up on `taskId` (timeout, abort, `all()` failing): drop it or stop its run. */
  withdraw(client: ClientHandle, taskId: number): void {
    const waiter = this.#clients.get(client)?.get(taskId)
    if (waiter === undefined) return
    this.#dropWaiter(waiter)
    this.#checkIdle()
  }

  /** A client disconnected: its tasks are withdrawn (it re-sends what it still wants). */
  clientGone(client: ClientHandle): void {
    const open = this.#clients.get(client)
    if (open === undefined) return
    this.#clients.delete(client)
    for (const waiter of open.drain()) this.#dropWaiter(waiter)
    this.#checkIdle()
  }

  /** One caller leaves without an answer; the run goes when it was the last one waiting. */
  #dropWaiter(waiter: Waiter): void {
    const run = waiter.run
    this.#detach(waiter)
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

  #armAssignTimer(waiter: Waiter, ms: number | undefined): void {
    if (ms !== undefined) waiter.assignTimer = this.#o.clock.setTimer(ms, () => this.#assignTimedOut(waiter, ms))
  }

  /** One caller's `assignTimeout` passed while its run was queued: only that caller gets EATO. */
  #assignTimedOut(waiter: Waiter, ms: number): void {
    waiter.assignTimer = undefined
    const run = waiter.run
    if (!run.queued) return
    this.#dropWaiter(waiter)
    this.#send(waiter, { code: 'EATO', message: `no worker took the task within ${ms} ms` }, undefined, undefined)
    this.#o.events.assignTimeout(run.info, waiter.client.id)
    this.#checkIdle() // a timer may have emptied the queue
  }

  // ---- pools ---------------------------------------------------------------------------------

  /** Adds a pool and gives it what it may take; returns how it looks to `worker` listeners. */
  poolJoined(handle: PoolHandle, capacity: number, ranges: SlotRanges, allowEval: boolean, draining = false): WorkerInfo {
    const pool = new PoolEntry(handle, capacity, ranges, allowEval)
    pool.draining = draining
    this.#pools.set(handle, pool)
    this.#dispatch()
    return infoOf(pool)
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
    const lost = pool.assignments.drain()
    this.#o.events.workerLost(handle.id, lost.length)
    // each goes to the head of its priority: the last assigned first, so they keep their order
    for (const run of lost.reverse()) {
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
    this.#answer(run, undefined, body, ms)
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
      this.#answer(run, err)
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
      this.#answer(run, lostError(run.attempts, why))
      return
    }
    this.counts.requeued++
    run.pool = undefined
    this.#queue.pushFront(run)
  }

  // ---- assignment ------------------------------------------------------------------------------

  /**
   * Runs after every change on the pools' side (a pool joined, changed, answered or was lost):
   * hands queued tasks to pools while any can take one, then tells the owner if nothing is left.
   */
  #dispatch(): void {
    while (this.#startNext()) {}
    this.#checkIdle()
  }

  /** Starts the first queued task, highest priority first, that a pool may take; false if none. */
  #startNext(): boolean {
    // runs after every outcome: an empty queue must not cost the heads() array
    if (this.#queue.size === 0 || !anyFreeSlot(this.#pools)) return false
    for (const run of this.#queue.heads()) {
      const pool = pickPool(this.#pools, run, this.#o, this.#selectFailed)
      if (pool === undefined) continue // caps may still let a lower priority in
      const parked = this.#queue.take(run)
      if (parked !== undefined) run.unpark(parked)
      this.#start(run, pool)
      return true
    }
    return false
  }

  /** A throwing `selectWorker` fails the task it was asked about, not the connection it came on. */
  // a field, so pickPool is passed it without making a closure per task
  readonly #selectFailed = (run: Execution, err: unknown): void => {
    this.#queue.remove(run)
    this.#forget(run)
    this.counts.failed++
    this.#answer(run, { code: 'ECONFIG', message: `selectWorker threw: ${err instanceof Error ? err.message : String(err)}` })
  }

  #start(run: Execution, pool: PoolEntry): void {
    run.forEachWaiter(this.#clearAssignTimer)
    run.countAttempt()
    run.pool = pool
    run.assignmentId = this.#nextAssignment++
    pool.running++
    this.#running++
    pool.runningByRange[rangeOf(pool.ranges, run.priority)]!++
    pool.assignments.set(run.assignmentId, run)
    pool.handle.assign(run.assignmentId, run)
  }

  // a field, so #start passes it without making a closure per task
  readonly #clearAssignTimer = (w: Waiter): void => {
    this.#o.clock.clearTimer(w.assignTimer)
    w.assignTimer = undefined
  }

  #release(pool: PoolEntry, run: Execution): void {
    pool.assignments.take(run.assignmentId)
    pool.running--
    this.#running--
    pool.runningByRange[rangeOf(pool.ranges, run.priority)]!--
  }

  /** Ends a run's coalescing; its waiters are answered by the caller. */
  #forget(run: Execution): void {
    if (this.#o.coalesce && run.key !== undefined) {
      const key = coalesceKey(run.name, run.key)
      if (this.#coalesced.get(key) === run) this.#coalesced.delete(key)
    }
  }

  /** Answers every waiter of `run`: with `err`, or done with `body` after `ms`. */
  #answer(run: Execution, err: WireError | undefined, body?: Uint8Array, ms?: number): void {
    const waiters = run.takeWaiters()
    if (waiters === undefined) return
    if (waiters instanceof Set) {
      // all leave before any is told, so a send that throws leaves no half-detached waiter
      for (const w of waiters) this.#detach(w)
      for (const w of waiters) this.#send(w, err, body, ms)
    } else {
      this.#detach(waiters)
      this.#send(waiters, err, body, ms)
    }
  }

  /**
   * Everything a caller's leaving needs, however it leaves (answered, withdrawn, timed out,
   * disconnected). Called once per waiter, as it leaves its run's waiters (`removeWaiter`,
   * `takeWaiters`), so the client's open tasks, its assign timer and the follower count that
   * queueSize counts move together.
   */
  #detach(w: Waiter): void {
    this.#clients.get(w.client)?.take(w.taskId)
    this.#clearAssignTimer(w)
    if (w !== w.run) this.#followers--
  }

  /** Tells one caller its outcome; it has left already (`#detach`). */
  #send(w: Waiter, err: WireError | undefined, body: Uint8Array | undefined, ms: number | undefined): void {
    if (err === undefined) w.client.done(w.taskId, body as Uint8Array, ms as number)
    else w.client.failed(w.taskId, err)
  }

  // ---- draining and state ----------------------------------------------------------------------

  /** Stops taking new tasks; queued and running ones go on. */
  drain(): void {
    this.#draining = true
  }

  /**
   * The one place that decides "idle". Called at the end of each event that can end work, after
   * its answers, never in the middle: a lost pool's tasks are released before they are queued
   * again, and a timed-out caller hears EATO only after its run left the queue.
   */
  #checkIdle(): void {
    if (!this.#busy || !this.idle) return
    this.#busy = false
    this.#o.events.idle()
  }

  /** True when nothing is queued or running. */
  get idle(): boolean {
    return this.#queue.size === 0 && this.#running === 0
  }

  get queued(): number {
    return this.#queue.size
  }

  /** The pools, for stats and `selectWorker`. */
  get pools(): WorkerInfo[] {
    return [...this.#pools.values()].map(infoOf)
  }
}

/** A snapshot of a pool: PoolEntry is live and holds the pool's handle. */
function infoOf(p: PoolEntry): WorkerInfo & { draining: boolean } {
  return { id: p.id, capacity: p.capacity, running: p.running, load: p.load, avgRunMs: p.avgRunMs, draining: p.draining }
}

/** Tasks with the same name and key coalesce. */
function coalesceKey(name: string, key: string): string {
  return `${name}\u0000${key}`
}

function lostError(attempts: number, why: string): WireError {
  return { code: 'EWORKERLOST', message: `the task's worker was lost ${attempts} time(s), the most allowed (last: ${why})` }
}
