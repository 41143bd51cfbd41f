import * as assert from 'uvu/assert'
import type { Client, TroupeError } from '../../index.js'
import { concurrency, probe, resetConcurrency } from '../fixtures/probe.js'
import { nextEvent, rejectsWith, suite } from '../harness.js'
import { Grid, schemes } from './grid.js'

/** Calls `client` must never resolve for: started and held until `release.abort()`. */
function hold(client: Client, count: number, input: object, options: object, release: AbortController): Promise<unknown>[] {
  return Array.from({ length: count }, () => client.run('watched', { ms: 60_000, ...input }, { ...options, signal: release.signal }).catch((e: TroupeError) => e))
}

for (const scheme of schemes) {
  const t = suite(`grid scheduling over ${scheme}://`)

  t.test('a pool never runs more than its capacity, measured by the tasks', async () => {
    resetConcurrency()
    const g = new Grid(t, scheme)
    await g.startManager()
    await g.pool({ capacity: 3 })
    const client = await g.client()
    await client.all('watched', Array.from({ length: 30 }, () => ({ ms: 5 })))
    assert.is(concurrency.max, 3)
  })

  t.test('least-loaded routing spreads 100 tasks over 2 pools', async () => {
    const g = new Grid(t, scheme)
    await g.startManager()
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
    await g.pool({ tasks: { who: async () => (await sleep(5), 'A') }, capacity: 10 })
    await g.pool({ tasks: { who: async () => (await sleep(5), 'B') }, capacity: 10 })
    const client = await g.client()
    const who = (await client.all('who', Array.from({ length: 100 }, () => null))) as string[]
    const a = who.filter((w) => w === 'A').length
    assert.ok(a >= 30 && a <= 70, `A ran ${a} of 100`)
  })

  t.test('a full queue rejects with EREJECTED (no retries), and emits rejected', async () => {
    const g = new Grid(t, scheme)
    const manager = await g.startManager({ queueSize: 2 })
    await g.pool({ capacity: 1 })
    const client = await g.client({ retry: { attempts: 0 } })
    const release = new AbortController()
    t.cleanup(() => release.abort())
    hold(client, 3, {}, {}, release) // one running, two queued
    await client.stats()
    assert.equal([manager.stats().busy, manager.stats().queued], [1, 2])
    const rejected = nextEvent(manager, 'rejected')
    await rejectsWith(client.run('add', [1, 1]), 'EREJECTED')
    await rejected
    assert.is(manager.stats().rejected, 1)
  })

  t.test('with retries, rejected tasks succeed once capacity frees', async () => {
    const g = new Grid(t, scheme)
    const manager = await g.startManager({ queueSize: 2 })
    await g.pool({ capacity: 1 })
    const client = await g.client({ retry: { attempts: 10, delay: 20 } })
    const results = await client.all('watched', Array.from({ length: 8 }, () => ({ ms: 15 })))
    assert.is(results.length, 8)
    assert.ok(manager.stats().rejected > 0, 'some were turned away first')
  })

  t.test('higher priority first, equal priorities in order (capacity-1 pool)', async () => {
    const g = new Grid(t, scheme)
    await g.startManager()
    await g.pool({ capacity: 1 })
    const client = await g.client()
    const blocker = new AbortController()
    hold(client, 1, { tag: 'blocker' }, {}, blocker)
    await nextEvent(probe, 'start')
    const order: string[] = []
    const onStart = (tag: string) => order.push(tag)
    probe.on('start', onStart)
    t.cleanup(() => probe.off('start', onStart))
    const runs = ([['p1', 1], ['p5a', 5], ['p3', 3], ['p5b', 5], ['p0', 0], ['p-2', -2]] as const).map(([tag, priority]) =>
      client.run('watched', { ms: 1, tag }, { priority }),
    )
    await client.stats() // every submit has reached the manager
    blocker.abort()
    await Promise.all(runs)
    assert.equal(order, ['p5a', 'p5b', 'p3', 'p1', 'p0', 'p-2'])
  })

  t.test('prioritySlots {1:30, 2:20} on capacity 100: < 1 holds 50, < 2 holds 80, 2 and up fill the rest', async () => {
    resetConcurrency()
    const g = new Grid(t, scheme)
    const manager = await g.startManager()
    await g.pool({ capacity: 100, prioritySlots: { 1: 30, 2: 20 } })
    const client = await g.client()
    const release = new AbortController()
    t.cleanup(() => release.abort())
    hold(client, 70, { range: 'low' }, { priority: 0 }, release)
    await client.stats()
    assert.is(manager.stats().busy, 50)
    hold(client, 40, { range: 'mid' }, { priority: 1 }, release)
    await client.stats()
    assert.is(manager.stats().busy, 80)
    hold(client, 40, { range: 'high' }, { priority: 2 }, release)
    await client.stats()
    assert.is(manager.stats().busy, 100)
    const max = (r: string) => concurrency.byRange.get(r)?.max
    assert.equal([max('low'), max('mid'), max('high')], [50, 30, 20])
  })

  t.test('without sacredGuarantees priority 2 may take all 100; with them it stops at 70, leaving its 30 to [1, 2)', async () => {
    for (const sacred of [false, true]) {
      resetConcurrency()
      const g = new Grid(t, scheme)
      const manager = await g.startManager({ sacredGuarantees: sacred })
      await g.pool({ capacity: 100, prioritySlots: { 1: 30, 2: 20 } })
      const client = await g.client()
      const release = new AbortController()
      hold(client, 120, { range: 'high' }, { priority: 2 }, release)
      await client.stats()
      assert.is(manager.stats().busy, sacred ? 70 : 100, `sacred: ${sacred}`)
      hold(client, 40, { range: 'mid' }, { priority: 1 }, release)
      await client.stats()
      assert.is(concurrency.byRange.get('mid')?.max ?? 0, sacred ? 30 : 0)
      release.abort()
    }
  })

  t.test('coalescing: 5 callers with one key share one run and its result; other keys run apart', async () => {
    const g = new Grid(t, scheme)
    const manager = await g.startManager({ coalesce: true })
    await g.pool({ capacity: 10 })
    const client = await g.client()
    const other = await g.client()
    let started = 0
    const onStart = () => started++
    probe.on('start', onStart)
    t.cleanup(() => probe.off('start', onStart))
    const same = [client, client, other, other, client].map((c) => c.run('watched', { ms: 30, tag: 'shared' }, { key: 'k1' }))
    const apart = client.run('watched', { ms: 30, tag: 'apart' }, { key: 'k2' })
    assert.equal(await Promise.all(same), [30, 30, 30, 30, 30])
    await apart
    assert.is(started, 2)
    assert.is(manager.stats().done, 2)
  })

  t.test('coalescing: one caller giving up does not stop the run the others wait for', async () => {
    const g = new Grid(t, scheme)
    await g.startManager({ coalesce: true })
    await g.pool({ capacity: 10 })
    const client = await g.client()
    const quitter = new AbortController()
    const first = client.run('watched', { ms: 50, tag: 'shared' }, { key: 'k', signal: quitter.signal })
    const second = client.run('watched', { ms: 50, tag: 'shared' }, { key: 'k' })
    await nextEvent(probe, 'start')
    quitter.abort()
    await rejectsWith(first, 'EABORT')
    assert.is(await second, 50)
  })

  t.run()
}
