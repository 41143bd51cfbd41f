/**
 * What a worker does with what a task hands back: a result that throws when looked at fails only
 * its own call, and a flood of progress reaches the caller as its latest values without stalling
 * the host. Thread pools carry both through transports/port.ts, so its batching is checked here.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import * as assert from 'uvu/assert'
import type { WorkerPoolOptions } from '../../index.js'
import { deferred, rejectsWith, suite, withDeadline } from '../harness.js'
import { Grid } from './grid.js'

const RESULT_TASKS = new URL('../fixtures/result-tasks.ts', import.meta.url)

const t = suite('task results')

/** A manager over mem:// with one pool of one worker in `mode`, and a client. */
async function grid(mode: WorkerPoolOptions['mode'], capacity = 2) {
  const g = new Grid(t, 'mem')
  await g.startManager()
  await g.pool({ tasks: RESULT_TASKS, mode, workers: 1, capacity })
  return g.client()
}

for (const mode of ['inline', 'process'] as const) {
  t.test(`${mode}: a result whose then getter throws fails that call with ETASK; a task beside it completes`, async () => {
    const client = await grid(mode)
    const started = deferred()
    const beside = client.run('holdFor', 300, { onProgress: () => started.resolve() })
    await withDeadline(started.promise, 10_000, 'the task beside it to start')
    const err = await rejectsWith(client.run('thenGetterThrows', 'lazy then'), 'ETASK')
    assert.is(err.message, 'lazy then')
    assert.is(err.remoteName, 'RangeError')
    const revoked = await rejectsWith(client.run('revoked', null), 'ETASK')
    assert.is(revoked.remoteName, 'TypeError')
    assert.is(await beside, 'held', 'the task on the same worker was not lost')
    assert.is(await client.run('holdFor', 0), 'held', 'the worker still runs tasks')
  })
}

for (const mode of ['inline', 'thread'] as const) {
  t.test(`${mode}: a progress flood arrives as non-decreasing latest values, before the result, without stalling the host`, async () => {
    const client = await grid(mode)
    const n = 200_000
    const seen: number[] = []
    // before progress was coalesced a thread pool's host stalled ~1.8 s and took 2.8 s for this
    const delay = monitorEventLoopDelay({ resolution: 10 })
    delay.enable()
    t.cleanup(() => delay.disable())
    const startedAt = performance.now()
    assert.is(await client.run('progressFlood', n, { onProgress: (p) => seen.push(p) }), n)
    const tookMs = performance.now() - startedAt
    delay.disable()
    const stallMs = delay.max / 1e6
    assert.is(seen.at(-1), n, 'the last progress arrived, and before the result')
    assert.ok(seen.every((p, i) => i === 0 || p >= (seen[i - 1] as number)), 'progress never went back')
    assert.ok(seen.length < n / 100, `coalesced: ${seen.length} of ${n} reports reached the caller`)
    assert.ok(stallMs < 500, `the host's event loop stalled ${Math.round(stallMs)} ms`)
    assert.ok(tookMs < 2000, `the flood took ${Math.round(tookMs)} ms`)
  })
}

t.test('thread: small and large results travel in batches and arrive intact and in order', async () => {
  const client = await grid('thread', 8)
  // around a 64 KiB batch: several in one, one that fills it, one that gets a post of its own
  const sizes = [0, 1, 1000, 30_000, 65_536, 65_537, 200_000, 7]
  const results = await client.all('bytes', sizes)
  for (const [i, size] of sizes.entries()) {
    const bytes = results[i] as Uint8Array
    assert.is(bytes.length, size)
    assert.ok(bytes.every((b, j) => b === j % 251), `result ${i} (${size} bytes) arrived intact`)
  }
})

t.run()
