import * as assert from 'uvu/assert'
import { fitsSlots, lessLoaded, rangeOf, slotRanges } from '../../actors/routing.js'
import { TroupeError } from '../../lib/errors.js'
import { suite } from '../harness.js'

const t = suite('routing')
const ranges = slotRanges({ 1: 30, 2: 20 }, 100)

/** The most tasks of `priority` that may start, with `others` already running per range. */
function cap(priority: number, sacred: boolean, others: [number, number, number] = [0, 0, 0]): number {
  const running = [...others]
  let n = 0
  while (running.reduce((a, b) => a + b, 0) < 100 && fitsSlots(ranges, 100, running, priority, sacred)) {
    running[rangeOf(ranges, priority)]!++
    n++
  }
  return n
}

t.test('ranges: below 1, [1, 2), 2 and up', () => {
  assert.equal(ranges, { thresholds: [1, 2], guarantees: [30, 20] })
  assert.equal([-5, 0, 0.99, 1, 1.5, 2, 99].map((p) => rangeOf(ranges, p)), [0, 0, 0, 1, 1, 2, 2])
})

t.test('API.md example: priority < 1 capped at 50, < 2 at 80, the rest at 100', () => {
  assert.is(cap(0, false), 50)
  assert.is(cap(1, false), 80)
  assert.is(cap(2, false), 100)
  // the caps are cumulative: with 50 low tasks running, [1, 2) may add 30
  assert.is(cap(1, false, [50, 0, 0]), 30)
})

t.test('sacredGuarantees: priority ≥ 2 capped at 70, leaving the 30 of [1, 2) alone', () => {
  assert.is(cap(2, true), 70)
  assert.is(cap(1, true), 80)
  assert.is(cap(0, true), 50)
  assert.is(cap(1, true, [0, 0, 70]), 30, 'the guarantee of [1, 2) survives a flood of priority 2')
  assert.is(cap(1, false, [0, 0, 100]), 0, 'without sacred it does not')
})

t.test('least loaded wins; ties go to the shorter average run time', () => {
  const w = (id: string, load: number, avgRunMs: number) => ({ id, capacity: 10, running: load * 10, load, avgRunMs })
  const [a, b, c] = [w('a', 0.5, 1), w('b', 0.2, 9), w('c', 0.2, 3)]
  assert.ok(lessLoaded(b, a) && !lessLoaded(a, b), 'lower load wins over a shorter run time')
  assert.ok(lessLoaded(c, b) && !lessLoaded(b, c), 'a tie goes to the shorter run time')
  assert.not.ok(lessLoaded(c, c), 'a pool is not preferred to itself')
})

t.test('bad prioritySlots fail with ECONFIG', () => {
  for (const bad of [[1], { x: 1 }, { 1: 0 }, { 1: 1.5 }, { 1: 60, 2: 50 }, 'x']) {
    try {
      slotRanges(bad, 100)
      assert.unreachable(JSON.stringify(bad))
    } catch (err) {
      assert.is((err as TroupeError).code, 'ECONFIG')
    }
  }
  assert.equal(slotRanges(undefined, 5), { thresholds: [], guarantees: [] })
})

t.run()
