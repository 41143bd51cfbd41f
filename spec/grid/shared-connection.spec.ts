/**
 * Pools of one process working for the same manager with the same options share one connection
 * (actors/manager-link.ts): each keeps its own capacity, tasks, broadcasts, system messages and
 * departure, as if it had a connection of its own.
 */
import * as assert from 'uvu/assert'
import { WorkerPool } from '../../index.js'
import type { Peer } from '../../actors/peer.js'
import { ActorSystem } from '../../actors/system.js'
import { encodeValue } from '../../lib/codec.js'
import { Kind, type Envelope } from '../../lib/envelope.js'
import { TroupeError } from '../../lib/errors.js'
import { deferred, nextEvent, rejectsWith, suite, unique } from '../harness.js'
import { Grid, heldTask, poolsJoined, schemes } from './grid.js'

for (const scheme of schemes) {
  const t = suite(`pools sharing a connection over ${scheme}://`)

  /**
   * A manager and three pools of capacity 1 that share its connection: pool i answers `who`
   * with i, and `held` runs until the test releases it; `started(n)` resolves once n have started.
   */
  async function sharedGrid() {
    const g = new Grid(t, scheme)
    await g.startManager()
    const held = heldTask(t)
    let starts = 0
    const waiters: { n: number; resolve: () => void }[] = []
    const counted = (): Promise<string> => {
      starts++
      for (const w of waiters) if (starts >= w.n) w.resolve()
      return held.task()
    }
    const started = (n: number): Promise<void> => {
      const d = deferred()
      waiters.push({ n, resolve: d.resolve })
      if (starts >= n) d.resolve()
      return d.promise
    }
    const pools: WorkerPool[] = []
    for (let i = 0; i < 3; i++) pools.push(await g.pool({ tasks: { who: () => i, held: counted }, capacity: 1 }))
    await poolsJoined(g.manager, 3)
    return { g, held, started, pools }
  }

  t.test('they join as node.slot, and each gets its own tasks and its own broadcast run', async () => {
    const { g, held, started, pools } = await sharedGrid()
    const [first, second, third] = pools as [WorkerPool, WorkerPool, WorkerPool]
    assert.equal([second.id, third.id], [`${first.id}.1`, `${first.id}.2`])
    assert.equal(g.manager.stats().pools.map((p) => p.id).sort(), pools.map((p) => p.id).sort())

    const client = await g.client()
    // capacity 1 each, least-loaded routing: three held tasks go one to each pool
    const runs = [0, 1, 2].map(() => client.run('held', null))
    await started(3)
    assert.equal(g.manager.stats().pools.map((p) => p.running), [1, 1, 1])
    held.release()
    assert.equal(await Promise.all(runs), ['released', 'released', 'released'])
  })

  t.test('a broadcast gets one outcome from each of them', async () => {
    const g = new Grid(t, scheme)
    await g.startManager()
    const pools: WorkerPool[] = []
    for (let i = 0; i < 3; i++) pools.push(await g.pool({ tasks: { __who: () => i } }))
    await poolsJoined(g.manager, 3)
    const outcomes = await (await g.client()).broadcast('__who', null)
    assert.equal(
      outcomes.map((o) => [o.worker, o.ok && o.value]).sort(),
      pools.map((p, i) => [p.id, i]).sort(),
    )
  })

  t.test('one that closes leaves alone: its running task runs again on another, the rest go on', async () => {
    const { g, held, started, pools } = await sharedGrid()
    const client = await g.client()
    const running = client.run('held', null)
    await started(1)
    const owner = g.manager.stats().pools.find((p) => p.running === 1)
    const leaving = pools.find((p) => p.id === owner?.id) as WorkerPool
    const lost = nextEvent<[string, number]>(g.manager, 'workerLost')
    await leaving.close()
    assert.equal(await lost, [leaving.id, 1])
    assert.is((leaving.stats() as { connected: boolean }).connected, false)
    await rejectsWith(leaving.systemMessage('still here?'), 'ECLOSED')
    held.release() // the re-run on another pool ends at once
    assert.is(await running, 'released')
    const staying = pools.filter((p) => p !== leaving)
    assert.equal(g.manager.stats().pools.map((p) => p.id).sort(), staying.map((p) => p.id).sort())
    assert.ok(staying.every((p) => (p.stats() as { connected: boolean }).connected), 'the connection stays up')
    const answers = new Set(await Promise.all(Array.from({ length: 6 }, () => client.run('who', null))))
    assert.ok(answers.size >= 1 && [...answers].every((a) => a !== pools.indexOf(leaving)), `answered by ${[...answers]}`)
  })

  t.test('system messages reach each of them, and not the one that sent it', async () => {
    const { g, pools } = await sharedGrid()
    const [first, second, third] = pools as [WorkerPool, WorkerPool, WorkerPool]
    const seen: string[] = []
    for (const p of pools) p.on('sysmsg', (msg) => seen.push(`${p.id} ${String(msg)}`))
    const client = await g.client()

    const all = await client.systemMessage('all')
    assert.equal(all.sort(), [g.manager.id, ...pools.map((p) => p.id)].sort())
    assert.equal(seen.splice(0).sort(), pools.map((p) => `${p.id} all`).sort())

    const fromSecond = await second.systemMessage('from second')
    assert.equal(fromSecond.sort(), [g.manager.id, client.id, first.id, third.id].sort())
    assert.equal(seen.splice(0).sort(), [`${first.id} from second`, `${third.id} from second`].sort())

    assert.equal(await client.systemMessage('one', { to: third.id }), [third.id])
    assert.equal(seen.splice(0), [`${third.id} one`])
  })

  t.test('pools with other options, or a signal of their own, get a connection of their own', async () => {
    const g = new Grid(t, scheme)
    await g.startManager()
    const plain = await g.pool({ capacity: 2 })
    const sharing = await g.pool({ capacity: 3, prioritySlots: { 1: 1 }, tasks: { other: () => 0 } }) // not network options
    const otherHeartbeat = await g.pool({ heartbeat: { interval: 4000 } })
    const withSignal = await g.pool({ signal: new AbortController().signal })
    assert.is(sharing.id, `${plain.id}.1`)
    for (const own of [otherHeartbeat, withSignal]) assert.not.match(own.id, '.', `${own.id} is a node of its own`)
    assert.is(new Set([plain.id, otherHeartbeat.id, withSignal.id]).size, 3)
  })

  t.run()
}

