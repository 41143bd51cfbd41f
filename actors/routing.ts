/**
 * Which pool may take a task, and which one should (API.md §4, semantics 1 and 3).
 *
 * `prioritySlots: { 1: 30, 2: 20 }` on a pool of capacity 100 guarantees 30 slots to priorities
 * in [1, 2) and 20 to priorities ≥ 2, by capping what lower priorities may hold: tasks below 1
 * may run at most 50 at once, tasks below 2 at most 80, all of them 100. Higher priorities may
 * still take the guaranteed slots of the ranges between them and the lowest one; with
 * `sacredGuarantees` a range may borrow only from the lowest range, so tasks ≥ 2 are capped at
 * 20 + 50 = 70 and cannot take the 30 of [1, 2) by themselves. These are caps, not
 * reservations: tasks below 1 may still fill their own 50 alongside.
 */
import { configError } from '../lib/errors.js'
import type { Execution } from './execution.js'
import type { PoolEntry, PoolHandle } from './pool-entry.js'
import { EVAL_TASK } from './tasks.js'

/** A pool as routing sees it; also what `selectWorker` receives. */
export interface WorkerInfo {
  /** The pool's node id. */
  readonly id: string
  readonly capacity: number
  /** Tasks running there now. */
  readonly running: number
  /** running / capacity. */
  readonly load: number
  /** Recent average run time of its tasks in ms (an exponential moving average). */
  readonly avgRunMs: number
}

/** A task as routing sees it; also what `selectWorker` receives. */
export interface TaskInfo {
  readonly name: string
  readonly priority: number
  readonly key: string | undefined
  /** 1 for the first run, 2 after one worker loss, ... */
  readonly attempt: number
}

/** Replaces the default choice among the pools that may take `task`; undefined keeps it queued. */
export type SelectWorker = (task: TaskInfo, workers: readonly WorkerInfo[]) => WorkerInfo | undefined

/** A pool's priority ranges: thresholds ascending, each with its guaranteed slots. */
export interface SlotRanges {
  readonly thresholds: readonly number[]
  readonly guarantees: readonly number[]
}

const NO_RANGES: SlotRanges = { thresholds: [], guarantees: [] }

/**
 * Checks and normalises a `prioritySlots` option.
 * @throws TroupeError `ECONFIG`
 */
export function slotRanges(prioritySlots: unknown, capacity: number): SlotRanges {
  if (prioritySlots === undefined) return NO_RANGES
  if (typeof prioritySlots !== 'object' || prioritySlots === null || Array.isArray(prioritySlots)) {
    throw configError('prioritySlots', 'an object of { priority: slots }', prioritySlots)
  }
  const entries = Object.entries(prioritySlots as Record<string, unknown>).map(([k, v]) => {
    const threshold = Number(k)
    if (!Number.isFinite(threshold)) throw configError('prioritySlots', 'numeric priorities as keys', k)
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw configError(`prioritySlots[${k}]`, 'a whole number of slots ≥ 1', v)
    return [threshold, v] as const
  })
  entries.sort((a, b) => a[0] - b[0])
  const guaranteed = entries.reduce((sum, [, v]) => sum + v, 0)
  if (guaranteed > capacity) throw configError('prioritySlots', `at most capacity (${capacity}) slots in all`, guaranteed)
  return { thresholds: entries.map(([t]) => t), guarantees: entries.map(([, v]) => v) }
}

/** Index of the range `priority` falls in: 0 below the first threshold. */
export function rangeOf(ranges: SlotRanges, priority: number): number {
  let r = 0
  while (r < ranges.thresholds.length && priority >= (ranges.thresholds[r] as number)) r++
  return r
}

/**
 * True when a pool running `runningByRange` (tasks per range) may start one more task of
 * `priority` under its caps.
 */
export function fitsSlots(ranges: SlotRanges, capacity: number, runningByRange: readonly number[], priority: number, sacred: boolean): boolean {
  const { thresholds, guarantees } = ranges
  if (thresholds.length === 0) return true // no prioritySlots: every task may take any slot
  const range = rangeOf(ranges, priority)
  // lower priorities leave room for every range above them: tasks below threshold i may hold
  // capacity minus the guarantees of threshold i and up
  const guaranteed = guarantees.reduce((sum, g) => sum + g, 0)
  let below = 0
  let reservedAbove = guaranteed
  for (let i = 0; i < thresholds.length; i++) {
    below += runningByRange[i] ?? 0
    if (i >= range && below + 1 > capacity - reservedAbove) return false
    reservedAbove -= guarantees[i] as number
  }
  if (sacred && range > 0) {
    const lowest = capacity - guaranteed
    if ((runningByRange[range] ?? 0) + 1 > (guarantees[range - 1] as number) + lowest) return false
  }
  return true
}

/**
 * The default routing's order (pickPool takes the pool no other beats): true when `a` should
 * be preferred to `b`: less loaded, or as loaded with shorter run times.
 */
export function lessLoaded(a: WorkerInfo, b: WorkerInfo): boolean {
  return a.load < b.load || (a.load === b.load && a.avgRunMs < b.avgRunMs)
}

/** The manager's options that decide which pool takes a task. */
export interface RoutingOptions {
  readonly selectWorker: SelectWorker | undefined
  readonly sacredGuarantees: boolean
}

// anyFreeSlot, pickPool and may run for every task: plain loops and functions, no closure per
// call (under tsx each named closure also costs a defineProperty for its name)

/** True when some pool that is not draining has a free slot: without one, no queued task can start. */
export function anyFreeSlot(pools: ReadonlyMap<PoolHandle, PoolEntry>): boolean {
  for (const p of pools.values()) if (!p.draining && p.running < p.capacity) return true
  return false
}

/**
 * The pool that should take `run` now, if any may: the dispatcher's choice, for a task it was
 * just given and for each queued one whenever a slot may have come free.
 * @param selectFailed told, instead of a pool, when `selectWorker` throws
 */
export function pickPool(
  pools: ReadonlyMap<PoolHandle, PoolEntry>,
  run: Execution,
  options: RoutingOptions,
  selectFailed: (run: Execution, err: unknown) => void,
): PoolEntry | undefined {
  // code goes only to pools that run it, as long as such a pool is connected at all
  const evalOnly = run.name === EVAL_TASK && anyPool(pools, (p) => p.allowEval)
  const select = options.selectWorker
  if (select === undefined) {
    // the default choice without building a candidate list
    let best: PoolEntry | undefined
    for (const p of pools.values()) if (may(p, run, evalOnly, options) && (best === undefined || lessLoaded(p, best))) best = p
    return best
  }
  const candidates = [...pools.values()].filter((p) => may(p, run, evalOnly, options))
  if (candidates.length === 0) return undefined
  let chosen: WorkerInfo | undefined
  try {
    chosen = select(run.info, candidates)
  } catch (err) {
    selectFailed(run, err)
    return undefined
  }
  return candidates.find((p) => p === chosen || p.id === chosen?.id)
}

function may(p: PoolEntry, run: Execution, evalOnly: boolean, options: RoutingOptions): boolean {
  return (
    !p.draining &&
    p.running < p.capacity &&
    (!evalOnly || p.allowEval) &&
    fitsSlots(p.ranges, p.capacity, p.runningByRange, run.priority, options.sacredGuarantees)
  )
}

function anyPool(pools: ReadonlyMap<PoolHandle, PoolEntry>, test: (p: PoolEntry) => boolean): boolean {
  for (const p of pools.values()) if (test(p)) return true
  return false
}
