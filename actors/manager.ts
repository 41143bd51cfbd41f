/**
 * `Manager`: where clients queue tasks and pools take them (API.md §4). A validated facade over
 * an `ActorSystem` that listens, the `Dispatcher` that holds the queue, and the links that turn
 * each connected peer into a client, a pool, or both. Its options and stats are in
 * manager-options.ts; what it does with each envelope a peer sends, in manager-envelope.ts.
 */
import { EventEmitter } from 'eventemitter3'
import { debug } from '../lib/debug.js'
import type { WireError } from '../lib/envelope.js'
import { TroupeError, configError } from '../lib/errors.js'
import { booleanOption, durationOption, integerOption, knownOptions, limitOption } from '../lib/options.js'
import { Broadcasts, type CastTarget } from './broadcasts.js'
import { MANAGER_ACTOR, MAX_POOLS_PER_CONNECTION, NODE_ACTOR, poolId, sysMsgTarget, type ManagerRequest, type SysMsgTarget } from './control.js'
import { Dispatcher } from './dispatcher.js'
import { managerEnvelope, type EnvelopeHost } from './manager-envelope.js'
import { PoolLink, type PeerLinks } from './manager-links.js'
import {
  CLOSE_OPTIONS,
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_QUEUE_SIZE,
  MANAGER_OPTIONS,
  type CloseOptions,
  type ManagerOptions,
  type ManagerStats,
} from './manager-options.js'
import type { Peer } from './peer.js'
import type { PoolAssignment, PoolCast } from './pool-upstream.js'
import type { PoolHandle } from './pool-entry.js'
import { slotRanges, type SlotRanges, type TaskInfo, type WorkerInfo } from './routing.js'
import type { ActorContext } from './actor.js'
import { ActorSystem } from './system.js'

export interface ManagerEvents {
  /** A pool joined. */
  worker: [info: WorkerInfo]
  /** A pool disconnected while running `running` tasks (they were re-queued or failed). */
  workerLost: [id: string, running: number]
  /** A task was refused because the queue was full. */
  rejected: [task: TaskInfo, clientId: string]
  /** A system message for this manager. */
  sysmsg: [msg: unknown, fromId: string]
  /** A task waited longer than its `assignTimeout`. */
  assignTimeout: [task: TaskInfo, clientId: string]
}

/**
 * Routes tasks from clients to pools.
 * @example
 * const manager = await Manager.start({ listen: 'tcp://127.0.0.1:8000', key })
 */
export class Manager extends EventEmitter<ManagerEvents> {
  readonly #system: ActorSystem
  readonly #dispatcher: Dispatcher
  readonly #links = new Map<Peer, PeerLinks>()
  readonly #peersById = new Map<string, Peer>()
  readonly #broadcasts: Broadcasts
  // every pool a broadcast reaches, in the order they joined
  readonly #castTargets = new Map<string, CastTarget>()
  readonly #poolWaiters = new Set<() => void>()
  #addresses: string[] = []
  #closing: Promise<void> | undefined
  // ends a draining close's wait: called by the dispatcher's idle()
  #idle: (() => void) | undefined

  private constructor(system: ActorSystem, dispatcher: (events: Manager) => Dispatcher) {
    super()
    this.#system = system
    this.#dispatcher = dispatcher(this)
    this.#broadcasts = new Broadcasts(system.clock)
  }