const protocol = suite('pools sharing a connection: the protocol')

/** A manager played by hand over mem://: answers joins with `reply`, records what pools send. */
async function handMadeManager(reply: (request: { op: string; pool?: number }, peer: Peer) => unknown) {
  const system = new ActorSystem({ name: 'fake-manager' })
  protocol.cleanup(() => system.close())
  const received: Envelope[] = []
  const arrived = new Set<() => void>()
  let peer: Peer | undefined
  system.extend({
    peerOpened: (p) => (peer = p),
    envelope: (_peer, env) => {
      received.push(env)
      for (const wake of arrived) wake()
      return true
    },
  })
  const requests: { op: string; pool?: number }[] = []
  // overlap: an answer the test holds back must not hold up the requests behind it
  system.spawn('troupe.manager', (request: { op: string; pool?: number }) => (requests.push(request), reply(request, peer as Peer)), { overlap: true })
  const url = await system.listen(`mem://${unique('hand-made-manager')}`)
  const next = (k: Envelope['k']): Promise<Envelope> => {
    const found = received.find((e) => e.k === k)
    if (found !== undefined) return Promise.resolve(found)
    const got = deferred<Envelope>()
    const wake = (): void => {
      const env = received.find((e) => e.k === k)
      if (env !== undefined) (arrived.delete(wake), got.resolve(env))
    }
    arrived.add(wake)
    return got.promise
  }
  return { url, requests, next, send: (env: Envelope) => (peer as Peer).send(env), id: system.id, peer: () => peer as Peer }
}

protocol.test('work sent to a pool after it left is answered EWORKERLOST, for the slot it was sent to', async () => {
  const manager = await handMadeManager((r) => (r.op === 'join' ? { manager: 'm', pool: r.pool ?? 0 } : true))
  const first = await WorkerPool.start({ manager: manager.url, tasks: { __x: () => 1, x: () => 1 } })
  protocol.cleanup(() => first.close())
  const second = await WorkerPool.start({ manager: manager.url, tasks: { __x: () => 2, x: () => 2 } })
  await second.close()
  assert.equal(manager.requests.map((r) => `${r.op} ${r.pool}`), ['join 0', 'join 1', 'leave 1'])
  manager.send({ k: Kind.Assign, id: 7, name: 'x', body: encodeValue(null), priority: 0, attempt: 1, pool: 1 })
  manager.send({ k: Kind.Cast, id: 8, name: '__x', body: encodeValue(null), timeoutMs: 1000, pool: 1 })
  const failed = (await manager.next(Kind.Failed)) as Extract<Envelope, { k: typeof Kind.Failed }>
  const castFailed = (await manager.next(Kind.CastFailed)) as Extract<Envelope, { k: typeof Kind.CastFailed }>
  assert.equal([failed.id, failed.pool, failed.err.code], [7, 1, 'EWORKERLOST'])
  assert.equal([castFailed.id, castFailed.pool, castFailed.err.code], [8, 1, 'EWORKERLOST'])
  // the first pool, slot 0, still answers on the same connection, without a pool field
  manager.send({ k: Kind.Assign, id: 9, name: 'x', body: encodeValue(null), priority: 0, attempt: 1 })
  const done = (await manager.next(Kind.Done)) as Extract<Envelope, { k: typeof Kind.Done }>
  assert.equal([done.id, done.pool], [9, undefined])
})

