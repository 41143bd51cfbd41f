import * as assert from 'uvu/assert'
import type tasks from '../fixtures/tasks.js'
import { probe } from '../fixtures/probe.js'
import { nextEvent, rejectsWith, suite } from '../harness.js'
import { Grid, schemes } from './grid.js'

for (const scheme of schemes) {
  const t = suite(`grid basics over ${scheme}://`)

  async function grid(poolOptions = {}) {
    const g = new Grid(t, scheme)
    await g.startManager()
    const pool = await g.pool(poolOptions)
    const client = await g.client()
    return { g, pool, client, manager: g.manager }
  }

  t.test('run returns the result; values survive the trip through CBOR', async () => {
    const { client } = await grid()
    assert.is(await client.run('add', [4, 7]), 11)
    const value = { when: new Date(3), tags: new Set(['a']), big: 10n ** 20n, bytes: Uint8Array.of(1, 2), nothing: undefined }
    assert.equal(await client.run('echo', value), value)
  })

  t.test('a task that throws rejects with ETASK and the remote name, message, stack, code and data', async () => {
    const { client } = await grid()
    const err = await rejectsWith(client.run('fail', 'on purpose'), 'ETASK')
    assert.is(err.message, 'on purpose')
    assert.is(err.remoteName, 'TypeError')
    assert.is(err.remoteCode, 'E_FIXTURE')
    assert.equal(err.data, { message: 'on purpose' })
    assert.match(String(err.remoteStack), /fixtures\/tasks/)
  })

  t.test('an unknown task name is ENOTASK', async () => {
    const { client } = await grid()
    await rejectsWith(client.run('no-such-task', 1), 'ENOTASK')
  })

  t.test('all() returns results in input order; each() yields every outcome with its index', async () => {
    const { client } = await grid({ capacity: 4 })
    assert.equal(await client.all('sleep', [30, 1, 20, 5]), [30, 1, 20, 5])
    const seen: { index: number; ok: boolean }[] = []
    for await (const r of client.each('add', [[1, 1], [2, 2], null, [3, 3]], { concurrency: 2 })) {
      seen.push({ index: r.index, ok: r.ok })
      if (r.ok) assert.is(r.value, 2 * ([1, 2, 0, 3][r.index] as number))
      else assert.is(r.error.code, 'ETASK') // null is not a pair
    }
    assert.equal(seen.map((s) => s.index).sort(), [0, 1, 2, 3])
    assert.equal(seen.filter((s) => !s.ok).map((s) => s.index), [2])
  })

  t.test('all() rejects with the first failure and cancels the rest: running tasks see their signal abort', async () => {
    const { client, manager } = await grid({ capacity: 2 })
    const started = nextEvent(probe, 'start')
    const aborted = nextEvent<[string]>(probe, 'aborted')
    const failing = client.all('watched', [{ ms: 10_000, tag: 'long' }, { ms: -1 }, { ms: 10_000, tag: 'queued' }])
    await started
    // the failing one is second: by now it ran and failed
    const err = await rejectsWith(failing, 'ETASK')
    assert.is(err.remoteName, 'RangeError')
    assert.is((await aborted)[0], 'long', 'the running task saw its signal abort')
    assert.is(manager.stats().queued, 0, 'the queued one was dropped')
  })

  t.test('onProgress receives each ctx.progress()', async () => {
    const { client } = await grid()
    const seen: number[] = []
    assert.is(await client.run('progress', 5, { onProgress: (p) => seen.push(p) }), 5)
    assert.equal(seen, [0.2, 0.4, 0.6, 0.8, 1])
  })

  t.test('typed() checks names, inputs and results against the task module', async () => {
    const { client } = await grid()
    const typed = client.typed<typeof tasks>()
    const sum: number = await typed.run('add', [1, 2])
    assert.is(sum, 3)
    if (sum < 0) {
      // never runs: these lines exist for the typecheck that npm test starts with
      // @ts-expect-error: add takes a pair of numbers
      await typed.run('add', 'nope')
      // @ts-expect-error: no such task
      await typed.run('subtract', [1, 2])
      // @ts-expect-error: add returns a number
      const wrong: string = await typed.run('add', [1, 2])
      void wrong
    }
  })

  t.test('stats() counts pools, capacity and outcomes', async () => {
    const { client, manager, pool } = await grid({ capacity: 3 })
    await client.run('add', [1, 1])
    await client.run('fail', 'x').catch(() => {})
    const stats = await client.stats()
    assert.is(stats.id, manager.id)
    assert.is(stats.workers, 1)
    assert.is(stats.capacity, 3)
    assert.is(stats.done, 1)
    assert.is(stats.failed, 1)
    assert.is(stats.clients, 1)
    assert.is(stats.pools[0]?.id, pool.id)
  })

  t.test('a system message to everyone resolves after every recipient saw it, never the sender', async () => {
    const { g, client, manager, pool } = await grid()
    const other = await g.client()
    const seen: string[] = []
    const got = (who: string) => (msg: unknown, from: string) => {
      assert.equal(msg, { hello: 'grid' })
      assert.is(from, client.id)
      seen.push(who)
    }
    manager.on('sysmsg', got('manager'))
    pool.on('sysmsg', got('pool'))
    other.on('sysmsg', got('other'))
    client.on('sysmsg', got('sender'))
    const acked = await client.systemMessage({ hello: 'grid' })
    assert.equal(seen.sort(), ['manager', 'other', 'pool'], 'all seen before it resolved')
    assert.equal(acked.sort(), [manager.id, other.id, pool.id].sort())
    seen.length = 0
    assert.equal(await client.systemMessage({ hello: 'grid' }, { to: 'manager' }), [manager.id])
    assert.equal(seen, ['manager'])
    seen.length = 0
    assert.equal(await client.systemMessage({ hello: 'grid' }, { to: pool.id }), [pool.id])
    assert.equal(seen, ['pool'])
  })

  t.test('eval runs code only where allowEval is on; elsewhere EEVAL and nothing runs', async () => {
    const { client } = await grid()
    const ran = { count: 0 }
    ;(globalThis as { troupeEvalRan?: typeof ran }).troupeEvalRan = ran
    await rejectsWith(client.eval(() => (globalThis as unknown as { troupeEvalRan: { count: number } }).troupeEvalRan.count++, null), 'EEVAL')
    assert.is(ran.count, 0, 'the inline pool shares this process: had it run, the count would show it')
    const g2 = new Grid(t, scheme)
    await g2.startManager()
    await g2.pool({ allowEval: true })
    const c2 = await g2.client()
    assert.is(await c2.eval((x: number) => x * 2, 21), 42)
    await rejectsWith(c2.eval('not code' as never, 1), 'ECONFIG')
  })

  t.test('bad run options fail with ECONFIG before anything is sent', async () => {
    const { client, manager } = await grid()
    const beyondTimers = 2 ** 31 // a Node timer would fire at once
    for (const options of [{ priority: NaN }, { timeout: -1 }, { runTimeout: 'x' }, { key: 5 }, { signal: {} }, { onProgress: 1 }, { timeout: beyondTimers }, { assignTimeout: beyondTimers }]) {
      await rejectsWith(client.run('add', [1, 1], options as never), 'ECONFIG')
    }
    await rejectsWith(client.run('', 1), 'ECONFIG')
    assert.is(manager.stats().done + manager.stats().failed, 0)
  })

  t.test('an input over maxFrame fails before it is sent; a result over it fails that call only', async () => {
    const g = new Grid(t, scheme)
    await g.startManager({ maxFrame: 64 * 1024 })
    await g.pool({ maxFrame: 64 * 1024 })
    const client = await g.client({ maxFrame: 64 * 1024 })
    await rejectsWith(client.run('echo', new Uint8Array(100 * 1024)), 'EFRAME')
    assert.is(((await client.run('grow', 10 * 1024)) as Uint8Array).length, 10 * 1024)
    await rejectsWith(client.run('grow', 100 * 1024), 'EFRAME')
    assert.is(await client.run('add', [2, 3]), 5)
    assert.is(g.manager.stats().workers, 1, 'the pool is still connected')
  })

  t.test('the client closing rejects its open calls with ECLOSED', async () => {
    const { client } = await grid()
    const open = rejectsWith(client.run('sleep', 10_000), 'ECLOSED')
    await client.close()
    await open
    await rejectsWith(client.run('add', [1, 1]), 'ECLOSED')
  })

  t.run()
}