  /**
   * Starts a manager listening on `options.listen`.
   * @throws TroupeError `ECONFIG` (bad option, address in use), `EAUTH` (non-loopback without key)
   */
  static async start(options: ManagerOptions): Promise<Manager> {
    const o = knownOptions('Manager.start()', options, MANAGER_OPTIONS)
    const urls = typeof o.listen === 'string' ? [o.listen] : o.listen
    if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === 'string')) {
      throw configError('listen', 'a URL or an array of URLs', o.listen)
    }
    if (o.selectWorker !== undefined && typeof o.selectWorker !== 'function') throw configError('selectWorker', 'a function', o.selectWorker)
    const settings = {
      queueSize: limitOption('queueSize', o.queueSize, DEFAULT_QUEUE_SIZE),
      maxAttempts: integerOption('maxAttempts', o.maxAttempts, DEFAULT_MAX_ATTEMPTS, 1),
      coalesce: booleanOption('coalesce', o.coalesce, false),
      sacredGuarantees: booleanOption('sacredGuarantees', o.sacredGuarantees, false),
      selectWorker: o.selectWorker,
    }
    const system = new ActorSystem({ ...o, name: 'manager' })
    const manager = new Manager(system, (m) => new Dispatcher({ ...settings, clock: system.clock, events: m.#dispatcherEvents() }))
    const envelopes = manager.#envelopeHost()
    system.extend({
      envelope: (peer, env) => managerEnvelope(envelopes, peer, env),
      peerOpened: (peer) => manager.#peersById.set(peer.id, peer),
      peerClosed: (peer) => manager.#peerClosed(peer),
    })
    // overlap: awaiting pools or a system message's acks must not hold up a pool's join
    system.spawn(MANAGER_ACTOR, (request: ManagerRequest, ctx) => manager.#control(request, ctx), { overlap: true })
    try {
      for (const url of urls) manager.#addresses.push(await system.listen(url, o))
    } catch (err) {
      await system.close()
      throw err
    }
    debug('manager %s listening on %s', system.id, manager.#addresses.join(', '))
    return manager
  }

  /** Unique id of this manager. */
  get id(): string {
    return this.#system.id
  }

  /** The first real address, e.g. `tcp://127.0.0.1:43121`. */
  get address(): string {
    return this.#addresses[0] as string
  }

  /** Every real address, in the order of `listen`. */
  get addresses(): readonly string[] {
    return this.#addresses
  }

  /**
   * @internal Attaches a pool running in this process (a standalone `WorkerPool`). Returns
   * where it reports; it must never report synchronously from `assign()`.
   */
  attachLocalPool(pool: LocalPool, capacity: number, ranges: SlotRanges, allowEval: boolean): LocalPoolReports {
    const d = this.#dispatcher
    const handle: PoolHandle & CastTarget = {
      id: this.id,
      assign: (id, run) => pool.assign({ id, name: run.name, body: run.body, attempt: run.attempts, runTimeoutMs: run.runTimeoutMs }),
      revoke: (id) => pool.revoke(id),
      cast: (id, name, body, timeoutMs) => pool.cast({ id, name, body, timeoutMs }),
      release: (id, name) => pool.release(id, name),
      revokeCast: (id) => pool.revokeCast(id),
    }
    d.poolJoined(handle, capacity, ranges, allowEval)
    this.#castTargetJoined(handle)
    return {
      done: (id, body, ms) => d.done(handle, id, body, ms),
      failed: (id, err) => d.failed(handle, id, err),
      progress: (id, value) => d.progress(handle, id, value),
      state: (capacity, draining) => d.poolState(handle, capacity, draining),
      castDone: (id, body, ms) => this.#broadcasts.done(handle, id, body, ms),
      castFailed: (id, err) => this.#broadcasts.failed(handle, id, err),
      barrier: (id, name) => this.#broadcasts.barrier(handle, id, name),
    }
  }

  stats(): ManagerStats {
    const pools = this.#dispatcher.pools
    let clients = 0
    for (const links of this.#links.values()) if (links.client !== undefined) clients++
    return {
      id: this.id,
      workers: pools.length,
      capacity: pools.reduce((n, p) => n + p.capacity, 0),
      busy: pools.reduce((n, p) => n + p.running, 0),
      queued: this.#dispatcher.queued,
      ...this.#dispatcher.counts,
      clients,
      pools,
    }
  }

  /**
   * Sends `msg` to `to` (`'manager'` is this manager itself, a node id, or everyone when
   * omitted) and resolves with the ids of the recipients that acknowledged it.
   */
  async systemMessage(msg: unknown, options?: { to?: SysMsgTarget }): Promise<string[]> {
    return this.#deliverSysMsg(msg, sysMsgTarget(options), this.id)
  }

  /**
   * Closes the manager. With `drain`, it first takes no new task and lets queued and running
   * ones finish (bounded by `timeout`). Then it closes every connection: clients keep what is
   * still open and send it again to the manager they reconnect to (or fail it with `ECLOSED`
   * when they do not reconnect).
   */
  close(options: CloseOptions = {}): Promise<void> {
    let o: CloseOptions
    try {
      o = knownOptions('manager.close()', options, CLOSE_OPTIONS)
    } catch (err) {
      return Promise.reject(err)
    }
    this.#closing ??= this.#close(o)
    return this.#closing
  }

  async #close(o: CloseOptions): Promise<void> {
    if (booleanOption('drain', o.drain, false)) {
      this.#dispatcher.drain()
      const timeoutMs = durationOption('timeout', o.timeout, DEFAULT_DRAIN_TIMEOUT_MS)
      if (!this.#dispatcher.idle) {
        await new Promise<void>((resolve) => {
          const timer = this.#system.clock.setTimer(timeoutMs, resolve)
          this.#idle = () => {
            this.#system.clock.clearTimer(timer)
            resolve()
          }
        })
      }
    }
    await this.#system.close()
  }

  // ---- wiring ------------------------------------------------------------------------------------

  #dispatcherEvents() {
    return {
      rejected: (task: TaskInfo, client: string) => this.emit('rejected', task, client),
      assignTimeout: (task: TaskInfo, client: string) => this.emit('assignTimeout', task, client),
      workerLost: (pool: string, running: number) => this.emit('workerLost', pool, running),
      idle: () => this.#idle?.(), // a draining close may be waiting for it
    }
  }

  #envelopeHost(): EnvelopeHost {
    return {
      dispatcher: this.#dispatcher,
      broadcasts: this.#broadcasts,
      castTargets: this.#castTargets,
      links: this.#links,
      linksOf: (peer) => this.#linksOf(peer),
    }
  }

  #linksOf(peer: Peer): PeerLinks {
    let links = this.#links.get(peer)
    if (links === undefined) this.#links.set(peer, (links = {}))
    return links
  }

  // A node that reconnected before its old connection closed (same id) is already on a new peer
  // and link: only what still belongs to the closing one is removed.
  #peerClosed(peer: Peer): void {
    if (this.#peersById.get(peer.id) === peer) this.#peersById.delete(peer.id)
    const links = this.#links.get(peer)
    this.#links.delete(peer)
    if (links?.client !== undefined) this.#dispatcher.clientGone(links.client)
    this.#broadcasts.withdrawAll(peer) // not re-sent after a reconnect: nobody waits for them
    for (const pool of links?.pools?.values() ?? []) this.#poolGone(pool)
  }

  /** Its running tasks go back to the queue, its broadcast runs fail `EWORKERLOST`. */
  #poolGone(pool: PoolLink): void {
    this.#dispatcher.poolGone(pool)
    if (this.#castTargets.get(pool.id) === pool) this.#castTargets.delete(pool.id)
    this.#broadcasts.targetGone(pool)
  }

  #castTargetJoined(target: CastTarget): void {
    this.#castTargets.set(target.id, target)
    for (const check of this.#poolWaiters) check()
  }

  /** Resolves once `count` pools are connected; `EATO` after `timeoutMs`. */
  #awaitPools(count: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<number> {
    return new Promise((resolve, reject) => {
      const clock = this.#system.clock
      const end = (err: TroupeError | null): void => {
        this.#poolWaiters.delete(check)
        clock.clearTimer(timer)
        signal?.removeEventListener('abort', abort)
        if (err === null) resolve(this.#castTargets.size)
        else reject(err)
      }
      const check = (): void => {
        if (this.#castTargets.size >= count) end(null)
      }
      const abort = (): void => end(new TroupeError('EABORT', 'the caller gave up'))
      const timer = clock.setTimer(timeoutMs, () => end(new TroupeError('EATO', `${this.#castTargets.size} of ${count} pools connected within ${timeoutMs} ms`)))
      signal?.addEventListener('abort', abort, { once: true })
      this.#poolWaiters.add(check)
      check()
    })
  }

  #control(request: ManagerRequest, ctx: ActorContext): unknown {
    const from = ctx.from
    switch (request?.op) {
      case 'join': {
        const peer = from === undefined ? undefined : this.#peersById.get(from)
        if (peer === undefined) throw new TroupeError('ECONFIG', 'only a connected pool can join')
        const slot = poolSlot(request.pool)
        const links = this.#linksOf(peer)
        if (links.pools?.has(slot) === true) return { manager: this.id, pool: slot }
        if ((links.pools?.size ?? 0) >= MAX_POOLS_PER_CONNECTION) throw new TroupeError('ECONFIG', `at most ${MAX_POOLS_PER_CONNECTION} pools share one connection`)
        const capacity = integerOption('capacity', request.capacity, 1, 0)
        // slots are checked against the capacity the pool was configured with: it rejoins with
        // less while a worker is down or a timed-out run still holds its slot
        const slotCapacity = request.slotCapacity === undefined ? capacity : integerOption('slotCapacity', request.slotCapacity, capacity, capacity)
        const ranges = slotRanges(request.prioritySlots, slotCapacity)
        const pool = new PoolLink(peer, slot, (p, id, err) => this.#dispatcher.failed(p, id, err))
        ;(links.pools ??= new Map()).set(slot, pool)
        const info = this.#dispatcher.poolJoined(pool, capacity, ranges, request.allowEval === true, request.draining === true)
        this.#castTargetJoined(pool)
        this.emit('worker', info)
        return { manager: this.id, pool: slot }
      }
      case 'leave': {
        const peer = from === undefined ? undefined : this.#peersById.get(from)
        const pools = peer === undefined ? undefined : this.#links.get(peer)?.pools
        const pool = pools?.get(poolSlot(request.pool))
        if (pool !== undefined) {
          pools?.delete(pool.slot)
          this.#poolGone(pool)
        }
        return true
      }
      case 'stats':
        return this.stats()
      case 'sysmsg':
        return this.#deliverSysMsg(request.msg, request.to, from === undefined ? this.id : poolId(from, poolSlot(request.pool)))
      case 'awaitPools':
        return this.#awaitPools(integerOption('workers', request.count, 1, 0), integerOption('timeout', request.timeoutMs, 30_000, 1), ctx.signal)
      default:
        throw new TroupeError('ECONFIG', `unknown manager request ${JSON.stringify((request as { op?: unknown })?.op)}`)
    }
  }

  /** Delivers to every recipient (never back to the sender); resolves with those that acknowledged. */
  async #deliverSysMsg(msg: unknown, to: SysMsgTarget, from: string): Promise<string[]> {
    const everyone = to === undefined
    const acked: string[] = []
    if ((everyone || to === 'manager' || to === this.id) && from !== this.id) {
      this.emit('sysmsg', msg, from)
      acked.push(this.id)
    }
    // each client, and each pool: those sharing a connection one by one
    const recipients: { peer: Peer; id: string; pool?: number }[] = []
    for (const peer of this.#peersById.values()) {
      const pools = this.#links.get(peer)?.pools
      if (pools === undefined || pools.size === 0) recipients.push({ peer, id: peer.id })
      else for (const pool of pools.values()) recipients.push({ peer, id: pool.id, pool: pool.slot })
    }
    const chosen = recipients.filter((r) => r.id !== from && (everyone || r.id === to))
    const results = await Promise.allSettled(chosen.map((r) => r.peer.ref(NODE_ACTOR).ask({ op: 'sysmsg', from, msg, pool: r.pool }, { timeout: SYSMSG_TIMEOUT_MS })))
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') acked.push((chosen[i] as { id: string }).id)
    })
    return acked
  }
}

/** A pool in the manager's own process. */
export interface LocalPool {
  assign(a: PoolAssignment): void
  revoke(id: number): void
  cast(c: PoolCast): void
  release(id: number, name: string): void
  revokeCast(id: number): void
}

/** Where a local pool reports. */
export interface LocalPoolReports {
  done(id: number, body: Uint8Array, ms: number): void
  failed(id: number, err: WireError): void
  progress(id: number, value: number): void
  state(capacity: number, draining: boolean): void
  castDone(id: number, body: Uint8Array, ms: number): void
  castFailed(id: number, err: WireError): void
  barrier(id: number, name: string): void
}

/** The highest slot a pool may have (they are numbered from 0). */
const MAX_POOL_SLOT = 2 ** 31

/** The `pool` of a control request: the slot of the pool asking, 0 when absent. @throws TroupeError `ECONFIG` */
function poolSlot(value: unknown): number {
  return integerOption('pool', value, 0, 0, MAX_POOL_SLOT)
}

/** Bound on each recipient's acknowledgement of a system message. */
const SYSMSG_TIMEOUT_MS = 10_000
