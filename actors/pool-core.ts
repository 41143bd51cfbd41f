/**
 * What a pool does with assignments: spread them over its workers (least busy first), stop
 * them on their run timeout (abort `ctx.signal`, then kill a child that has not returned
 * `taskTimeoutKill` ms later), respawn dead workers with backoff, and report each outcome
 * upstream exactly once. Upstream is the manager connection, or the dispatcher of a
 * standalone pool; what passes between the two is in pool-upstream.ts. API.md §4, semantics 4
 * and 6.
 */
import { setMaxListeners } from 'node:events'
import type { Clock, Timer } from '../lib/clock.js'
import type { WireError } from '../lib/envelope.js'
import { TroupeError, asError } from '../lib/errors.js'
import { IdTable } from '../lib/id-table.js'
import type { PoolAssignment, PoolCast, PoolUpstream } from './pool-upstream.js'
import { backoffDelay, type Backoff } from './reconnector.js'
import { parseJobName } from './tasks.js'
import type { Worker, WorkerEvents } from './workers.js'

export interface PoolCoreOptions {
  workers: number
  capacity: number
  taskTimeoutKillMs: number
  respawn: Backoff
  clock: Clock
  /**
   * Starts worker number `index`; its events must go to `events`. A start under way when
   * `events.signal` aborts (the pool closed) should stop its child and reject. A throw counts
   * as a failed start.
   */
  spawn(index: number, events: WorkerEvents): Promise<Worker>
  /** Told when a worker exits (and is to be respawned) and when a respawned one is up. */
  lifecycle?(event: 'exit' | 'start', index: number, why?: string): void
}

interface Slot {
  readonly index: number
  worker: Worker | undefined
  running: number
  spawnedAt: number
  quickExits: number
  respawnTimer: Timer | undefined
  /** Settles once a start under way is over (and, when the pool closed meanwhile, its worker closed). */
  starting: Promise<void> | undefined
}

interface Run {
  readonly upstreamId: number
  readonly localId: number
  readonly slot: Slot
  /** A broadcast subtask: reported with castDone/castFailed, ids in upstream's cast space. */
  readonly cast: boolean
  runTimer: Timer | undefined
  killTimer: Timer | undefined
  /** ETO was reported upstream; whatever the run says later is dropped. */
  timedOut: boolean
}

/** A worker that lived at least this long resets its respawn backoff. */
const STABLE_MS = 10_000

export class PoolCore {
  readonly #o: PoolCoreOptions
  readonly #upstream: PoolUpstream
  readonly #slots: Slot[]
  readonly #perWorker: number
  // runs by local id and by upstream id: both are sequential, so tables by id rather than Maps,
  // which churn the young generation at one insert and one delete per task (lib/id-table.ts).
  // Broadcast subtasks have upstream ids of their own, in a table of their own.
  readonly #runs = new IdTable<Run>()
  readonly #byUpstream = new IdTable<Run>()
  readonly #castsByUpstream = new IdTable<Run>()
  // task runs that timed out (or were abandoned) and have not ended: they still hold their slot.
  // A stuck cast holds none: broadcasts run outside the capacity, so they never take from it.
  #stuck = 0
  #nextLocal = 1
  #reportedCapacity: number
  #whenIdle: (() => void)[] = []
  #closed = false
  // aborted by close(): stops the starts under way (WorkerEvents.signal)
  readonly #closing = new AbortController()

