/**
 * The connection from this process to a manager, shared by every pool here that works for it
 * with the same connection options (LINK_OPTIONS): one socket, one handshake, one heartbeat.
 * Pools in one process then answer a broadcast in one write, not one each (bench broadcast.tcp.4: each write on loopback
 * costs about 10 µs of a 2-core machine). Each pool joins under a number of its own, its slot,
 * which the envelopes between the manager and its pools carry as `pool` (docs/PROTOCOL.md).
 */
import { Kind, type Envelope, type WireError } from '../lib/envelope.js'
import { TroupeError } from '../lib/errors.js'
import { optionNames, pickOptions } from '../lib/options.js'
import { MANAGER_ACTOR, MAX_POOLS_PER_CONNECTION, hostNodeActor } from './control.js'
import { NETWORK_OPTION_NAMES, connectTimeoutMs, type NetworkOptions } from './network-options.js'
import type { Peer } from './peer.js'
import { Reconnector, type ReconnectOption } from './reconnector.js'
import { ActorSystem } from './system.js'

/** What a link needs of each pool on it. */
export interface LinkedPool {
  /** Asks the manager on `peer` to take this pool as `slot`, within `timeoutMs`. */
  join(peer: Peer, slot: number, timeoutMs: number): Promise<void>
  /** The connection is gone; the link reconnects (unless `reconnect: false`) and joins again. */
  disconnected(why: TroupeError): void
  /** Assign, Revoke, Cast, Release or CastRevoke for this pool. */
  fromManager(env: Envelope): void
  sysmsg(msg: unknown, from: string): void
}

export type LinkOptions = NetworkOptions & { reconnect?: ReconnectOption }
/** The options a link is made with; pools whose other options differ still share one. */
const LINK_OPTIONS = optionNames<LinkOptions>()(...NETWORK_OPTION_NAMES, 'reconnect')

/** A pool on a link: where it sends, and the promise of its first join. */
export interface Attachment {
  link: ManagerLink
  slot: number
  joined: Promise<void>
}

/** Links that more pools may share, by URL and options. */
const shared = new Map<string, ManagerLink>()

export class ManagerLink {
  readonly #system: ActorSystem
  readonly #reconnector: Reconnector
  readonly #pools = new Map<number, LinkedPool>()
  readonly #sharedAs: string | undefined
  readonly #timeoutMs: number
  readonly #first: Promise<void>
  // each pool's join on the connection it was last joined on, once started: a pool that comes
  // while the link connects would otherwise join twice, by the link and by itself
  readonly #joins = new Map<number, { peer: Peer; done: Promise<void> }>()
  // pools waiting to join while the connection is down
  readonly #waiting = new Set<() => void>()
  #nextSlot = 0

