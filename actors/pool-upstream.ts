/**
 * What passes between a pool and its upstream (the manager connection, or the dispatcher of a
 * standalone pool): the work that comes down, assignments and broadcast subtasks, and
 * `PoolUpstream`, where their outcomes and the pool's capacity go back up. The manager speaks
 * these types as much as `PoolCore`, which does the pool's side, so they have a file of their
 * own rather than a place in pool-core.ts.
 */
import type { WireError } from '../lib/envelope.js'

/** Where outcomes and capacity changes go. Never called synchronously from `assign()`. */
export interface PoolUpstream {
  done(id: number, body: Uint8Array, ms: number): void
  failed(id: number, err: WireError): void
  progress(id: number, value: number): void
  /** The number of tasks the pool can take now changed (a worker died or came back). */
  capacity(capacity: number): void
  /** How a broadcast subtask (`cast`) ended. */
  castDone(id: number, body: Uint8Array, ms: number): void
  castFailed(id: number, err: WireError): void
  /** Cast `id` waits at barrier `name`. */
  barrier(id: number, name: string): void
}

/** A broadcast subtask from upstream: it runs at once, outside the capacity. */
export interface PoolCast {
  id: number
  name: string
  body: Uint8Array
  timeoutMs: number
}

/** An assignment from upstream. */
export interface PoolAssignment {
  id: number
  name: string
  body: Uint8Array
  attempt: number
  runTimeoutMs: number | undefined
}
