import * as assert from 'uvu/assert'
import { Client, Manager } from '../../index.js'
import { probe } from '../fixtures/probe.js'
import { deferred, nextEvent, rejectsWith, settlements, suite, withDeadline } from '../harness.js'
import { FIXTURE_TASKS, Grid, poolsJoined } from './grid.js'

const t = suite('grid faults')

/** Runs `pidSleep` and calls `onPid` with the pid of each process that starts it. */
function pidSleep(client: Client, ms: number, onPid: (pid: number) => void) {
  return client.run<{ pid: number; attempt: number }>('pidSleep', ms, { onProgress: onPid })
}

t.test('SIGKILL of a child mid-task: the task runs again elsewhere and completes', async () => {
  const g = new Grid(t, 'tcp')
  await g.startManager()
  await g.pool({ mode: 'process', tasks: FIXTURE_TASKS, workers: 2, capacity: 2, reconnect: { initialDelay: 20 } })
  const client = await g.client()
  const first = deferred<number>()
  const pids: number[] = []
  const call = pidSleep(client, 300, (pid) => {
    pids.push(pid)
    first.resolve(pid)
  })
  const killed = await withDeadline(first.promise, 10_000, 'task started')
  process.kill(killed, 'SIGKILL')
  const result = await call
  assert.is(result.attempt, 2)
  assert.is.not(result.pid, killed)
  assert.equal(pids, [killed, result.pid])
  assert.is(g.manager.stats().requeued, 1)
})

t.test('maxAttempts exhausted: EWORKERLOST', async () => {
  const g = new Grid(t, 'tcp')
  await g.startManager({ maxAttempts: 2 })
  await g.pool({ mode: 'process', tasks: FIXTURE_TASKS, workers: 1, reconnect: { initialDelay: 20 } })
  const client = await g.client()
  const lost = rejectsWith(pidSleep(client, 30_000, (pid) => process.kill(pid, 'SIGKILL')), 'EWORKERLOST')
  const err = await lost
  assert.match(err.message, /lost 2 time/)
  assert.is(g.manager.stats().lost, 1)
})

t.test('a pool whose only worker dies takes no attempt until it is back: the task runs again there', async () => {
  for (const mode of ['process', 'thread'] as const) {
    const g = new Grid(t, 'tcp')
    await g.startManager({ maxAttempts: 2 })
    await g.pool({ mode, tasks: FIXTURE_TASKS, workers: 1, capacity: 1, reconnect: { initialDelay: 20 } })
    const client = await g.client()
    assert.is(await client.run('exitOnFirstAttempt', null), 2, mode)
    assert.is(g.manager.stats().requeued, 1, mode)
  }
})

t.test('a pool that leaves mid-run: its tasks are re-queued to the pool that stays', async () => {
  const g = new Grid(t, 'mem')
  const manager = await g.startManager()
  const leaving = await g.pool({ capacity: 5 })
  const client = await g.client()
  const started = nextEvent(probe, 'start')
  const calls = Array.from({ length: 3 }, (_, i) => client.run('watched', { ms: 100, tag: `t${i}` }))
  await started
  const lost = nextEvent<[string, number]>(manager, 'workerLost')
  await leaving.close()
  const [id, running] = await lost
  assert.is(id, leaving.id)
  assert.is(running, 3)
  await g.pool({ capacity: 5 })
  assert.equal(await Promise.all(calls), [100, 100, 100])
})

t.test('manager restarted on the same port: pending and new tasks complete with one result each', async () => {
  const first = await Manager.start({ listen: 'tcp://127.0.0.1:0' })
  const address = first.address
  let current = first
  t.cleanup(() => current.close())
  const g = new Grid(t, 'tcp')
  g.manager = first
  const fast = { reconnect: { initialDelay: 20, maxDelay: 100 } }
  await g.pool({ capacity: 4, ...fast })
  const client = await g.client(fast)
  const before = Array.from({ length: 8 }, (_, i) => client.run('watched', { ms: 100, tag: `b${i}` }))
  const counts = before.map((c) => settlements(c))
  await client.stats()
  const down = nextEvent(client, 'disconnected')
  await first.close()
  await down
  const during = client.run('add', [2, 3]) // while the manager is away
  current = await Manager.start({ listen: address })
  await poolsJoined(current, 1)
  const after = client.run('add', [4, 4])
  assert.equal(await Promise.all(before), Array(8).fill(100))
  assert.equal([await during, await after], [5, 8])
  await client.stats()
  for (const c of counts) assert.is(c.count, 1)
})

t.test('10 000 tasks from 4 clients, 2 process pools, a child SIGKILLed every 200 ms: each task gets exactly one result', async () => {
  const g = new Grid(t, 'tcp')
  // kills land on running tasks often here; allow enough runs that none is lost for good
  await g.startManager({ maxAttempts: 20 })
  const respawn = { reconnect: { initialDelay: 20, maxDelay: 200 } }
  await g.pool({ mode: 'process', tasks: FIXTURE_TASKS, workers: 2, capacity: 16, ...respawn })
  await g.pool({ mode: 'process', tasks: FIXTURE_TASKS, workers: 2, capacity: 16, ...respawn })
  const clients = await Promise.all([0, 1, 2, 3].map(() => g.client()))
  const pids = new Set<number>()
  let kills = 0
  const killer = setInterval(() => {
    const victim = [...pids][kills % Math.max(1, pids.size)]
    if (victim === undefined) return
    pids.delete(victim)
    try {
      process.kill(victim, 'SIGKILL')
      kills++
    } catch {
      // already gone
    }
  }, 200)
  t.cleanup(() => clearInterval(killer))
  const settled = new Uint8Array(10_000)
  const results = await Promise.all(
    clients.map(async (client, c) => {
      const inputs = Array.from({ length: 2500 }, (_, i) => [c * 2500 + i, 1] as [number, number])
      for await (const r of client.each<{ sum: number; pid: number }>('addPid', inputs, { concurrency: 200 })) {
        const n = c * 2500 + r.index
        settled[n]!++
        assert.ok(r.ok, r.ok ? '' : `task ${n}: ${r.error.code} ${r.error.message}`)
        if (r.ok) {
          assert.is(r.value.sum, n + 1)
          pids.add(r.value.pid)
        }
      }
      return client.pending
    }),
  )
  clearInterval(killer)
  assert.ok(settled.every((n) => n === 1), 'every task settled exactly once')
  assert.equal(results, [0, 0, 0, 0])
  assert.ok(kills >= 2, `children were killed during the run (${kills})`)
}, 120_000)

t.run()
