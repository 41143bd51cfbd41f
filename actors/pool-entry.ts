/** A pool as the dispatcher reaches it (`PoolHandle`) and what it tracks of it (`PoolEntry`). */
import { IdTable } from '../lib/id-table.js'
import type { Execution } from './execution.js'
import type { SlotRanges, WorkerInfo } from './routing.js'

/** A pool, as the dispatcher reaches it. */
export interface PoolHandle {
  readonly id: string
  /** Sends assignment `id` to the pool. */
  assign(id: number, run: Execution): void
  /** Asks the pool to stop assignment `id`; it still answers for it. */
  revoke(id: number): void
}

/** What the dispatcher tracks of a pool. */
export class PoolEntry implements WorkerInfo {
  readonly handle: PoolHandle
  capacity: number
  readonly ranges: SlotRanges
  readonly allowEval: boolean
  draining = false
  running = 0
  readonly runningByRange: number[]
  avgRunMs = 0
  // assignment ids are sequential: a table by id churns less than a Map (see lib/id-table.ts)
  readonly assignments = new IdTable<Execution>()

  constructor(handle: PoolHandle, capacity: number, ranges: SlotRanges, allowEval: boolean) {
    this.handle = handle
    this.capacity = capacity
    this.ranges = ranges
    this.allowEval = allowEval
    this.runningByRange = new Array<number>(ranges.thresholds.length + 1).fill(0)
  }

  get id(): string {
    return this.handle.id
  }

  get load(): number {
    return this.capacity === 0 ? 1 : this.running / this.capacity
  }
}
