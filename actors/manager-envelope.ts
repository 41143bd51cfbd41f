/**
 * What the manager does with an envelope a peer sends it (docs/PROTOCOL.md): a client's submits
 * and withdraws go to the dispatcher, its broadcasts to `Broadcasts`, and what a joined pool
 * reports to whichever of the two gave it the work. This is the manager's side of the task
 * protocol; manager.ts keeps the facade (options, events, close) and the control requests
 * (join, leave, stats, system messages), and wires this to its connections.
 */
import { Kind, encodeEnvelopeRange, toWireError, type Envelope, type WireOutcome } from '../lib/envelope.js'
import type { TroupeError } from '../lib/errors.js'
import { fitOutcomes, type Broadcasts, type CastTarget } from './broadcasts.js'
import type { Dispatcher } from './dispatcher.js'
import { ClientLink, type PeerLinks, type PoolLink } from './manager-links.js'
import type { Peer } from './peer.js'

/** The parts of the manager that envelopes from its peers reach. */
export interface EnvelopeHost {
  readonly dispatcher: Dispatcher
  readonly broadcasts: Broadcasts
  /** Every pool a broadcast reaches, in the order they joined. */
  readonly castTargets: ReadonlyMap<string, CastTarget>
  /** What each peer is so far; only `linksOf` adds one. */
  readonly links: ReadonlyMap<Peer, PeerLinks>
  /** The links of `peer`, added empty on first use. */
  linksOf(peer: Peer): PeerLinks
}

/** Handles `env` from `peer`; false for a kind the manager does not take (a bad frame). */
export function managerEnvelope(host: EnvelopeHost, peer: Peer, env: Envelope): boolean {
  const d = host.dispatcher
  switch (env.k) {
    case Kind.Submit: {
      const links = host.linksOf(peer)
      links.client ??= new ClientLink(peer)
      d.submit(links.client, env.id, env.name, env.body, {
        priority: env.priority,
        runTimeoutMs: env.runTimeoutMs,
        assignTimeoutMs: env.assignTimeoutMs,
        key: env.key,
      })
      break
    }
    case Kind.Withdraw: {
      const client = host.links.get(peer)?.client
      if (client !== undefined) d.withdraw(client, env.id)
      break
    }
    case Kind.Broadcast: {
      const { id } = env
      // the body goes out to the pools at once, before the frame's buffer is reused
      const failed = (err: TroupeError): void => void peer.send({ k: Kind.BroadcastFailed, id, err: toWireError(err) })
      host.broadcasts.start([...host.castTargets.values()], env.name, env.body, env.timeoutMs, env.min, peer, id).then((outcomes) => {
        if (outcomes === null) return // withdrawn: the client stopped waiting
        const done = (list: WireOutcome[]): Envelope => ({ k: Kind.BroadcastDone, id, outcomes: list })
        try {
          peer.send(done(outcomes))
        } catch (err) {
          // EFRAME: every answer fit a frame, not all of them together; the largest give way
          const fitted = fitOutcomes(outcomes, (trimmed) => fitsFrame(peer, done(trimmed)))
          if (fitted === undefined) failed(err as TroupeError)
          else peer.send(done(fitted))
        }
      }, failed)
      return true
    }
    case Kind.BroadcastWithdraw:
      host.broadcasts.withdraw(peer, env.id)
      return true
    case Kind.CastDone:
    case Kind.CastFailed:
    case Kind.Barrier: {
      const pool = poolOf(host, peer, env.pool)
      if (pool === undefined) return false
      if (pool === null) return true
      if (env.k === Kind.CastDone) host.broadcasts.done(pool, env.id, env.body, env.ms)
      else if (env.k === Kind.CastFailed) host.broadcasts.failed(pool, env.id, env.err)
      else host.broadcasts.barrier(pool, env.id, env.name)
      return true
    }
    case Kind.Done:
    case Kind.Failed:
    case Kind.Progress:
    case Kind.PoolState: {
      const pool = poolOf(host, peer, env.pool)
      if (pool === undefined) return false // only a joined pool sends these
      if (pool === null) return true
      if (env.k === Kind.Done) d.done(pool, env.id, env.body, env.ms)
      else if (env.k === Kind.Failed) d.failed(pool, env.id, env.err)
      else if (env.k === Kind.Progress) d.progress(pool, env.id, env.value)
      else d.poolState(pool, env.capacity, env.draining)
      break
    }
    default:
      return false
  }
  return true
}

/**
 * Pool `slot` of `peer`: undefined when no pool joined on that connection (what it sent is a
 * bad frame), null for a slot that left or has not joined yet (what it sends is dropped).
 */
function poolOf(host: EnvelopeHost, peer: Peer, slot: number | undefined): PoolLink | null | undefined {
  const pools = host.links.get(peer)?.pools
  return pools === undefined ? undefined : (pools.get(slot ?? 0) ?? null)
}

/** Whether `env` fits a frame to `peer`; encodes it, sends nothing. */
function fitsFrame(peer: Peer, env: Envelope): boolean {
  try {
    peer.checkPayload(encodeEnvelopeRange(env))
    return true
  } catch {
    return false // EFRAME
  }
}
