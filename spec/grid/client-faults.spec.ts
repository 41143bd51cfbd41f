import * as assert from 'uvu/assert'
import { nextEvent, rejectsWith, suite } from '../harness.js'
import { Grid } from './grid.js'

const t = suite('client faults')

/** Each of these should settle well within it; a hang fails the test instead of the run. */
const FAST_MS = 2000

t.test('reconnect: false: a call made after the manager is lost fails at once with ECLOSED', async () => {
  const g = new Grid(t, 'mem')
  const manager = await g.startManager()
  const client = await g.client({ reconnect: false })
  const gone = nextEvent(client, 'disconnected')
  await manager.close()
  await gone
  await rejectsWith(client.run('add', [2, 3]), 'ECLOSED')
  await rejectsWith(client.all('add', [[1, 2]]), 'ECLOSED')
  await rejectsWith(client.eval((x: number) => x, 1), 'ECLOSED')
  const outcomes = []
  for await (const r of client.each('add', [[1, 2]])) outcomes.push(r.ok ? 'ok' : r.error.code)
  assert.equal(outcomes, ['ECLOSED'])
  assert.is(client.pending, 0)
}, FAST_MS)

t.run()
