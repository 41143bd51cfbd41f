/**
 * A pool's own faults: runs abandoned when the manager goes away, workers that die or fail to
 * start again, closing while a worker starts, and the abort reason a child's task sees.
 */
import * as assert from 'uvu/assert'
import type { Assignment } from '../../actors/task-executor.js'
import { PoolCore, type PoolCoreOptions, type PoolUpstream } from '../../actors/pool-core.js'
import type { Worker, WorkerEvents } from '../../actors/workers.js'
import { ManualClock } from '../../lib/clock.js'
import { TroupeError } from '../../lib/errors.js'
import { suite } from '../harness.js'

const t = suite('pool faults')

/** What a pool core told upstream, one line per call. */
function recordingUpstream(): { upstream: PoolUpstream; log: string[] } {
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
class FakeWorker implements Worker {
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
async function fakeCore(clock: ManualClock, options: Partial<PoolCoreOptions> = {}) {
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

const noInput = new Uint8Array()

t.test('a run abandoned on disconnect: its run timeout reports nothing and only kills it; its slot comes back once it ends', async () => {
  const clock = new ManualClock()
  const { core, log, workers } = await fakeCore(clock)
  core.assign({ id: 7, name: 'slow', body: noInput, attempt: 1, runTimeoutMs: 500 })
  core.abandonAll(new TroupeError('ECLOSED', 'the pool lost its manager'))
  const [worker] = workers as [FakeWorker]
  clock.advance(500) // past its run timeout, still running
  assert.is(core.capacity, 1, 'counted stuck once')
  clock.advance(1000) // and past taskTimeoutKill: it ignored its signal
  assert.is(worker.kills, 1)
  const [run] = worker.started as [Assignment]
  worker.events.failed(run.id, { code: 'EWORKERLOST', message: 'killed' })
  assert.equal(log.filter((line) => !line.startsWith('capacity')), [], 'nothing upstream about the abandoned run')
  assert.is(core.capacity, 2, 'the whole capacity again')
  assert.is(clock.pending, 0, 'no timer left')
})

t.run()
