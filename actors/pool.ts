/**
 * `WorkerPool`: runs tasks for a manager, or on its own for clients that connect to it directly
 * (standalone, API.md §4). A validated facade over a `PoolCore` and its workers; upstream is a
 * reconnecting manager connection or, standalone, an embedded `Manager` with this pool attached
 * in-process, so clients see exactly the same semantics either way.
 */
import { EventEmitter } from 'eventemitter3'
import { availableParallelism } from 'node:os'
import { systemClock } from '../lib/clock.js'
import { debug } from '../lib/debug.js'
import { Kind, type Envelope } from '../lib/envelope.js'
import { TroupeError, asError, configError } from '../lib/errors.js'
import { booleanOption, durationOption, integerOption, knownOptions, optionNames, optionsObject, pickOptions } from '../lib/options.js'
import { MANAGER_ACTOR, poolId, sysMsgTarget, type SysMsgTarget } from './control.js'
import { Manager, type LocalPoolReports } from './manager.js'
import { CLOSE_OPTIONS, DEFAULT_DRAIN_TIMEOUT_MS, type CloseOptions, type ManagerStats } from './manager-options.js'
import { NETWORK_OPTIONS, NETWORK_OPTION_NAMES, type NetworkOptions } from './network-options.js'
import type { Peer } from './peer.js'
import { PoolCore } from './pool-core.js'
import type { PoolUpstream } from './pool-upstream.js'
import { ManagerLink, type LinkOptions } from './manager-link.js'
import { backoffOption, type ReconnectOption } from './reconnector.js'
import { slotRanges } from './routing.js'
import { loadTasks, moduleUrl, type TaskModule, type TasksSource } from './tasks.js'
import { ChildWorker, InlineWorker, type ChildConfig, type Worker } from './workers.js'

export type PoolMode = 'process' | 'thread' | 'inline'

/** Options of `WorkerPool.start()`. */
export interface WorkerPoolOptions extends NetworkOptions {
  /** The manager to work for; omitted, the pool is standalone and `listen` is required. */
  manager?: string | undefined
  /** Standalone: where clients connect. */
  listen?: string | undefined
  /** A task module (URL or path), or an object of functions (inline pools only). */
  tasks: TasksSource
  /** Where tasks run (default: `process` for a module, `inline` for an object). */
  mode?: PoolMode | undefined
  /** Child processes or threads (default: the number of CPUs; 1 inline). */
  workers?: number | undefined
  /** Tasks at once (default: `workers`). */
  capacity?: number | undefined
  /** Slots guaranteed to priority ranges, e.g. `{ 1: 30, 2: 20 }` (API.md §4.3). */
  prioritySlots?: Record<number, number> | undefined
  /** Run code sent by `client.eval` (default false: `EEVAL`). */
  allowEval?: boolean | undefined
  /** Backoff of reconnecting to the manager and of respawning dead workers; false: no reconnect. */
  reconnect?: ReconnectOption
  /** Ms after a run timeout before a process or thread still running the task is killed (default 1000). */
  taskTimeoutKill?: number | undefined
  /** Standalone only, as on `Manager`: bounded queue, coalescing, attempts. */
  queueSize?: number | undefined
  coalesce?: boolean | undefined
  maxAttempts?: number | undefined
}

export interface WorkerPoolEvents {
  /** A system message for this pool. */
  sysmsg: [msg: unknown, fromId: string]
  /** Joined the manager (again, after a reconnect). */
  connected: [managerId: string]
  /** Lost the manager; its running tasks were abandoned (the manager re-queues them). */
  disconnected: [why: TroupeError]
  /** Worker `index` (a process or thread) exited; it is respawned with backoff. */
  workerExit: [index: number, why: string]
  /** Worker `index` is running again after an exit. */
  workerStart: [index: number]
}

/** What `stats()` reports of a pool working for a manager. */
export interface PoolStats {
  id: string
  mode: PoolMode
  workers: number
  capacity: number
  running: number
  connected: boolean
}

const POOL_OPTIONS = optionNames<WorkerPoolOptions>()(
  ...NETWORK_OPTION_NAMES, 'manager', 'listen', 'tasks', 'mode', 'workers', 'capacity', 'prioritySlots', 'allowEval',
  'reconnect', 'taskTimeoutKill', 'queueSize', 'coalesce', 'maxAttempts',
)
const DEFAULT_TASK_TIMEOUT_KILL_MS = 1000

