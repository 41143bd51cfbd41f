import { getEventListeners } from 'node:events'
import * as assert from 'uvu/assert'
import { WorkerPool } from '../../index.js'
import { alive } from '../children.js'
import { probe } from '../fixtures/probe.js'
import { deferred, nextEvent, rejectsWith, settlements, suite, withDeadline } from '../harness.js'
import { FIXTURE_TASKS, Grid, schemes } from './grid.js'

for (const scheme of schemes) {
  const t = suite(`grid timeouts over ${scheme}://`)

  async function grid(poolOptions = {}) {
    const g = new Grid(t, scheme)
    const manager = await g.startManager()
    const pool = await g.pool(poolOptions)
    const client = await g.client()
    return { g, manager, pool, client }
  }

  t.test('runTimeout: ETO, and the task sees its signal abort with ETO', async () => {
    const { client } = await grid()
    const aborted = nextEvent<[string, { code: string }]>(probe, 'aborted')
    await rejectsWith(client.run('watched', { ms: 10_000, tag: 'slow' }, { runTimeout: 50 }), 'ETO')
    const [tag, reason] = await aborted
    assert.is(tag, 'slow')
    assert.is(reason.code, 'ETO')
  })

  t.test('a reply after its run timeout is dropped: one settlement, counted as failed only', async () => {
    const { client, manager } = await grid()
    const call = client.run('stubborn', 150, { runTimeout: 30 })
    const counted = settlements(call)
    const ended = nextEvent(probe, 'end', 5000)
    await rejectsWith(call, 'ETO')
    await ended
    await client.stats() // the late result, if forwarded, would have arrived before this answer
    assert.is(counted.count, 1)
    assert.equal([manager.stats().done, manager.stats().failed], [0, 1])
  })

  t.test('assignTimeout with no pool: EATO and the assignTimeout event', async () => {
    const g = new Grid(t, scheme)
    const manager = await g.startManager()
    const client = await g.client()
    const event = nextEvent<[{ name: string }, string]>(manager, 'assignTimeout')
    await rejectsWith(client.run('add', [1, 1], { assignTimeout: 50 }), 'EATO')
    const [task, clientId] = await event
    assert.is(task.name, 'add')
    assert.is(clientId, client.id)
    assert.is(manager.stats().queued, 0)
  })

  t.test('with no pool, a task waits until one joins', async () => {
    const g = new Grid(t, scheme)
    await g.startManager()
    const client = await g.client()
    const waiting = client.run('add', [2, 2])
    await client.stats()
    assert.is(g.manager.stats().queued, 1)
    await g.pool()
    assert.is(await waiting, 4)
  })

  t.test('timeout: ECSTO on the client, and the running task is stopped', async () => {
    const { client } = await grid()
    const aborted = nextEvent(probe, 'aborted')
    await rejectsWith(client.run('watched', { ms: 10_000 }, { timeout: 50 }), 'ECSTO')
    await aborted
  })

  t.test('signal: EABORT; a queued task is dropped, a running one aborted; an aborted signal sends nothing', async () => {
    const { client, manager } = await grid({ capacity: 1 })
    const controller = new AbortController()
    const started = nextEvent(probe, 'start')
    const running = client.run('watched', { ms: 10_000, tag: 'running' }, { signal: controller.signal })
    const queued = client.run('watched', { ms: 10_000, tag: 'queued' }, { signal: controller.signal })
    await started
    await client.stats()
    assert.is(manager.stats().queued, 1)
    const aborted = nextEvent<[string]>(probe, 'aborted')
    controller.abort()
    await rejectsWith(running, 'EABORT')
    await rejectsWith(queued, 'EABORT')
    assert.is((await aborted)[0], 'running')
    await client.stats()
    assert.is(manager.stats().queued, 0)
    await rejectsWith(client.run('add', [1, 1], { signal: AbortSignal.abort() }), 'EABORT')
  })

  t.test('runs sharing one signal: one abort listener, no leak warning; abort ends each once, EABORT', async () => {
    const { client, manager } = await grid({ capacity: 1 })
    const warnings: Error[] = []
    const onWarning = (w: Error): number => warnings.push(w)
    process.on('warning', onWarning)
    t.cleanup(() => process.off('warning', onWarning))
    const controller = new AbortController()
    const started = nextEvent(probe, 'start')
    const runs = Array.from({ length: 50 }, (_, i) => settlements(client.run('watched', { ms: 10_000, tag: i }, { signal: controller.signal })))
    await started
    await client.stats()
    assert.is(manager.stats().queued, 49)
    assert.is(getEventListeners(controller.signal, 'abort').length, 1)
    const rejected = runs.map((r) => r.done)
    controller.abort()
    await Promise.all(rejected)
    await new Promise(setImmediate) // a warning is emitted on the next tick
    assert.ok(runs.every((r) => r.count === 1))
    await rejectsWith(client.run('add', [1, 1], { signal: controller.signal }), 'EABORT')
    assert.is(getEventListeners(controller.signal, 'abort').length, 0)
    assert.equal(warnings.map((w) => w.name), [])
    await client.stats()
    assert.is(manager.stats().queued, 0)
  })

  t.test('all() and each() with an already aborted signal: EABORT for every input, nothing sent', async () => {
    const { client, manager } = await grid()
    const signal = AbortSignal.abort()
    await rejectsWith(client.all('add', [[1, 1], [2, 2]], { signal }), 'EABORT')
    const codes: string[] = []
    for await (const r of client.each('add', [[1, 1], [2, 2]], { signal })) codes.push(r.ok ? 'ok' : (r.error.code as string))
    assert.equal(codes, ['EABORT', 'EABORT'])
    await client.stats() // behind anything the client sent
    const { done, failed, busy, queued } = manager.stats()
    assert.equal({ done, failed, busy, queued }, { done: 0, failed: 0, busy: 0, queued: 0 })
  })

  t.run()
}

