import * as assert from 'uvu/assert'
import { Client, Manager, WorkerPool } from '../../index.js'
import { nextEvent, rejectsWith, suite } from '../harness.js'
import { rawServer } from '../raw-server.js'
import { FIXTURE_TASKS, poolsJoined } from './grid.js'

const t = suite('reconnecting after the things around it fail')

const fast = { reconnect: { initialDelay: 20, maxDelay: 100 } }

/** A manager on tcp:// port 0 that the test may restart on the same address; the last one is closed. */
async function restartableManager(): Promise<{ address: string; current(): Manager; restart(): Promise<Manager> }> {
  let manager = await Manager.start({ listen: 'tcp://127.0.0.1:0' })
  t.cleanup(() => manager.close())
  const address = manager.address
  return {
    address,
    current: () => manager,
    async restart() {
      await manager.close()
      manager = await Manager.start({ listen: address })
      return manager
    },
  }
}

t.test('a connect signal aborted while connecting still aborts the connect', async () => {
  const controller = new AbortController()
  const silent = await rawServer(t, (socket) => {
    socket.resume() // accepts and reads, never speaks: the handshake waits
    controller.abort()
  })
  await rejectsWith(Client.connect(silent.url, { ...fast, signal: controller.signal }), 'EABORT')
  await rejectsWith(WorkerPool.start({ manager: silent.url, tasks: FIXTURE_TASKS, mode: 'inline', ...fast, signal: controller.signal }), 'EABORT')
})

t.test('a connect signal that fires after connecting does not stop a client or a pool from reconnecting', async () => {
  const grid = await restartableManager()
  const clientSignal = new AbortController()
  const poolSignal = new AbortController()
  const pool = await WorkerPool.start({ manager: grid.address, tasks: FIXTURE_TASKS, mode: 'inline', ...fast, signal: poolSignal.signal })
  t.cleanup(() => pool.close())
  const client = await Client.connect(grid.address, { ...fast, signal: clientSignal.signal })
  t.cleanup(() => client.close())
  assert.is(await client.run('add', [1, 2]), 3)
  clientSignal.abort() // as AbortSignal.timeout() does, long after connecting
  poolSignal.abort()
  const clientBack = nextEvent(client, 'connected')
  const poolBack = nextEvent(pool, 'connected')
  const manager = await grid.restart()
  await clientBack
  await poolBack
  await poolsJoined(manager, 1)
  assert.is(await client.run('add', [2, 3], { timeout: 5000 }), 5)
})

t.test('a disconnected listener that throws does not stop a client or a pool from reconnecting', async () => {
  const grid = await restartableManager()
  const pool = await WorkerPool.start({ manager: grid.address, tasks: FIXTURE_TASKS, mode: 'inline', ...fast })
  t.cleanup(() => pool.close())
  const client = await Client.connect(grid.address, fast)
  t.cleanup(() => client.close())
  // first: a throwing listener stops the listeners after it
  const poolDown = nextEvent(pool, 'disconnected')
  const clientDown = nextEvent(client, 'disconnected')
  pool.on('disconnected', () => {
    throw new Error('a pool listener bug')
  })
  client.on('disconnected', () => {
    throw new Error('a client listener bug')
  })
  const clientBack = nextEvent(client, 'connected')
  const poolBack = nextEvent(pool, 'connected')
  const manager = await grid.restart()
  await Promise.all([poolDown, clientDown]) // the listeners did run, and threw
  await clientBack
  await poolBack
  await poolsJoined(manager, 1)
  assert.is(await client.run('add', [2, 3], { timeout: 5000 }), 5)
})

t.test('a disconnected listener that throws does not keep a client without reconnect from failing its calls', async () => {
  const grid = await restartableManager()
  const client = await Client.connect(grid.address, { reconnect: false })
  t.cleanup(() => client.close())
  const down = nextEvent(client, 'disconnected') // first: a throwing listener stops those after it
  client.on('disconnected', () => {
    throw new Error('a client listener bug')
  })
  const waiting = rejectsWith(client.run('add', [1, 2]), 'ECLOSED') // no pool: it waits in the manager's queue
  await client.stats() // the call has reached the manager
  await grid.current().close()
  await down
  await waiting
  await rejectsWith(client.run('add', [1, 2]), 'ECLOSED')
}, 10_000)

t.test("a connected listener that throws neither holds back a client's calls nor keeps a pool from joining", async () => {
  const grid = await restartableManager()
  const pool = await WorkerPool.start({ manager: grid.address, tasks: FIXTURE_TASKS, mode: 'inline', ...fast })
  t.cleanup(() => pool.close())
  const client = await Client.connect(grid.address, fast)
  t.cleanup(() => client.close())
  const clientBack = nextEvent(client, 'connected') // first: a throwing listener stops those after it
  const poolBack = nextEvent(pool, 'connected')
  client.on('connected', () => {
    throw new Error('a client listener bug')
  })
  pool.on('connected', () => {
    throw new Error('a pool listener bug')
  })
  const clientDown = nextEvent(client, 'disconnected')
  await grid.current().close()
  await clientDown
  const waiting = client.run('add', [2, 3], { timeout: 5000 }) // queued while the manager is away
  const manager = await Manager.start({ listen: grid.address })
  t.cleanup(() => manager.close())
  await Promise.all([clientBack, poolBack])
  assert.is(await waiting, 5)
  await poolsJoined(manager, 1)
  assert.is(manager.stats().pools.length, 1, 'joined once, not over and over')
})

t.run()
