import * as assert from 'uvu/assert'
import { Client, Manager, WorkerPool } from '../../index.js'
import { nextEvent, suite } from '../harness.js'
import { relay } from '../raw-server.js'
import { Grid, heldTask } from './grid.js'

const t = suite('pools rejoining a manager')

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

/** Inline tasks: `hold` runs until the test lets it go, ignoring its signal; `add` at once. */
function heldTasks() {
  const held = heldTask(t)
  const tasks = { hold: held.task, add: ([a, b]: [number, number]) => a + b }
  return { tasks, started: held.started, release: held.release }
}

/** A manager on tcp:// port 0, closed by the test, and a way to start another on its address. */
async function managerToRestart() {
  const first = await Manager.start({ listen: 'tcp://127.0.0.1:0' })
  t.cleanup(() => first.close())
  const next = async (): Promise<Manager> => {
    const m = await Manager.start({ listen: first.address })
    t.cleanup(() => m.close())
    return m
  }
  return { first, next }
}

t.test('a pool draining when its manager restarts joins the new one draining: it is sent nothing new', async () => {
  const { first, next } = await managerToRestart()
  const held = heldTasks()
  // the pool rejoins well after the new manager holds a task for it
  const pool = await WorkerPool.start({ manager: first.address, tasks: held.tasks, capacity: 4, reconnect: { initialDelay: 500, maxDelay: 500 } })
  const client = await Client.connect(first.address, { reconnect: false })
  t.cleanup(() => client.close())
  const long = client.run('hold', null).catch((err: Error) => err)
  await held.started
  const closing = pool.close({ drain: true, timeout: 10_000 })
  await first.close()
  const second = await next()
  const joined = nextEvent(second, 'worker')
  const other = await Client.connect(second.address)
  t.cleanup(() => other.close())
  void other.run('add', [1, 2]).catch(() => {}) // waits in the queue: no pool takes it
  await other.stats() // behind the submit
  await joined
  const { busy, queued } = second.stats()
  assert.equal({ busy, queued }, { busy: 0, queued: 1 })
  held.release()
  await closing
  await long
})

t.test('a pool with prioritySlots rejoins while a run it gave up still holds a slot', async () => {
  const { first, next } = await managerToRestart()
  const held = heldTasks()
  const pool = await WorkerPool.start({ manager: first.address, tasks: held.tasks, capacity: 2, prioritySlots: { 1: 2 }, reconnect: { initialDelay: 20, maxDelay: 100 } })
  t.cleanup(() => pool.close())
  const client = await Client.connect(first.address, { reconnect: false })
  t.cleanup(() => client.close())
  void client.run('hold', null, { priority: 1 }).catch(() => {})
  await held.started
  await first.close() // the run goes on, abandoned: the pool can take 1 task, not 2
  const second = await next()
  const [info] = await nextEvent<[{ capacity: number }]>(second, 'worker')
  assert.is(info.capacity, 1)
  const other = await Client.connect(second.address)
  t.cleanup(() => other.close())
  assert.is(await other.run('add', [1, 2], { priority: 5 }), 3)
  held.release()
})

t.run()