const t = suite('grid timeouts: process pools')

t.test('a busy-looping process past its run timeout is killed and replaced; the pool keeps serving', async () => {
  const g = new Grid(t, 'tcp')
  await g.startManager()
  const pool = await g.pool({ mode: 'process', tasks: FIXTURE_TASKS, workers: 2, capacity: 2, taskTimeoutKill: 200, reconnect: { initialDelay: 50 } })
  const client = await g.client()
  const spinning = deferred<number>()
  const exit = nextEvent<[number, string]>(pool, 'workerExit', 10_000)
  const replaced = nextEvent<[number]>(pool, 'workerStart', 10_000)
  const timedOut = rejectsWith(client.run('pidSpin', 60_000, { runTimeout: 100, onProgress: (pid) => spinning.resolve(pid) }), 'ETO')
  const pid = await withDeadline(spinning.promise, 10_000, 'spinning task reports its pid')
  await timedOut
  // meanwhile the other process serves
  assert.is(await client.run('add', [1, 2]), 3)
  // the stuck one is killed `taskTimeoutKill` after the timeout, and a new one takes its place
  const [exitedIndex] = await exit
  assert.not.ok(alive(pid), `process ${pid} was killed`)
  assert.is((await replaced)[0], exitedIndex)
  assert.is((pool.stats() as { capacity: number }).capacity, 2, 'back to full capacity')
  const pids = new Set(await client.all('pid', [0, 0, 0, 0, 0, 0]))
  assert.not.ok(pids.has(pid))
})

t.test('a caller that stops waiting for a busy-looping process: it is killed too, and its slot serves the next task', async () => {
  const g = new Grid(t, 'tcp')
  await g.startManager()
  const pool = await g.pool({ mode: 'process', tasks: FIXTURE_TASKS, workers: 1, capacity: 1, taskTimeoutKill: 200, reconnect: { initialDelay: 20 } })
  const client = await g.client()
  const spinning = deferred<number>()
  const exit = nextEvent<[number, string]>(pool, 'workerExit', 10_000)
  const gaveUp = rejectsWith(client.run('pidSpin', 60_000, { timeout: 300, onProgress: (pid) => spinning.resolve(pid) }), 'ECSTO')
  const pid = await withDeadline(spinning.promise, 10_000, 'spinning task reports its pid')
  await gaveUp
  await exit
  assert.not.ok(alive(pid), `process ${pid} was killed`)
  assert.is(await withDeadline(client.run('add', [1, 2]), 10_000, 'the next task runs'), 3)
})

t.test('process and thread pools start, run and stop', async () => {
  for (const mode of ['process', 'thread'] as const) {
    const pool = await WorkerPool.start({ listen: 'tcp://127.0.0.1:0', tasks: FIXTURE_TASKS, mode, workers: 2 })
    t.cleanup(() => pool.close())
    const g = new Grid(t, 'tcp')
    const client = await g.client({}, pool.address)
    assert.is(await client.run('add', [20, 22]), 42)
    const pids = new Set(await client.all('pid', [0, 0, 0, 0, 0, 0]))
    if (mode === 'process') assert.not.ok(pids.has(process.pid), 'tasks ran in children')
    else assert.equal([...pids], [process.pid], 'threads share the process')
    await pool.close()
  }
})

t.run()