export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  readonly #mode: PoolMode
  readonly #workers: number
  #core!: PoolCore
  // connected to a manager, on a connection other pools of this process may share
  #link: ManagerLink | undefined
  #slot = 0
  #id = ''
  // the connection whose join the manager has answered: it refuses a PoolState from a pool it has
  // not taken yet (the join waits in its mailbox), so changes during a join go out after it
  #joined: Peer | undefined
  // standalone
  #manager: Manager | undefined
  #reports: LocalPoolReports | undefined
  #draining = false
  #closing: Promise<void> | undefined

  private constructor(mode: PoolMode, workers: number) {
    super()
    this.#mode = mode
    this.#workers = workers
  }

  /**
   * Starts the workers, then joins the manager (or listens, standalone).
   * @throws TroupeError `ECONFIG` (bad option, task module that does not load), `EAUTH`, `ECLOSED`
   * @example
   * const pool = await WorkerPool.start({ manager: 'tcp://mgr:8000', key, tasks: new URL('./tasks.js', import.meta.url) })
   */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const o = knownOptions('WorkerPool.start()', options, POOL_OPTIONS)
    if ((o.manager === undefined) === (o.listen === undefined)) throw configError('manager / listen', 'exactly one of them (listen for a standalone pool)', { manager: o.manager, listen: o.listen })
    const source = o.tasks
    const isModule = typeof source === 'string' || source instanceof URL
    if (!isModule && (typeof source !== 'object' || source === null)) throw configError('tasks', 'a module URL, a path or an object of functions', source)
    const mode = o.mode ?? (isModule ? 'process' : 'inline')
    if (mode !== 'process' && mode !== 'thread' && mode !== 'inline') throw configError('mode', "'process', 'thread' or 'inline'", mode)
    if (!isModule && mode !== 'inline') throw configError('tasks', `a module URL or path in ${mode} mode (functions cannot be sent to another ${mode})`, source)
    // an inline pool runs on one event loop; `workers` still sets its default capacity
    const requestedWorkers = integerOption('workers', o.workers, availableParallelism(), 1, 1024)
    const workers = mode === 'inline' ? 1 : requestedWorkers
    const capacity = integerOption('capacity', o.capacity, requestedWorkers, 1)
    const ranges = slotRanges(o.prioritySlots, capacity)
    const allowEval = booleanOption('allowEval', o.allowEval, false)
    const taskTimeoutKillMs = durationOption('taskTimeoutKill', o.taskTimeoutKill, DEFAULT_TASK_TIMEOUT_KILL_MS)
    const respawn = backoffOption(o.reconnect === false ? {} : optionsObject('reconnect', o.reconnect ?? {}))

    const pool = new WorkerPool(mode, workers)
    const tasks: TaskModule | undefined = mode === 'inline' ? await loadTasks(source) : undefined
    const childConfig = isModule ? { tasks: moduleUrl(source as URL | string), allowEval } : undefined
    pool.#core = await PoolCore.start({
      workers,
      capacity,
      taskTimeoutKillMs,
      respawn,
      clock: systemClock,
      lifecycle: (event, index, why) => {
        if (event === 'exit') pool.emit('workerExit', index, why ?? '')
        else pool.emit('workerStart', index)
      },
      spawn: (_index, events): Promise<Worker> => {
        if (mode === 'inline') return Promise.resolve(new InlineWorker(tasks as TaskModule, allowEval, events, systemClock))
        if (mode === 'thread') return ChildWorker.spawnThread(childConfig as ChildConfig, events, systemClock)
        return ChildWorker.spawnProcess(childConfig as ChildConfig, events, systemClock)
      },
    }, pool.#upstream())

    try {
      if (o.listen !== undefined) {
        const manager = await Manager.start({
          ...pickOptions(o, NETWORK_OPTIONS),
          listen: o.listen,
          queueSize: o.queueSize,
          coalesce: o.coalesce,
          maxAttempts: o.maxAttempts,
        })
        pool.#manager = manager
        manager.on('sysmsg', (msg, from) => pool.emit('sysmsg', msg, from))
        pool.#reports = manager.attachLocalPool(pool.#core, pool.#core.capacity, ranges, allowEval)
      } else {
        await pool.#connect(o.manager as string, o, { prioritySlots: o.prioritySlots, slotCapacity: capacity, allowEval })
      }
    } catch (err) {
      await pool.#core.close()
      throw err
    }
    return pool
  }

  /**
   * The pool's id: its node's (standalone: also the id clients see as their manager's); for the
   * second and later pools sharing a connection to the manager, `node.slot`.
   */
  get id(): string {
    return this.#manager?.id ?? this.#id
  }

  /** Standalone: the real address clients connect to. */
  get address(): string | undefined {
    return this.#manager?.address
  }

  /** A standalone pool reports like a manager; a connected one reports its own state. */
  stats(): PoolStats | ManagerStats {
    if (this.#manager !== undefined) return this.#manager.stats()
    return { id: this.id, mode: this.#mode, workers: this.#workers, capacity: this.#core.capacity, running: this.#core.running, connected: this.#link?.peer !== undefined }
  }

  /** Sends a system message (see `Client.systemMessage`). */
  async systemMessage(msg: unknown, options?: { to?: SysMsgTarget }): Promise<string[]> {
    if (this.#manager !== undefined) return this.#manager.systemMessage(msg, options)
    const to = sysMsgTarget(options)
    const peer = this.#link?.peer
    if (peer === undefined) throw new TroupeError('ECLOSED', 'not connected to the manager')
    return peer.ref(MANAGER_ACTOR).ask({ op: 'sysmsg', to, msg, pool: this.#slot }) as Promise<string[]>
  }

  /**
   * Closes the pool. With `drain`, it first takes no new task and lets running ones finish, and
   * a standalone pool the tasks it had queued too (bounded by `timeout`, default 30 s); then
   * running tasks are aborted.
   */
  close(options: CloseOptions = {}): Promise<void> {
    let o: CloseOptions
    try {
      o = knownOptions('pool.close()', options, CLOSE_OPTIONS)
    } catch (err) {
      return Promise.reject(err)
    }
    this.#closing ??= this.#close(o)
    return this.#closing
  }

  async #close(o: CloseOptions): Promise<void> {
    if (booleanOption('drain', o.drain, false)) {
      const timeoutMs = durationOption('timeout', o.timeout, DEFAULT_DRAIN_TIMEOUT_MS)
      if (this.#manager !== undefined) {
        // standalone: its own manager refuses new tasks and runs what it queued here, as any drains
        await this.#manager.close({ drain: true, timeout: timeoutMs })
      } else {
        this.#draining = true
        this.#sendState()
        let timer: NodeJS.Timeout | undefined
        await Promise.race([this.#core.idle(), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))])
        clearTimeout(timer)
      }
    }
    const link = this.#link
    this.#link = undefined // off the connection: it reports nothing more, and sends nothing
    await link?.detach(this.#slot)
    await this.#manager?.close()
    await this.#core.close()
  }

  // ---- upstream --------------------------------------------------------------------------------

  /**
   * What the core reports goes to `#reports`: the embedded manager (standalone) or the manager
   * connection. Read on each call: the core starts before either is set, and reports nothing
   * until then.
   */
  #upstream(): PoolUpstream {
    return {
      done: (id, body, ms) => this.#reports?.done(id, body, ms),
      failed: (id, err) => this.#reports?.failed(id, err),
      progress: (id, value) => this.#reports?.progress(id, value),
      capacity: (capacity) => this.#reports?.state(capacity, this.#draining),
      castDone: (id, body, ms) => this.#reports?.castDone(id, body, ms),
      castFailed: (id, err) => this.#reports?.castFailed(id, err),
      barrier: (id, name) => this.#reports?.barrier(id, name),
    }
  }

  /** Reports as envelopes to the manager; dropped while disconnected (the manager re-queues what it gave us). */
  #managerReports(): LocalPoolReports {
    const pool = this.#slot
    const send = (env: Envelope): void => {
      try {
        this.#link?.peer?.send(env)
      } catch {
        // EFRAME: only a barrier's name, the task's own, can make one too large; not heard, its
        // broadcast times out
      }
    }
    return {
      done: (id, body, ms) => this.#link?.peer?.sendOutcome({ k: Kind.Done, id, body, ms, pool }),
      failed: (id, err) => this.#link?.peer?.sendOutcome({ k: Kind.Failed, id, err, pool }),
      // advisory, as the manager treats it: dropped while the manager reads slower than tasks report
      progress: (id, value) => {
        if (this.#link?.peer?.congested === false) send({ k: Kind.Progress, id, value, pool })
      },
      state: (capacity, draining) => {
        const peer = this.#link?.peer
        if (peer !== undefined && peer === this.#joined) peer.send({ k: Kind.PoolState, capacity, draining, pool })
      },
      castDone: (id, body, ms) => this.#link?.peer?.sendOutcome({ k: Kind.CastDone, id, body, ms, pool }),
      castFailed: (id, err) => this.#link?.peer?.sendOutcome({ k: Kind.CastFailed, id, err, pool }),
      barrier: (id, name) => send({ k: Kind.Barrier, id, name, pool }),
    }
  }

  #sendState(): void {
    this.#reports?.state(this.#core.capacity, this.#draining)
  }

  async #connect(url: string, o: LinkOptions, join: JoinRequest): Promise<void> {
    const attached = ManagerLink.attach(url, o, {
      join: async (peer, slot, timeoutMs) => {
        const reply = (await this.#join(peer, slot, join, timeoutMs)) as { manager: string; pool?: number }
        if (slot !== 0 && reply.pool !== slot) {
          throw new TroupeError('EPROTO', 'the manager does not take several pools on one connection (a version before pools shared one)')
        }
        this.#joined = peer
        this.#sendState() // what changed while the join was on its way
        debug('pool %s joined manager %s', this.id, reply.manager)
        // a throwing listener is the caller's bug: it must not fail the join, which would rejoin forever
        try {
          this.emit('connected', reply.manager)
        } catch (caught) {
          debug('a connected listener threw: %s', asError(caught).stack)
        }
      },
      disconnected: (why) => {
        // work may have come before the join's answer: dropped all the same (the manager re-queues it)
        this.#core.abandonAll(new TroupeError('ECLOSED', 'the pool lost its manager', { cause: why }))
        if (this.#joined === undefined) return // it never joined on that connection: nothing to report
        this.#joined = undefined
        this.emit('disconnected', why)
      },
      fromManager: (env) => this.#fromManager(env),
      sysmsg: (msg, from) => this.emit('sysmsg', msg, from),
    })
    // set before the join: the manager may assign work as soon as it has taken the pool, before its answer arrives
    this.#link = attached.link
    this.#slot = attached.slot
    this.#id = poolId(attached.link.id, attached.slot)
    this.#reports = this.#managerReports()
    await attached.joined
  }

  /**
   * Asks the manager to take this pool, within the rest of connectTimeout: a peer that completes
   * the handshake but never answers would otherwise hold start(), or a reconnect, forever.
   * @throws TroupeError `ECLOSED` when it does not answer in time (the link retries that)
   */
  async #join(peer: Peer, slot: number, join: JoinRequest, timeoutMs: number): Promise<unknown> {
    // a pool draining when its manager restarted joins the new one draining: it takes nothing new
    const request = { op: 'join', pool: slot, ...join, capacity: this.#core.capacity, draining: this.#draining }
    try {
      return await peer.ref(MANAGER_ACTOR).ask(request, { timeout: timeoutMs })
    } catch (err) {
      const e = err as TroupeError
      if (e.code !== 'ECSTO') throw e
      throw new TroupeError('ECLOSED', `the manager did not answer the join within ${timeoutMs} ms`, { cause: e })
    }
  }

  #fromManager(env: Envelope): void {
    if (env.k === Kind.Assign) {
      // the body is used at once (decoded inline, or framed again for a child): no copy
      this.#core.assign({ id: env.id, name: env.name, body: env.body, attempt: env.attempt, runTimeoutMs: env.runTimeoutMs })
    } else if (env.k === Kind.Revoke) {
      this.#core.revoke(env.id)
    } else if (env.k === Kind.Cast) {
      this.#core.cast({ id: env.id, name: env.name, body: env.body, timeoutMs: env.timeoutMs })
    } else if (env.k === Kind.Release) {
      this.#core.release(env.id, env.name)
    } else if (env.k === Kind.CastRevoke) {
      this.#core.revokeCast(env.id)
    }
  }
}

/** What a pool tells the manager of itself when it joins, besides its capacity of the moment. */
interface JoinRequest {
  prioritySlots: unknown
  slotCapacity: number
  allowEval: boolean
}
