/**
 * A pool's own faults: runs abandoned when the manager goes away, workers that die or fail to
 * start again, closing while a worker starts, and the abort reason a child's task sees.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { Client, Manager, WorkerPool } from '../../index.js'
import type { Assignment } from '../../actors/task-executor.js'
import { ChildWorker, type WorkerEvents } from '../../actors/workers.js'
import { ManualClock } from '../../lib/clock.js'
import { TroupeError } from '../../lib/errors.js'
import { alive } from '../children.js'
import { deferred, nextEvent, rejectsWith, suite, withDeadline } from '../harness.js'
import { FakeWorker, fakeCore } from './fake-pool.js'
import { poolsJoined } from './grid.js'

const t = suite('pool faults')

const noInput = new Uint8Array()

const POOL_FAULTS_TASKS = new URL('../fixtures/pool-faults-tasks.ts', import.meta.url)

/** Where the children of a test write their pids, and how to start one. */
async function childPidsFile(clock: ManualClock) {
  const file = join(await t.tempDir('pool-faults-'), 'pids')
  const config = { tasks: `${POOL_FAULTS_TASKS.href}?pids=${encodeURIComponent(file)}`, allowEval: false }
  return {
    spawn: (_index: number, events: WorkerEvents) => ChildWorker.spawnProcess(config, events, clock),
    /** Every child started so far (each wrote its pid once its tasks loaded). */
    pids: (): number[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : []),
  }
}

t.test('a run abandoned on disconnect: its run timeout reports nothing and only kills it; its slot comes back once it ends', async () => {
  const clock = new ManualClock()
  const { core, log, workers } = await fakeCore(t, clock)
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

t.test('a run abandoned on disconnect that ends after the rejoin: the new manager gets its slot back', async () => {
  const started = deferred()
  const finish = deferred<string>()
  const tasks = {
    /** Ignores its signal: holds its slot until the test lets it finish. */
    held: () => {
      started.resolve()
      return finish.promise
    },
  }
  let manager = await Manager.start({ listen: 'tcp://127.0.0.1:0' })
  t.cleanup(() => manager.close())
  const address = manager.address
  const pool = await WorkerPool.start({ manager: address, tasks, capacity: 2, reconnect: { initialDelay: 20, maxDelay: 100 } })
  t.cleanup(() => pool.close())
  const client = await Client.connect(address, { reconnect: false })
  t.cleanup(() => client.close())
  client.run('held', null).catch(() => {}) // its caller goes with the manager
  await withDeadline(started.promise, 5000, 'the task to start')
  const rejoined = nextEvent(pool, 'connected', 10_000) // the pool has the join's answer: it reports at once
  await manager.close()
  manager = await Manager.start({ listen: address })
  await poolsJoined(manager, 1)
  await rejoined
  assert.is(manager.stats().capacity, 1, 'rejoined while the abandoned run holds a slot')
  finish.resolve('late')
  await finish.promise // the pool saw the run end first: it waited on this promise before us
  await pool.systemMessage('behind any report of the pool', { to: 'manager' })
  assert.is(manager.stats().capacity, 2)
})

t.test('a worker long stable dies and its module no longer loads: each failed start doubles the delay', async () => {
  const clock = new ManualClock()
  const attempts: number[] = []
  let worker: FakeWorker | undefined
  let failedStart = deferred()
  await fakeCore(t, clock, {
    respawn: { initialDelayMs: 100, maxDelayMs: 1000 },
    spawn: async (_index, events) => {
      attempts.push(clock.now())
      if (worker !== undefined) throw new TroupeError('ECONFIG', 'the task module does not load any more')
      worker = new FakeWorker(events)
      return worker
    },
    lifecycle: (event) => {
      if (event === 'exit') failedStart.resolve()
    },
  })
  clock.advance(20_000) // long past STABLE_MS
  ;(worker as FakeWorker).events.exited('crashed')
  for (const delay of [100, 100, 200, 400, 800, 1000, 1000]) {
    failedStart = deferred()
    clock.advance(delay)
    await withDeadline(failedStart.promise, 1000, `a start ${delay} ms later`)
  }
  assert.equal(attempts.slice(1).map((at) => at - 20_000), [100, 200, 400, 800, 1600, 2600, 3600])
})

t.test('close() while a replacement child starts: no child outlives it', async () => {
  const clock = new ManualClock()
  const children = await childPidsFile(clock)
  let first: FakeWorker | undefined
  let replacement: Promise<ChildWorker> | undefined
  const { core } = await fakeCore(t, clock, {
    // the worker that dies can be any; its replacement is the child
    spawn: (index, events) => {
      if (first !== undefined) return (replacement = children.spawn(index, events))
      first = new FakeWorker(events)
      return Promise.resolve(first)
    },
  })
  ;(first as FakeWorker).events.exited('crashed')
  clock.advance(100) // the respawn delay: the replacement starts
  await core.close()
  // close() stopped it while it started; it rejects only once its child exited
  await rejectsWith(replacement as Promise<ChildWorker>, 'ECLOSED')
  for (const pid of children.pids()) assert.not.ok(alive(pid), 'and is gone')
})

t.test('start() failing on one worker: no child of the others outlives it', async () => {
  const clock = new ManualClock()
  const children = await childPidsFile(clock)
  let other: Promise<ChildWorker> | undefined
  const starting = fakeCore(t, clock, {
    workers: 2,
    spawn: (index, events) => (index === 0 ? Promise.reject(new TroupeError('ECONFIG', 'worker 0 does not start')) : (other = children.spawn(index, events))),
  })
  await rejectsWith(starting, 'ECONFIG')
  // stopped while it started; it rejects only once its child exited
  await rejectsWith(other as Promise<ChildWorker>, 'ECLOSED')
  for (const pid of children.pids()) assert.not.ok(alive(pid))
})

for (const mode of ['process', 'thread'] as const) {
  t.test(`a run timeout in a ${mode}: the task's signal aborts with ETO, as inline`, async () => {
    const pool = await WorkerPool.start({ listen: 'tcp://127.0.0.1:0', tasks: POOL_FAULTS_TASKS, mode, workers: 1 })
    t.cleanup(() => pool.close())
    const client = await Client.connect(pool.address as string)
    t.cleanup(() => client.close())
    await rejectsWith(client.run('awaitAbort', null, { runTimeout: 50 }), 'ETO')
    // the abort went to the worker before this task, on the same channel
    assert.equal(await client.run('lastAbortReason', null), { name: 'TroupeError', code: 'ETO' })
  })
}

t.run()
