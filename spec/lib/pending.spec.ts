import * as assert from 'uvu/assert'
import { ManualClock } from '../../lib/clock.js'
import { TroupeError } from '../../lib/errors.js'
import { PendingAsks, type GiveUp } from '../../lib/pending.js'
import { rejectsWith, settlements, suite } from '../harness.js'

const t = suite('PendingAsks')

function open(pending: PendingAsks, options: { timeoutMs?: number; signal?: AbortSignal; giveUp?: GiveUp } = {}) {
  let id = 0
  const promise = new Promise((resolve, reject) => {
    id = pending.add(resolve, reject, options.timeoutMs, options.signal, options.giveUp)
  })
  return { id, promise, settled: settlements(promise) }
}

t.test('a reply settles once; a second one counts as late', async () => {
  const pending = new PendingAsks(new ManualClock())
  const a = open(pending)
  assert.ok(pending.settle(a.id, null, 42))
  assert.not.ok(pending.settle(a.id, null, 43))
  assert.is(await a.promise, 42)
  assert.is(pending.lateReplies, 1)
  assert.is(pending.size, 0)
})

t.test('a timeout rejects ECSTO once, tells giveUp, and the late reply is dropped', async () => {
  const clock = new ManualClock()
  const pending = new PendingAsks(clock)
  const gaveUp: string[] = []
  const a = open(pending, { timeoutMs: 100, giveUp: (_id, why) => gaveUp.push(why.code) })
  clock.advance(99)
  assert.is(pending.size, 1)
  clock.advance(1)
  await rejectsWith(a.promise, 'ECSTO')
  assert.not.ok(pending.settle(a.id, null, 'late'))
  await a.settled.done
  assert.is(a.settled.count, 1)
  assert.equal(gaveUp, ['ECSTO'])
  assert.is(clock.pending, 0)
})

t.test('an abort rejects EABORT once and removes its listener', async () => {
  const clock = new ManualClock()
  const pending = new PendingAsks(clock)
  const controller = new AbortController()
  const a = open(pending, { timeoutMs: 1000, signal: controller.signal })
  controller.abort(new Error('user'))
  const err = await rejectsWith(a.promise, 'EABORT')
  assert.is((err.cause as Error).message, 'user')
  clock.advance(5000)
  await a.settled.done
  assert.is(a.settled.count, 1)
  assert.is(clock.pending, 0)
})

t.test('rejectAll settles everything waiting, with the given error', async () => {
  const pending = new PendingAsks(new ManualClock())
  const asks = [open(pending), open(pending, { timeoutMs: 10 }), open(pending)]
  pending.settle(asks[2]!.id, null, 'ok')
  pending.rejectAll(new TroupeError('ECLOSED', 'gone'))
  await rejectsWith(asks[0]!.promise, 'ECLOSED')
  await rejectsWith(asks[1]!.promise, 'ECLOSED')
  assert.is(await asks[2]!.promise, 'ok')
  assert.is(pending.size, 0)
})

t.run()
