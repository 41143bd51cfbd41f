/**
 * A misspelt option is refused with ECONFIG by every public call of the grid, instead of being
 * ignored and its default used; calls that return a promise reject rather than throw.
 */
import * as assert from 'uvu/assert'
import { ActorSystem, Client, Job, Manager, WorkerPool, type TroupeError } from '../../index.js'
import { rejectsWith, suite } from '../harness.js'
import { memoryUrl } from '../transports/drivers.js'
import { FIXTURE_TASKS, Grid } from './grid.js'

const t = suite('misspelt option names')

async function refused(what: string, start: () => Promise<unknown>, option: string, suggestion?: string): Promise<void> {
  let call: Promise<unknown> | undefined
  try {
    call = start()
  } catch (err) {
    assert.unreachable(`${what} threw ${(err as TroupeError).code} instead of returning a rejected promise`)
  }
  const err = await rejectsWith(call as Promise<unknown>, 'ECONFIG')
  assert.equal(err.data, { option }, what)
  if (suggestion !== undefined) assert.ok(err.message.includes(`did you mean "${suggestion}"`), `${what}: ${err.message}`)
}

class Idle extends Job {
  async run() {
    return 'idle'
  }
}

t.test('Manager.start, WorkerPool.start and Client.connect refuse a name they do not take, and start nothing', async () => {
  const url = memoryUrl()
  await refused('Manager.start', () => Manager.start({ listen: url, queSize: 10 } as never), 'queSize', 'queueSize')
  // the address is still free: the refused manager never listened
  const g = new Grid(t, 'mem')
  await g.startManager({ listen: url } as never)
  await refused('WorkerPool.start', () => WorkerPool.start({ manager: url, tasks: FIXTURE_TASKS, mode: 'inline', capacty: 2 } as never), 'capacty', 'capacity')
  await refused('WorkerPool.start standalone', () => WorkerPool.start({ listen: memoryUrl(), tasks: FIXTURE_TASKS, mode: 'inline', queue: 2 } as never), 'queue')
  await refused('Client.connect', () => Client.connect(url, { connectTimout: 100 } as never), 'connectTimout', 'connectTimeout')
  await refused('Client.connect retry', () => Client.connect(url, { retry: { attempt: 1 } } as never), 'attempt', 'attempts')
  assert.is(g.manager.stats().workers, 0)
})

t.test('the heartbeat, tls and reconnect objects refuse a misspelt name too, in the actor core as well', async () => {
  const url = memoryUrl()
  await refused('Manager.start heartbeat', () => Manager.start({ listen: url, heartbeat: { intervl: 100 } } as never), 'intervl', 'interval')
  await refused('Manager.start tls', () => Manager.start({ listen: 'tcp://127.0.0.1:0', tls: { certificate: 'x' } } as never), 'certificate')
  const g = new Grid(t, 'mem')
  await g.startManager({ listen: url } as never)
  await refused('WorkerPool.start reconnect', () => WorkerPool.start({ manager: url, tasks: FIXTURE_TASKS, mode: 'inline', reconnect: { maxDelai: 10 } } as never), 'maxDelai', 'maxDelay')
  await refused('Client.connect reconnect', () => Client.connect(url, { reconnect: { initalDelay: 10 } } as never), 'initalDelay', 'initialDelay')
  const system = new ActorSystem()
  t.cleanup(() => system.close())
  await refused('ActorSystem connect heartbeat', () => system.connect(url, { heartbeat: { misses: 2, interval: 100, intreval: 5 } } as never), 'intreval', 'interval')
  assert.is(g.manager.stats().workers, 0)
})

t.test('run, all, each, eval, broadcast, job and close refuse a misspelt option; nothing is sent', async () => {
  const g = new Grid(t, 'mem')
  const manager = await g.startManager()
  const pool = await g.pool()
  const client = await g.client()
  await refused('run', () => client.run('add', [1, 1], { timout: 10 } as never), 'timout', 'timeout')
  await refused('all', () => client.all('add', [[1, 1]], { priorty: 1 } as never), 'priorty', 'priority')
  await refused('eval', () => client.eval(() => 1, null, { runtimeout: 5 } as never), 'runtimeout', 'runTimeout')
  await rejectsWith(client.each('add', [[1, 1]], { concurency: 2 } as never)[Symbol.asyncIterator]().next(), 'ECONFIG')
  await refused('broadcast', () => client.broadcast('__x', 1, { workers: 2 } as never), 'workers') // a job's option, not a broadcast's
  await refused('job', () => client.job(Idle, { worker: 2 } as never).run(), 'worker', 'workers')
  await refused('manager.close', () => manager.close({ drian: true } as never), 'drian', 'drain')
  await refused('pool.close', () => pool.close({ timeOut: 5 } as never), 'timeOut', 'timeout')
  await client.stats()
  const { done, failed, workers } = manager.stats()
  assert.equal({ done, failed, workers }, { done: 0, failed: 0, workers: 1 }, 'nothing ran, and nothing closed')
  // every option the README lists is still taken
  const each = client.each('add', [[2, 2]], { concurrency: 1, timeout: 5000, priority: 1 })
  for await (const r of each) assert.equal(r, { index: 0, ok: true, value: 4 })
  assert.equal(await client.all('add', [[1, 2]], { timeout: 5000, runTimeout: 5000, assignTimeout: 5000, priority: 0, key: 'k', signal: new AbortController().signal, onProgress: () => {} }), [3])
})

t.run()
