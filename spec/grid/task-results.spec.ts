/** What a worker does with what a task hands back: a result that throws when looked at fails only its own call. */
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

t.run()
