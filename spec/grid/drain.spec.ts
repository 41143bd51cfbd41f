import * as assert from 'uvu/assert'
import { WorkerPool } from '../../index.js'
import { probe } from '../fixtures/probe.js'
import { nextEvent, rejectsWith, suite } from '../harness.js'
import { FIXTURE_TASKS, Grid, listenUrl } from './grid.js'

const t = suite('draining and standalone pools')

t.test('a draining pool gets no new task even with free slots; what runs finishes, then it closes', async () => {
  // mem:// in one process delivers in send order, so the pool's "draining" reaches the manager
  // before the client's next task does
  const g = new Grid(t, 'mem')
  const manager = await g.startManager()
  const pool = await g.pool({ capacity: 4 })
  const client = await g.client()
  const started = nextEvent(probe, 'start')
  const running = client.run('watched', { ms: 100, tag: 'running' })
  await started
  const closed = pool.close({ drain: true })
  const late = client.run('add', [1, 2], { assignTimeout: 300 })
  assert.is(await running, 100, 'the running task finished')
  await closed
  await rejectsWith(late, 'EATO')
  assert.is(manager.stats().workers, 0)
})

t.test('manager.close({ drain }) finishes queued and running tasks and refuses new ones', async () => {
  const g = new Grid(t, 'mem')
  const manager = await g.startManager()
  await g.pool({ capacity: 1 })
  const client = await g.client({ retry: { attempts: 0 } })
  const started = nextEvent(probe, 'start')
  const first = client.run('watched', { ms: 50 })
  const queued = client.run('watched', { ms: 10 })
  await started
  await client.stats()
  const closing = manager.close({ drain: true })
  await rejectsWith(client.run('add', [1, 1]), 'EREJECTED')
  assert.equal([await first, await queued], [50, 10])
  await closing
})

t.test('a draining manager whose last queued task times out (EATO) closes then, not at its drain timeout', async () => {
  const g = new Grid(t, 'mem')
  const manager = await g.startManager()
  const client = await g.client({ retry: { attempts: 0 } })
  const waiting = rejectsWith(client.run('add', [1, 2], { assignTimeout: 100 }), 'EATO')
  await client.stats() // the task is queued: no pool has joined
  const started = performance.now()
  await manager.close({ drain: true, timeout: 10_000 })
  await waiting
  const ms = performance.now() - started
  assert.ok(ms < 2000, `close took ${ms} ms`)
})

t.test('a standalone pool drains as a manager does: queued and running tasks finish, new ones are refused', async () => {
  const pool = await WorkerPool.start({ listen: listenUrl('mem'), tasks: FIXTURE_TASKS, mode: 'inline', capacity: 1 })
  t.cleanup(() => pool.close())
  const g = new Grid(t, 'mem')
  const client = await g.client({ retry: { attempts: 0 } }, pool.address)
  const started = nextEvent(probe, 'start')
  const first = client.run('watched', { ms: 50 })
  const queued = client.run('watched', { ms: 10 })
  await started
  await client.stats()
  const closing = pool.close({ drain: true })
  await rejectsWith(client.run('add', [1, 1]), 'EREJECTED')
  assert.equal([await first, await queued], [50, 10])
  await closing
})

for (const scheme of ['mem', 'tcp'] as const) {
  t.test(`standalone pool over ${scheme}://: clients connect to it directly with the same API`, async () => {
    const pool = await WorkerPool.start({ listen: listenUrl(scheme), tasks: FIXTURE_TASKS, mode: 'inline', capacity: 2, queueSize: 1 })
    t.cleanup(() => pool.close())
    const g = new Grid(t, scheme)
    const client = await g.client({ retry: { attempts: 0 } }, pool.address)
    assert.is(await client.run('add', [1, 2]), 3)
    assert.equal(await client.all('add', [[1, 1], [2, 2]]), [2, 4])
    const stats = await client.stats()
    assert.is(stats.id, pool.id)
    assert.equal([stats.workers, stats.capacity], [1, 2])
    const release = new AbortController()
    const held = [0, 1, 2].map(() => client.run('watched', { ms: 60_000 }, { signal: release.signal }).catch(() => 'released'))
    await client.stats()
    await rejectsWith(client.run('add', [1, 1]), 'EREJECTED') // 2 running, 1 queued
    const seen = nextEvent<[unknown, string]>(pool, 'sysmsg')
    assert.equal(await client.systemMessage('hi', { to: pool.id }), [pool.id])
    assert.equal((await seen)[0], 'hi')
    release.abort()
    assert.equal(await Promise.all(held), ['released', 'released', 'released'])
  })
}

t.test('bad pool options fail with ECONFIG', async () => {
  const cases: [string, object][] = [
    ['neither manager nor listen', { tasks: FIXTURE_TASKS }],
    ['both manager and listen', { manager: 'mem://x', listen: 'mem://y', tasks: FIXTURE_TASKS }],
    ['functions in process mode', { listen: 'mem://z', tasks: { f: () => 1 }, mode: 'process' }],
    ['unknown mode', { listen: 'mem://z', tasks: FIXTURE_TASKS, mode: 'fiber' }],
    ['workers 0', { listen: 'mem://z', tasks: FIXTURE_TASKS, workers: 0 }],
    ['capacity 1.5', { listen: 'mem://z', tasks: { f: () => 1 }, capacity: 1.5 }],
    ['tasks missing', { listen: 'mem://z' }],
    ['a task that is not a function', { listen: 'mem://z', tasks: { f: 1 } }],
    ['a module that does not load', { listen: 'mem://z', tasks: new URL('./no-such-module.js', import.meta.url), mode: 'inline' }],
    ['taskTimeoutKill', { listen: 'mem://z', tasks: { f: () => 1 }, taskTimeoutKill: 0 }],
  ]
  for (const [what, options] of cases) assert.is((await rejectsWith(WorkerPool.start(options as never), 'ECONFIG')).code, 'ECONFIG', what)
})

t.test('a process pool whose task module does not load fails to start with ECONFIG', async () => {
  const broken = new URL('../fixtures/broken-tasks.ts', import.meta.url)
  await rejectsWith(WorkerPool.start({ listen: 'mem://broken', tasks: broken, mode: 'process', workers: 1 }), 'ECONFIG')
})

t.run()
