/**
 * The options of `Manager.start()` and `manager.close()`, their defaults, and the shape of what
 * `stats()` reports: the manager's public shapes, apart from the class behind them (STYLE: one
 * idea per file). Each list of names is checked against its interface when compiled
 * (`optionNames`); `knownOptions()` uses it to refuse a misspelt option at run time.
 */
import { optionNames } from '../lib/options.js'
import { NETWORK_OPTION_NAMES, type NetworkOptions } from './network-options.js'
import type { SelectWorker, WorkerInfo } from './routing.js'

/** Options of `Manager.start()`. */
export interface ManagerOptions extends NetworkOptions {
  /** Where to listen: one URL or several (`tcp://0.0.0.0:8000`, `mem://grid`). */
  listen: string | string[]
  /** Queued tasks beyond which new ones are rejected with `EREJECTED` (default 4096; Infinity allowed). */
  queueSize?: number | undefined
  /** Higher priority ranges borrow slots only from the lowest range (API.md §4.3). */
  sacredGuarantees?: boolean | undefined
  /** Tasks with the same name and `key` as one queued or running share its run and its result. */
  coalesce?: boolean | undefined
  /** Replaces least-loaded routing: picks one of the pools that may take the task, or undefined to wait. */
  selectWorker?: SelectWorker | undefined
  /** Runs of one task in all before a worker loss fails it with `EWORKERLOST` (default 3). */
  maxAttempts?: number | undefined
}

/** Options of `manager.close()`. */
export interface CloseOptions {
  /** Take no new task, let queued and running ones finish, then close (default false). */
  drain?: boolean | undefined
  /** Bound on draining in ms (default 30 000); what is left then fails with `ECLOSED`. */
  timeout?: number | undefined
}

export const MANAGER_OPTIONS = optionNames<ManagerOptions>()(...NETWORK_OPTION_NAMES, 'listen', 'queueSize', 'sacredGuarantees', 'coalesce', 'selectWorker', 'maxAttempts')
export const CLOSE_OPTIONS = optionNames<CloseOptions>()('drain', 'timeout')

export const DEFAULT_QUEUE_SIZE = 4096
export const DEFAULT_MAX_ATTEMPTS = 3
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000

/** What `stats()` reports. */
export interface ManagerStats {
  id: string
  /** Connected pools. */
  workers: number
  /** Their capacity in all. */
  capacity: number
  /** Tasks running now. */
  busy: number
  queued: number
  done: number
  failed: number
  rejected: number
  /** Runs put back in the queue after a worker loss. */
  requeued: number
  /** Tasks failed with `EWORKERLOST`. */
  lost: number
  clients: number
  pools: WorkerInfo[]
}
