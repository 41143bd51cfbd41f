/**
 * A pool core whose workers run nothing, for specs that drive a pool's bookkeeping by hand: the
 * test ends each run through the events the core gave its worker, on a manual clock.
 */
import { PoolCore, type PoolCoreOptions } from '../../actors/pool-core.js'
import type { PoolUpstream } from '../../actors/pool-upstream.js'
import type { Assignment } from '../../actors/task-executor.js'
import type { Worker, WorkerEvents } from '../../actors/workers.js'
import type { ManualClock } from '../../lib/clock.js'
import type { BoundedSuite } from '../harness.js'

/** What a pool core told upstream, one line per call. */
export function recordingUpstream(): { upstream: PoolUpstream; log: string[] } {
  const log: string[] = []
  const upstream: PoolUpstream = {
    done: (id) => log.push(`done ${id}`),
    failed: (id, err) => log.push(`failed ${id} ${err.code}`),
    progress: () => {},
    capacity: (capacity) => log.push(`capacity ${capacity}`),
    castDone: (id) => log.push(`castDone ${id}`),
    castFailed: (id, err) => log.push(`castFailed ${id} ${err.code}`),
    barrier: () => {},
  }
  return { upstream, log }
}

/** A worker that runs nothing: the test ends its runs through the events the core gave it. */
export class FakeWorker implements Worker {
  readonly events: WorkerEvents
  readonly started: Assignment[] = []
  kills = 0

  constructor(events: WorkerEvents) {
    this.events = events
  }

  start(a: Assignment): void {
    this.started.push(a)
  }

  abort(): void {}
  release(): void {}
  kill(): void {
    this.kills++
  }

  async close(): Promise<void> {}
}

/** A core of fake workers on `clock`. */
export async function fakeCore(t: BoundedSuite, clock: ManualClock, options: Partial<PoolCoreOptions> = {}) {
  const { upstream, log } = recordingUpstream()
  const workers: FakeWorker[] = []
  const core = await PoolCore.start({
    workers: 1,
    capacity: 2,
    taskTimeoutKillMs: 1000,
    respawn: { initialDelayMs: 100, maxDelayMs: 1000 },
    clock,
    spawn: async (_index, events) => {
      const worker = new FakeWorker(events)
      workers.push(worker)
      return worker
    },
    ...options,
  }, upstream)
  t.cleanup(() => core.close())
  return { core, log, workers }
}
