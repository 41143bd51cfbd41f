/**
 * The grid's control plane rides on the actor core: a manager hosts the actor `troupe.manager`
 * (join, stats, system messages, waiting for pools), and every pool and client hosts
 * `troupe.node` (receiving system messages). An ask's reply is the acknowledgement, so
 * "resolves when every recipient has it" is an ask to each recipient. Tasks and broadcasts
 * use their own envelope kinds.
 */
import { configError } from '../lib/errors.js'
import { optionsObject } from '../lib/options.js'
import type { ActorSystem } from './system.js'

export const MANAGER_ACTOR = 'troupe.manager'
export const NODE_ACTOR = 'troupe.node'

/** Who may receive a system message: the manager, one node by id, or everyone (undefined). */
export type SysMsgTarget = 'manager' | string | undefined

/**
 * The `to` of `systemMessage(msg, options)`, checked.
 * @throws TroupeError `ECONFIG`
 */
export function sysMsgTarget(options: { to?: SysMsgTarget } | undefined): SysMsgTarget {
  const { to } = optionsObject('options', options)
  if (to !== undefined && typeof to !== 'string') throw configError('to', "'manager', a node id or undefined", to)
  return to
}

/** Requests to `troupe.manager`. */
export type ManagerRequest =
  | { op: 'join'; pool?: number; capacity: number; prioritySlots: Record<string, number> | undefined; slotCapacity?: number; allowEval: boolean; draining?: boolean }
  /** Pool `pool` of the asking node's connection closed; the others stay. */
  | { op: 'leave'; pool: number }
  | { op: 'stats' }
  /** `pool`: the sending pool's slot, when a pool sends it. */
  | { op: 'sysmsg'; to: SysMsgTarget; msg: unknown; pool?: number }
  /** Replies once `count` pools are connected (with their number), or fails `EATO` after `timeoutMs`. */
  | { op: 'awaitPools'; count: number; timeoutMs: number }

/** Requests to `troupe.node`; `pool` names one of the pools sharing the node's connection. */
export type NodeRequest = { op: 'sysmsg'; from: string; msg: unknown; pool?: number }

/**
 * Hosts `troupe.node` on a pool's or client's system: each system message becomes a `sysmsg`
 * event (of pool `pool` only, when the message names one).
 */
export function hostNodeActor(system: ActorSystem, onSysMsg: (msg: unknown, from: string, pool: number | undefined) => void): void {
  system.spawn(NODE_ACTOR, (request: NodeRequest) => {
    if (request?.op === 'sysmsg') onSysMsg(request.msg, request.from, typeof request.pool === 'number' ? request.pool : undefined)
    return true
  })
}

/**
 * Pools that may share one connection (PROTOCOL.md §6): the manager refuses a join past it, and
 * a process's pools start another connection rather than ask.
 */
export const MAX_POOLS_PER_CONNECTION = 1024

/** A pool's id: its node's for the first pool on a connection, `node.slot` for the others. */
export function poolId(node: string, slot: number): string {
  return slot === 0 ? node : `${node}.${slot}`
}
