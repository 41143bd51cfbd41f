import { connect, type Socket } from 'node:net'
import * as assert from 'uvu/assert'
import { WorkerPool } from '../../index.js'
import { nextEvent, suite } from '../harness.js'
import { rawServer } from '../raw-server.js'
import { Grid } from './grid.js'

const t = suite('a pool that rejoins before its old connection closes')

/** A TCP relay to `port` whose links can be frozen: a frozen link forwards nothing but stays open. */
async function relay(port: number) {
  const links: { pool: Socket; manager: Socket; frozen: boolean }[] = []
  // a frozen link's close does not carry over, so its manager side is destroyed here
  t.cleanup(() => links.forEach((link) => link.manager.destroy()))
  const server = await rawServer(t, (pool) => {
    const link = { pool, manager: connect(port, '127.0.0.1'), frozen: false }
    links.push(link)
    pool.on('data', (d) => void (link.frozen || link.manager.write(d)))
    link.manager.on('data', (d) => void (link.frozen || pool.write(d)))
    for (const [a, b] of [[pool, link.manager], [link.manager, pool]] as const) {
      a.on('error', () => {})
      a.on('close', () => link.frozen || b.destroy())
    }
  })
  return { address: server.url, links }
}

t.test('the old connection closing late leaves the new one in broadcasts and system messages', async () => {
  const g = new Grid(t, 'tcp')
  const manager = await g.startManager({ heartbeat: false }) // it must not notice the freeze itself
  const via = await relay(Number(new URL(manager.address.replace('tcp:', 'http:')).port))
  const joined = nextEvent(manager, 'worker')
  const pool = await WorkerPool.start({
    manager: via.address,
    mode: 'inline',
    tasks: { __ping: () => 'pong' },
    heartbeat: { interval: 50, misses: 2 },
    reconnect: { initialDelay: 10, maxDelay: 50 },
  })
  t.cleanup(() => pool.close())
  await joined
  const client = await g.client()
  const rejoined = nextEvent(manager, 'worker')
  via.links[0]!.frozen = true // the pool hears nothing, gives up on the link and joins again
  await rejoined
  const oldGone = nextEvent(manager, 'workerLost')
  via.links[0]!.manager.destroy() // only now does the manager see the old connection close
  await oldGone
  const outcomes = await client.broadcast('__ping', null, { timeout: 2000 })
  assert.equal(outcomes.map((o) => [o.worker, o.ok]), [[pool.id, true]])
  const heard = nextEvent(pool, 'sysmsg')
  assert.equal(await client.systemMessage('hello', { to: pool.id }), [pool.id])
  assert.equal(await heard, ['hello', client.id])
})

t.run()
