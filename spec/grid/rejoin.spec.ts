import * as assert from 'uvu/assert'
import { WorkerPool } from '../../index.js'
import { nextEvent, suite } from '../harness.js'
import { relay } from '../raw-server.js'
import { Grid } from './grid.js'

const t = suite('a pool that rejoins before its old connection closes')

t.test('the old connection closing late leaves the new one in broadcasts and system messages', async () => {
  const g = new Grid(t, 'tcp')
  const manager = await g.startManager({ heartbeat: false }) // it must not notice the freeze itself
  const via = await relay(t, manager.address)
  const joined = nextEvent(manager, 'worker')
  const pool = await WorkerPool.start({
    manager: via.url,
    mode: 'inline',
    tasks: { __ping: () => 'pong' },
    heartbeat: { interval: 50, misses: 2 },
    reconnect: { initialDelay: 10, maxDelay: 50 },
  })
  t.cleanup(() => pool.close())
  await joined
  const client = await g.client()
  const rejoined = nextEvent(manager, 'worker')
  via.links[0]!.freeze() // the pool hears nothing, gives up on the link and joins again
  await rejoined
  const oldGone = nextEvent(manager, 'workerLost')
  via.links[0]!.outbound.destroy() // only now does the manager see the old connection close
  await oldGone
  const outcomes = await client.broadcast('__ping', null, { timeout: 2000 })
  assert.equal(outcomes.map((o) => [o.worker, o.ok]), [[pool.id, true]])
  const heard = nextEvent(pool, 'sysmsg')
  assert.equal(await client.systemMessage('hello', { to: pool.id }), [pool.id])
  assert.equal(await heard, ['hello', client.id])
})

t.run()
