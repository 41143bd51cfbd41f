import * as assert from 'uvu/assert'
import { MAX_DELAY_MS, ManualClock, systemClock } from '../../lib/clock.js'
import { deferred, suite } from '../harness.js'

const t = suite('clock')

t.test('ManualClock fires due timers in deadline order, and only due ones', () => {
  const clock = new ManualClock()
  const fired: string[] = []
  clock.setTimer(30, () => fired.push('c'))
  clock.setTimer(10, () => fired.push('a'))
  const b = clock.setTimer(20, () => fired.push('b'))
  clock.setTimer(10, () => fired.push('a2'))
  clock.clearTimer(b)
  clock.advance(15)
  assert.equal(fired, ['a', 'a2'])
  assert.is(clock.now(), 15)
  clock.advance(100)
  assert.equal(fired, ['a', 'a2', 'c'])
  assert.is(clock.pending, 0)
})

t.test('ManualClock runs timers scheduled by timers within the same advance', () => {
  const clock = new ManualClock()
  const at: number[] = []
  clock.setTimer(5, () => {
    at.push(clock.now())
    clock.setTimer(5, () => at.push(clock.now()))
  })
  clock.advance(10)
  assert.equal(at, [5, 10])
})

t.test('systemClock timers fire and can be cleared', async () => {
  const fired = deferred<number>()
  const start = systemClock.now()
  const cleared = systemClock.setTimer(1, () => fired.reject(new Error('cleared timer fired')))
  systemClock.clearTimer(cleared)
  systemClock.setTimer(5, () => fired.resolve(systemClock.now() - start), true)
  assert.ok((await fired.promise) >= 4)
})

t.test('systemClock caps a delay past what Node timers take, instead of firing at once', async () => {
  const warnings: string[] = []
  const onWarning = (w: Error): number => warnings.push(w.name)
  process.on('warning', onWarning)
  let fired = false
  const timer = systemClock.setTimer(MAX_DELAY_MS + 1000, () => (fired = true))
  const check = deferred()
  systemClock.setTimer(20, () => check.resolve()) // well past the 1 ms an overflowed timer waits
  await check.promise
  systemClock.clearTimer(timer)
  process.off('warning', onWarning)
  assert.is(fired, false)
  assert.not.ok(warnings.includes('TimeoutOverflowWarning'))
})

t.run()