  private constructor(options: PoolCoreOptions, upstream: PoolUpstream) {
    this.#o = options
    this.#upstream = upstream
    setMaxListeners(options.workers + 1, this.#closing.signal) // one per worker starting at once
    this.#perWorker = Math.ceil(options.capacity / options.workers)
    this.#slots = Array.from({ length: options.workers }, (_, index) => ({
      index, worker: undefined, running: 0, spawnedAt: 0, quickExits: 0, respawnTimer: undefined, starting: undefined,
    }))
    this.#reportedCapacity = options.capacity
  }

  /** Starts every worker; rejects (and stops those started) if one cannot start. */
  static async start(options: PoolCoreOptions, upstream: PoolUpstream): Promise<PoolCore> {
    const core = new PoolCore(options, upstream)
    try {
      await Promise.all(core.#slots.map((slot) => core.#spawn(slot)))
    } catch (err) {
      await core.close()
      throw err
    }
    return core
  }

  /** Tasks running now (including timed-out ones not yet stopped). */
  get running(): number {
    return this.#runs.size
  }

  /** Tasks the pool can take now: its capacity less dead workers' share and stuck task runs. */
  get capacity(): number {
    let alive = 0
    for (const slot of this.#slots) if (slot.worker !== undefined) alive++
    return Math.max(0, Math.min(this.#o.capacity, alive * this.#perWorker) - this.#stuck)
  }

  assign(a: PoolAssignment): void {
    const slot = this.#leastBusy()
    if (slot === undefined || this.#closed) {
      queueMicrotask(() => this.#upstream.failed(a.id, { code: 'EWORKERLOST', message: 'no worker of this pool is running' }))
      return
    }
    this.#start(slot, a.id, false, a.name, a.body, a.attempt, a.runTimeoutMs)
  }

  /**
   * Runs a broadcast subtask now, whatever the load: a job's `Class.__method` and `Class:reports`
   * always on the same worker (its home, where the job's one instance and its reports live), a
   * plain `__task` on the least busy.
   */
  cast(c: PoolCast): void {
    const job = parseJobName(c.name)
    const slot = job !== undefined ? this.#slots[homeIndex(job.className, this.#slots.length)] : this.#leastBusy()
    if (slot?.worker === undefined || this.#closed) {
      queueMicrotask(() => this.#upstream.castFailed(c.id, { code: 'EWORKERLOST', message: 'the worker that runs it is not running' }))
      return
    }
    this.#start(slot, c.id, true, c.name, c.body, 1, c.timeoutMs)
  }

  /** Lets cast `id` past barrier `name`. */
  release(id: number, name: string): void {
    const run = this.#castsByUpstream.get(id)
    if (run !== undefined) run.slot.worker?.release(run.localId, name)
  }

  #start(slot: Slot, upstreamId: number, cast: boolean, name: string, body: Uint8Array, attempt: number, runTimeoutMs: number | undefined): void {
    const run: Run = { upstreamId, localId: this.#nextLocal++, slot, cast, runTimer: undefined, killTimer: undefined, timedOut: false }
    this.#runs.set(run.localId, run)
    this.#upstreamIds(run).set(upstreamId, run)
    slot.running++
    if (runTimeoutMs !== undefined) run.runTimer = this.#o.clock.setTimer(runTimeoutMs, () => this.#timedOut(run, runTimeoutMs))
    ;(slot.worker as Worker).start({ id: run.localId, name, body, attempt })
  }

  #upstreamIds(run: Run): IdTable<Run> {
    return run.cast ? this.#castsByUpstream : this.#byUpstream
  }

  /**
   * Upstream gave up on `id` (its callers are gone): abort it, and kill its worker if it has not
   * returned `taskTimeoutKill` ms later, as for a run timeout; how it ends is still reported.
   */
  revoke(id: number): void {
    const run = this.#byUpstream.get(id)
    if (run !== undefined) this.#stop(run, new TroupeError('EABORT', 'every caller gave up on this task'))
  }

  /** The same for broadcast subtask `id` (its broadcast was withdrawn). */
  revokeCast(id: number): void {
    const run = this.#castsByUpstream.get(id)
    if (run !== undefined) this.#stop(run, new TroupeError('EABORT', 'the broadcast was withdrawn'))
  }

  /** Aborts `run`'s signal; a run that ignores it is stopped the hard way (a no-op for inline workers). */
  #stop(run: Run, why: TroupeError): void {
    run.slot.worker?.abort(run.localId, why)
    this.#killLater(run)
  }

  /** Kills `run`'s worker if the run has not ended `taskTimeoutKill` ms from now (or from an earlier call). */
  #killLater(run: Run): void {
    run.killTimer ??= this.#o.clock.setTimer(this.#o.taskTimeoutKillMs, () => {
      run.killTimer = undefined
      if (this.#runs.get(run.localId) === run) run.slot.worker?.kill()
    })
  }

  /** Aborts every run and forgets them upstream (the manager connection is gone). */
  abandonAll(reason: TroupeError): void {
    for (const byId of [this.#byUpstream, this.#castsByUpstream]) {
      for (const run of byId.drain()) {
        this.#orphan(run) // nothing more goes upstream for it; its run timeout only kills (#timedOut)
        run.slot.worker?.abort(run.localId, reason)
      }
    }
    // goes nowhere now, but records what the pool joins its next manager with, so that the end
    // of these runs is reported to that manager
    this.#capacityChanged()
  }

  /** Resolves once nothing runs. */
  idle(): Promise<void> {
    if (this.#runs.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#whenIdle.push(resolve))
  }

  /**
   * Stops every worker and every timer. Closing a worker aborts its runs; one whose run ignores
   * that is killed `taskTimeoutKill` ms later, as after a run timeout, rather than after the
   * worker's own exit grace. A worker still starting is stopped.
   */
  async close(): Promise<void> {
    this.#closed = true
    const { clock } = this.#o
    for (const slot of this.#slots) clock.clearTimer(slot.respawnTimer)
    for (const id of this.#runs.ids()) {
      const run = this.#runs.get(id) as Run
      clock.clearTimer(run.runTimer)
      run.runTimer = undefined
      this.#killLater(run)
    }
    this.#closing.abort(new TroupeError('ECLOSED', 'the pool closed'))
    // a worker that was up by then is closed by #spawn: wait for that too, or it outlives us
    await Promise.all(this.#slots.flatMap((slot) => [slot.worker?.close(), slot.starting]))
    // runs of inline workers may not have ended: their kill timers have nothing left to do
    for (const id of this.#runs.ids()) clock.clearTimer((this.#runs.get(id) as Run).killTimer)
  }

  #leastBusy(): Slot | undefined {
    let best: Slot | undefined
    for (const slot of this.#slots) {
      if (slot.worker === undefined) continue
      if (best === undefined || slot.running < best.running) best = slot
    }
    return best
  }

  #timedOut(run: Run, ms: number): void {
    run.runTimer = undefined
    const err = new TroupeError('ETO', `the ${run.cast ? 'subtask' : 'task'} ran longer than its ${run.cast ? 'broadcast timeout' : 'runTimeout'} of ${ms} ms`)
    // An abandoned run was aborted and counted stuck already, and upstream forgot its id (which a
    // new manager gives to another task): only its deadline is left to keep.
    if (!run.timedOut) {
      this.#orphan(run)
      this.#upstreamIds(run).take(run.upstreamId)
      this.#failedUpstream(run, { code: 'ETO', message: err.message })
      this.#capacityChanged()
    }
    this.#stop(run, err)
  }

  /** Upstream hears no more of `run`, which still runs: a task's keeps its slot until it ends. */
  #orphan(run: Run): void {
    run.timedOut = true
    if (!run.cast) this.#stuck++
  }

  /** A run ended one way or another; true when it should still be reported upstream. */
  #end(localId: number): Run | undefined {
    const run = this.#runs.take(localId)
    if (run === undefined) return undefined
    run.slot.running--
    this.#o.clock.clearTimer(run.runTimer)
    this.#o.clock.clearTimer(run.killTimer)
    if (!run.timedOut) this.#upstreamIds(run).take(run.upstreamId)
    else if (!run.cast) {
      this.#stuck--
      this.#capacityChanged()
    }
    if (this.#runs.size === 0 && this.#whenIdle.length > 0) for (const resolve of this.#whenIdle.splice(0)) resolve()
    return run.timedOut ? undefined : run
  }

  #eventsFor(slot: Slot): WorkerEvents {
    return {
      signal: this.#closing.signal,
      done: (id, body, ms) => {
        const run = this.#end(id)
        if (run === undefined) return
        if (run.cast) this.#upstream.castDone(run.upstreamId, body, ms)
        else this.#upstream.done(run.upstreamId, body, ms)
      },
      failed: (id, err) => {
        const run = this.#end(id)
        if (run !== undefined) this.#failedUpstream(run, err)
      },
      progress: (id, value) => {
        const run = this.#runs.get(id)
        if (run !== undefined && !run.timedOut && !run.cast) this.#upstream.progress(run.upstreamId, value)
      },
      barrier: (id, name) => {
        const run = this.#runs.get(id)
        if (run === undefined || run.timedOut) return
        // only a broadcast has other runs to wait for; a job method run as a plain task passes at once
        if (run.cast) this.#upstream.barrier(run.upstreamId, name)
        else slot.worker?.release(id, name)
      },
      exited: (why) => this.#exited(slot, why),
    }
  }

  /** Starts the slot's worker; `slot.starting` lets `close()` wait for it. */
  #spawn(slot: Slot): Promise<void> {
    let spawned: Promise<Worker>
    try {
      spawned = this.#o.spawn(slot.index, this.#eventsFor(slot))
    } catch (err) {
      // thrown from a respawn timer, it would crash the host: a failed start, retried with backoff
      spawned = Promise.reject(asError(err))
    }
    const starting = spawned.then(async (worker) => {
      slot.worker = worker
      slot.spawnedAt = this.#o.clock.now()
      if (this.#closed) await worker.close() // close() came while it started
    })
    const over = (): void => {
      slot.starting = undefined
    }
    slot.starting = starting.then(over, over)
    return starting
  }

  #exited(slot: Slot, why: string): void {
    slot.worker = undefined
    const lost: Run[] = []
    for (const id of this.#runs.ids()) {
      const run = this.#runs.get(id) as Run
      if (run.slot !== slot) continue
      const ended = this.#end(run.localId)
      if (ended !== undefined) lost.push(ended)
    }
    // the smaller capacity goes upstream first: told of the loss first, upstream would send the
    // task straight back here, to fail again without running and use up another attempt
    if (!this.#closed) this.#capacityChanged()
    for (const run of lost) this.#failedUpstream(run, { code: 'EWORKERLOST', message: `the worker running it exited: ${why}` })
    if (this.#closed) return
    this.#respawnLater(slot, this.#o.clock.now() - slot.spawnedAt >= STABLE_MS, why)
  }

  /**
   * Starts the slot's worker again after a delay that doubles with each quick exit in a row. A
   * start that fails is one too: counting from the last good start would take a worker that
   * was long stable for stable on every failed attempt, and retry at the first delay forever.
   */
  #respawnLater(slot: Slot, wasStable: boolean, why: string): void {
    if (this.#closed) return
    slot.quickExits = wasStable ? 0 : slot.quickExits + 1
    const delay = backoffDelay(this.#o.respawn, Math.max(0, slot.quickExits - 1))
    this.#o.lifecycle?.('exit', slot.index, why)
    slot.respawnTimer = this.#o.clock.setTimer(delay, () => {
      slot.respawnTimer = undefined
      this.#spawn(slot).then(
        () => {
          if (this.#closed) return // closed by #spawn already
          this.#capacityChanged()
          this.#o.lifecycle?.('start', slot.index)
        },
        () => this.#respawnLater(slot, false, 'it failed to start again'),
      )
    }, true)
  }

  #failedUpstream(run: Run, err: WireError): void {
    if (run.cast) this.#upstream.castFailed(run.upstreamId, err)
    else this.#upstream.failed(run.upstreamId, err)
  }

  #capacityChanged(): void {
    const capacity = this.capacity
    if (capacity === this.#reportedCapacity) return
    this.#reportedCapacity = capacity
    this.#upstream.capacity(capacity)
  }
}

/** The worker a job lives on: the same for a class name as long as the pool has as many workers. */
function homeIndex(className: string, workers: number): number {
  let hash = 0
  for (let i = 0; i < className.length; i++) hash = (hash * 31 + className.charCodeAt(i)) >>> 0
  return hash % workers
}
