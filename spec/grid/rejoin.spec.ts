import * as assert from 'uvu/assert'
import { Client, Manager, WorkerPool } from '../../index.js'
import type { Peer } from '../../actors/peer.js'
import { ActorSystem } from '../../actors/system.js'
import { encodeValue } from '../../lib/codec.js'
import { Kind } from '../../lib/envelope.js'
import { deferred, nextEvent, suite, unique } from '../harness.js'
import { relay } from '../raw-server.js'
import { Grid, heldTask } from './grid.js'

const t = suite('pools rejoining a manager')

t.test('a state change during a rejoin reaches the manager after its join, never before', async () => {
  // A manager takes the join in its mailbox (a microtask later) but reads a PoolState at once:
  // one that came first was a bad frame, and the connection closed. This fake manager holds the
  // second join open while the pool's capacity changes, and records what arrived before its answer.
  const name = unique('rejoin-state')
  const manager = new ActorSystem({ name: 'fake-manager' })
  t.cleanup(() => manager.close())
  let pool: Peer | undefined
  let joins = 0
  const secondJoin = deferred()
  const answer = deferred<{ manager: string }>()
  const states: { capacity: number; joinAnswered: boolean }[] = []
  const stateArrived = deferred()
  let joinAnswered = false
  manager.extend({
    peerOpened: (peer) => (pool = peer),
    envelope: (_peer, env) => {
      if (env.k === Kind.PoolState) {
        states.push({ capacity: env.capacity, joinAnswered })
        stateArrived.resolve()
      }
      return true
    },
  })
  manager.spawn('troupe.manager', () => {
    if (++joins === 1) {
      queueMicrotask(() => pool?.send({ k: Kind.Assign, id: 1, name: 'held', body: encodeValue(null), priority: 0, attempt: 1 }))
      return { manager: manager.id }
    }
    secondJoin.resolve()
    return answer.promise.then((reply) => ((joinAnswered = true), reply))
  }, { overlap: true })
  await manager.listen(`mem://${name}`)
  const held = heldTask(t)
  const workers = await WorkerPool.start({ manager: `mem://${name}`, tasks: { held: held.task }, capacity: 1, reconnect: { initialDelay: 10 } })
  t.cleanup(() => workers.close())
  await held.started
  await pool?.close() // the pool rejoins while its orphaned run still holds the slot
  await secondJoin.promise
  held.release() // the slot frees while the join waits for its answer
  // the run's end goes through microtasks only: two turns of the loop see its report, if any
  for (let turn = 0; turn < 2; turn++) await new Promise(setImmediate)
  assert.equal(states, [], 'nothing before the join is answered')
  answer.resolve({ manager: manager.id })
  await stateArrived.promise
  assert.equal(states, [{ capacity: 1, joinAnswered: true }])
})

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
