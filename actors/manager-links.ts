/**
 * The manager's remote clients and pools: the dispatcher's `ClientHandle` and `PoolHandle`, and
 * the broadcasts' `CastTarget`, each sending envelopes to its peer.
 */
import { Kind, toWireError, type WireError } from '../lib/envelope.js'
import type { TroupeError } from '../lib/errors.js'
import type { CastTarget } from './broadcasts.js'
import { poolId } from './control.js'
import type { ClientHandle, Execution } from './execution.js'
import type { Peer } from './peer.js'
import type { PoolHandle } from './pool-entry.js'

/** What a peer of the manager is: a client, the pools sharing its connection, or both. */
export interface PeerLinks {
  client?: ClientLink
  /** By slot; set once a pool joined. */
  pools?: Map<number, PoolLink>
}

/** A connected client, as the dispatcher answers it. */
export class ClientLink implements ClientHandle {
  readonly #peer: Peer

  constructor(peer: Peer) {
    this.#peer = peer
  }

  get id(): string {
    return this.#peer.id
  }

  done(taskId: number, body: Uint8Array, ms: number): void {
    this.#peer.sendOutcome({ k: Kind.Done, id: taskId, body, ms })
  }

  failed(taskId: number, err: WireError): void {
    this.#peer.sendOutcome({ k: Kind.Failed, id: taskId, err })
  }

  /**
   * Progress is advisory: dropped while the client's connection is congested (over 1 MiB waits
   * to be sent), or a task that reports in a loop to a client that does not read would grow
   * what we hold for it without bound. Results are never dropped.
   */
  progress(taskId: number, value: number): void {
    if (!this.#peer.congested) this.#peer.send({ k: Kind.Progress, id: taskId, value })
  }
}

/** A joined pool, as the dispatcher and broadcasts reach it: `slot` among those sharing its connection. */
export class PoolLink implements PoolHandle, CastTarget {
  readonly #peer: Peer
  readonly slot: number
  readonly id: string
  readonly #failed: (pool: PoolLink, id: number, err: WireError) => void

  constructor(peer: Peer, slot: number, failed: (pool: PoolLink, id: number, err: WireError) => void) {
    this.#peer = peer
    this.slot = slot
    this.id = poolId(peer.id, slot)
    this.#failed = failed
  }

  assign(id: number, run: Execution): void {
    try {
      this.#peer.send({ k: Kind.Assign, id, name: run.name, body: run.body, priority: run.priority, attempt: run.attempts, runTimeoutMs: run.runTimeoutMs, pool: this.slot })
    } catch (err) {
      // EFRAME: this assignment cannot reach the pool. Reported on a later turn: the
      // dispatcher is in the middle of assigning and must not be re-entered.
      queueMicrotask(() => this.#failed(this, id, toWireError(err as TroupeError)))
    }
  }

  revoke(id: number): void {
    this.#peer.send({ k: Kind.Revoke, id, pool: this.slot })
  }

  /**
   * Bounded: a pool that reads nothing would otherwise be owed every broadcast's input (1024
   * broadcasts in flight, each up to maxFrame).
   * @throws TroupeError `EMAILBOX`, `EFRAME`
   */
  cast(id: number, name: string, body: Uint8Array, timeoutMs: number): void {
    this.#peer.sendBounded({ k: Kind.Cast, id, name, body, timeoutMs, pool: this.slot })
  }

  release(id: number, name: string): void {
    this.#peer.send({ k: Kind.Release, id, name, pool: this.slot })
  }

  revokeCast(id: number): void {
    this.#peer.send({ k: Kind.CastRevoke, id, pool: this.slot })
  }
}