  private constructor(url: string, options: LinkOptions, sharedAs: string | undefined) {
    this.#sharedAs = sharedAs
    this.#timeoutMs = connectTimeoutMs(options)
    const system = new ActorSystem({ ...options, name: 'pool' })
    this.#system = system
    hostNodeActor(system, (msg, from, slot) => {
      for (const [s, pool] of this.#pools) if (slot === undefined || slot === s) pool.sysmsg(msg, from)
    })
    system.extend({ envelope: (peer, env) => this.#fromManager(peer, env) })
    this.#reconnector = new Reconnector(system, url, options, {
      connected: async (peer, timeoutMs) => {
        const pools = [...this.#pools]
        const joins = await Promise.allSettled(pools.map(([slot, pool]) => this.#joinOn(peer, slot, pool, timeoutMs)))
        const refused = joins.find((join) => join.status === 'rejected')
        if (refused !== undefined) {
          // the pools connect together: the attempt fails, its connection closes, and the pools
          // that had joined on it hear that as they would any loss (the Reconnector does not
          // report the loss of a connection still being set up)
          const why = refused.reason as TroupeError // a join fails with nothing else
          for (const [i, join] of joins.entries()) if (join.status === 'fulfilled') (pools[i] as [number, LinkedPool])[1].disconnected(why)
          throw why
        }
        for (const wake of this.#waiting) wake()
      },
      disconnected: (why) => {
        for (const pool of this.#pools.values()) pool.disconnected(why)
      },
      lost: () => this.#unshare(),
    })
    this.#first = this.#reconnector.start()
  }

  /**
   * Puts `pool` on the link to `url`: a shared one when the options match one's (and carry no
   * `signal`, which bounds one pool's start only), a new one otherwise. `joined` rejects as
   * `WorkerPool.start()` does, and the pool is then off the link.
   */
  static attach(url: string, poolOptions: LinkOptions, pool: LinkedPool): Attachment {
    const options = pickOptions(poolOptions, LINK_OPTIONS)
    const key = options.signal === undefined ? sharingKey(url, options) : undefined
    let link = key === undefined ? undefined : shared.get(key)
    if (link === undefined || link.#pools.size >= MAX_POOLS_PER_CONNECTION) {
      link = new ManagerLink(url, options, key)
      if (key !== undefined) shared.set(key, link)
    }
    const slot = link.#nextSlot++
    link.#pools.set(slot, pool)
    return { link, slot, joined: link.#join(slot, pool) }
  }

  /** The node id the manager knows this process's pools by. */
  get id(): string {
    return this.#system.id
  }

  /** The connection, while it is up. */
  get peer(): Peer | undefined {
    return this.#reconnector.peer
  }

  /**
   * Takes pool `slot` off the link. The manager hears it leave (and re-queues its running
   * tasks); the last pool off closes the connection, which tells the manager the same.
   */
  async detach(slot: number): Promise<void> {
    if (!this.#pools.delete(slot)) return
    this.#joins.delete(slot)
    if (this.#pools.size === 0) {
      this.#unshare()
      await this.#reconnector.close()
      await this.#system.close()
      return
    }
    const peer = this.peer
    if (peer === undefined) return // the manager forgot every pool of this connection when it closed
    try {
      await peer.ref(MANAGER_ACTOR).ask({ op: 'leave', pool: slot }, { timeout: this.#timeoutMs })
    } catch {
      // unheard (a full mailbox, a manager that does not answer): it would keep giving this slot
      // work, each answered EWORKERLOST at the cost of an attempt. Closing the connection tells it
      // for certain; the other pools reconnect and join again.
      await peer.close()
    }
  }

  async #join(slot: number, pool: LinkedPool): Promise<void> {
    const deadline = this.#system.clock.now() + this.#timeoutMs
    try {
      // a new link joins its pools as it connects; the pools joining an older one join here
      await this.#first
      for (let tried: Peer | undefined; ; ) {
        const peer = this.peer
        // down, or still the connection the last try failed on (closing, or a manager that did
        // not answer): wait for the next
        if (peer === undefined || peer === tried) {
          await this.#connected(deadline)
          continue
        }
        try {
          return await this.#joinOn(peer, slot, pool, Math.max(1, deadline - this.#system.clock.now()))
        } catch (err) {
          // the connection went down under the join: it is tried again on the next, as the
          // Reconnector tries a pool's first connection again, until connectTimeout
          if ((err as TroupeError).code !== 'ECLOSED') throw err
          tried = peer
        }
      }
    } catch (err) {
      await this.detach(slot)
      throw err
    }
  }

  #joinOn(peer: Peer, slot: number, pool: LinkedPool, timeoutMs: number): Promise<void> {
    const join = this.#joins.get(slot)
    if (join?.peer === peer) return join.done
    const done = pool.join(peer, slot, timeoutMs)
    this.#joins.set(slot, { peer, done })
    // a refused join is not kept: the next attempt asks again
    done.catch(() => this.#joins.get(slot)?.done === done && this.#joins.delete(slot))
    return done
  }

  /** Resolves on the next connection, or fails with `ECLOSED` at `deadline`. */
  #connected(deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const clock = this.#system.clock
      const timer = clock.setTimer(Math.max(1, deadline - clock.now()), () => {
        this.#waiting.delete(wake)
        reject(new TroupeError('ECLOSED', `the manager was not reachable within connectTimeout (${this.#timeoutMs} ms)`))
      })
      const wake = (): void => {
        this.#waiting.delete(wake)
        clock.clearTimer(timer)
        resolve()
      }
      this.#waiting.add(wake)
    })
  }

  #unshare(): void {
    if (this.#sharedAs !== undefined && shared.get(this.#sharedAs) === this) shared.delete(this.#sharedAs)
  }

  #fromManager(peer: Peer, env: Envelope): boolean {
    if (peer !== this.peer) return false
    if (env.k !== Kind.Assign && env.k !== Kind.Revoke && env.k !== Kind.Cast && env.k !== Kind.Release && env.k !== Kind.CastRevoke) return false
    const pool = this.#pools.get(env.pool ?? 0)
    if (pool !== undefined) {
      pool.fromManager(env)
    } else if (env.k === Kind.Assign || env.k === Kind.Cast) {
      // sent before the manager heard this pool leave: answered, or its caller would wait for it
      const err: WireError = { code: 'EWORKERLOST', message: 'the pool closed' }
      peer.send(env.k === Kind.Assign ? { k: Kind.Failed, id: env.id, err, pool: env.pool } : { k: Kind.CastFailed, id: env.id, err, pool: env.pool })
    }
    return true
  }
}

/** The URL and options as one string: pools whose strings are equal share a link. */
function sharingKey(url: string, options: LinkOptions): string {
  return `${url} ${JSON.stringify(options, (_key, value: unknown) => (isPlainObject(value) ? sortedEntries(value) : value))}`
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype
}

function sortedEntries(value: Record<string, unknown>): [string, unknown][] {
  return Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1))
}