protocol.test('a manager that predates sharing (no pool in its answer) is refused with EPROTO for the second pool only', async () => {
  const manager = await handMadeManager(() => ({ manager: 'old' }))
  const first = await WorkerPool.start({ manager: manager.url, tasks: { x: () => 1 }, reconnect: false })
  protocol.cleanup(() => first.close())
  await rejectsWith(WorkerPool.start({ manager: manager.url, tasks: { x: () => 2 }, reconnect: false }), 'EPROTO')
  assert.ok((first.stats() as { connected: boolean }).connected)
})


protocol.test('a join refused on a reconnect fails it for every pool: those that had joined hear the loss', async () => {
  let refuseSecond = false
  const manager = await handMadeManager((r) => {
    if (r.op !== 'join') return true
    if (refuseSecond && r.pool === 1) {
      refuseSecond = false
      throw new TroupeError('ECONFIG', 'not this time')
    }
    return { manager: 'm', pool: r.pool ?? 0 }
  })
  const options = { manager: manager.url, reconnect: { initialDelay: 10, maxDelay: 10 } }
  const first = await WorkerPool.start({ ...options, tasks: { x: () => 1 } })
  protocol.cleanup(() => first.close())
  const second = await WorkerPool.start({ ...options, tasks: { x: () => 2 } })
  protocol.cleanup(() => second.close())
  const events: string[] = []
  first.on('connected', () => events.push('connected'))
  first.on('disconnected', () => events.push('disconnected'))
  const joinedTwice = deferred()
  second.on('connected', () => joinedTwice.resolve())
  refuseSecond = true
  await manager.peer().close() // the next connection refuses the second pool once; the one after takes both
  await joinedTwice.promise
  assert.equal(events, ['disconnected', 'connected', 'disconnected', 'connected'])
})

protocol.test('a pool whose first join loses the connection joins on the next one', async () => {
  let dropped = false
  const manager = await handMadeManager((r, peer) => {
    if (r.op === 'join' && r.pool === 1 && !dropped) {
      dropped = true
      void peer.close()
      return new Promise(() => {}) // answered by the connection closing
    }
    return r.op === 'join' ? { manager: 'm', pool: r.pool ?? 0 } : true
  })
  const options = { manager: manager.url, reconnect: { initialDelay: 10, maxDelay: 10 } }
  const first = await WorkerPool.start({ ...options, tasks: { x: () => 1 } })
  protocol.cleanup(() => first.close())
  const second = await WorkerPool.start({ ...options, tasks: { x: () => 2 } })
  protocol.cleanup(() => second.close())
  assert.ok(dropped)
  assert.equal(manager.requests.map((r) => `${r.op} ${r.pool}`), ['join 0', 'join 1', 'join 0', 'join 1'])
})

protocol.test('a leave the manager does not answer closes the connection; the pools left join again', async () => {
  const manager = await handMadeManager((r) => (r.op === 'join' ? { manager: 'm', pool: r.pool ?? 0 } : new Promise(() => {})))
  const options = { manager: manager.url, connectTimeout: 200, reconnect: { initialDelay: 10, maxDelay: 10 } }
  const staying = await WorkerPool.start({ ...options, tasks: { x: () => 1 } })
  protocol.cleanup(() => staying.close())
  const leaving = await WorkerPool.start({ ...options, tasks: { x: () => 2 } })
  const rejoined = nextEvent(staying, 'connected')
  await leaving.close()
  await rejoined
  assert.equal(manager.requests.map((r) => `${r.op} ${r.pool}`), ['join 0', 'join 1', 'leave 1', 'join 0'])
})

protocol.run()
