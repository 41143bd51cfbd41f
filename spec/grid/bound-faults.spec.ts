/**
 * Bounds a misbehaving peer cannot push past: progress to a client (or a manager) that does not
 * read is dropped instead of queued, and a pool's join waits no longer than connectTimeout.
 */
import { connect } from 'node:net'
import * as assert from 'uvu/assert'
import { WorkerPool } from '../../index.js'
import { resolveNetworkOptions } from '../../actors/network-options.js'
import type { Peer } from '../../actors/peer.js'
import { ActorSystem } from '../../actors/system.js'
import type { TaskContext } from '../../actors/tasks.js'
import { systemClock } from '../../lib/clock.js'
import { encodeValue } from '../../lib/codec.js'
import { Kind, encodeEnvelope, readEnvelope } from '../../lib/envelope.js'
import { openDialed } from '../../transports/index.js'
import { StreamLink } from '../../transports/stream-link.js'
import { deferred, rejectsWith, suite, unique } from '../harness.js'

const t = suite('bound faults')

const RESULT_BYTES = 8 * 1024 * 1024
// results queued for the client before the progress: more than the kernel's socket buffers
// hold on loopback (up to ~36 MiB on Linux) plus the 1 MiB past which a connection is congested
const BIG_RESULTS = 6
const PROGRESS_REPORTS = 20_000

t.test('a client that does not read: progress to it is dropped, its results are not', async () => {
  const reported = deferred()
  const tasks = {
    big: () => new Uint8Array(RESULT_BYTES),
    async chatty(_: unknown, ctx: TaskContext) {
      for (let i = 0; i < PROGRESS_REPORTS; i++) {
        ctx.progress(i)
        if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve))
      }
      reported.resolve()
      return 'done'
    },
  }
  // standalone: no connection between the pool and the manager, only the one to the client
  const pool = await WorkerPool.start({ listen: 'tcp://127.0.0.1:0', tasks, capacity: 1, heartbeat: false })
  t.cleanup(() => pool.close())
  const url = new URL(pool.address as string)
  const socket = connect({ host: url.hostname, port: Number(url.port) })
  t.cleanup(() => socket.destroy())
  await new Promise((resolve) => socket.once('connect', resolve))
  const options = await resolveNetworkOptions('slow-client', systemClock, { heartbeat: false })
  let progress = 0
  const done = new Set<number>()
  const allDone = deferred()
  const transport = await openDialed(new StreamLink(socket, 'the pool'), options, {
    frame(buf, start, end) {
      const env = readEnvelope(buf, start, end)
      if (env.k === Kind.Progress) progress++
      else if (env.k === Kind.Done && done.add(env.id).size === BIG_RESULTS + 1) allDone.resolve()
    },
    drain() {},
    closed: (why) => allDone.reject(why),
  })
  t.cleanup(() => transport.close())
  socket.pause() // the client stops reading
  const none = encodeValue(null)
  for (let id = 1; id <= BIG_RESULTS; id++) transport.send(encodeEnvelope({ k: Kind.Submit, id, name: 'big', body: none, priority: 0 }))
  transport.send(encodeEnvelope({ k: Kind.Submit, id: BIG_RESULTS + 1, name: 'chatty', body: none, priority: 0 }))
  await reported.promise // every report made while the client was not reading
  socket.resume()
  await allDone.promise
  assert.is(done.size, BIG_RESULTS + 1, 'every result arrived')
  assert.is(progress, 0, 'no progress queued behind the results the client was not reading')
}, 3000)

t.test('a manager that reads slower than a task reports: the pool drops progress, not results', async () => {
  const name = unique('bound-progress')
  const manager = new ActorSystem({ name: 'fake-manager' })
  t.cleanup(() => manager.close())
  let progress = 0
  const finished = deferred<string>()
  let pool: Peer | undefined
  manager.extend({
    peerOpened: (peer) => (pool = peer),
    envelope: (_peer, env) => {
      if (env.k === Kind.Progress) progress++
      else if (env.k === Kind.Done) finished.resolve('done')
      else if (env.k === Kind.Failed) finished.resolve(env.err.code)
      return true
    },
  })
  manager.spawn('troupe.manager', () => {
    queueMicrotask(() => pool?.send({ k: Kind.Assign, id: 1, name: 'burst', body: encodeValue(null), priority: 0, attempt: 1 }))
    return { manager: manager.id }
  })
  await manager.listen(`mem://${name}`)
  // one turn's reports, about 1.5 MiB in all: past the 1 MiB a connection takes before it is congested
  const reports = 150_000
  const tasks = {
    burst(_: unknown, ctx: TaskContext) {
      for (let i = 0; i < reports; i++) ctx.progress(i)
      return 'done'
    },
  }
  const workers = await WorkerPool.start({ manager: `mem://${name}`, tasks })
  t.cleanup(() => workers.close())
  assert.is(await finished.promise, 'done', 'the result arrived')
  assert.ok(progress > 0, 'progress goes through while the connection keeps up')
  assert.ok(progress < reports, `progress past the congestion was dropped (${progress} of ${reports} sent)`)
}, 3000)

/** A manager that takes connections and answers the first `answered` joins, and no other. */
async function silentManager(answered: number) {
  const name = unique('bound-join')
  const system = new ActorSystem({ name: 'fake-manager' })
  t.cleanup(() => system.close())
  let joins = 0
  const waiting = new Map<number, () => void>()
  let last: Peer | undefined
  system.extend({ envelope: () => false, peerOpened: (peer) => (last = peer) })
  system.spawn('troupe.manager', () => {
    joins++
    waiting.get(joins)?.()
    return joins <= answered ? { manager: system.id } : new Promise(() => {}) // never answers: closing cancels it
  }, { overlap: true })
  await system.listen(`mem://${name}`)
  return {
    url: `mem://${name}`,
    joinsAtLeast(n: number): Promise<void> {
      if (joins >= n) return Promise.resolve()
      return new Promise((resolve) => waiting.set(n, resolve))
    },
    dropLast: () => last?.close(),
  }
}

t.test('a manager that never answers the join: start() fails with ECLOSED once connectTimeout is up', async () => {
  let starting: Promise<WorkerPool> | undefined
  t.cleanup(() => starting?.then((pool) => pool.close(), () => {})) // after the manager closed: settled by then
  const manager = await silentManager(0)
  starting = WorkerPool.start({ manager: manager.url, tasks: { x: () => 1 }, connectTimeout: 300, reconnect: { initialDelay: 10 } })
  await rejectsWith(starting, 'ECLOSED')
}, 3000)

t.test('a manager that stops answering the join after a loss: the pool keeps reconnecting', async () => {
  const manager = await silentManager(1)
  const pool = await WorkerPool.start({ manager: manager.url, tasks: { x: () => 1 }, connectTimeout: 200, reconnect: { initialDelay: 10, maxDelay: 10 } })
  t.cleanup(() => pool.close())
  await manager.dropLast()
  await manager.joinsAtLeast(3) // a join that was never answered, then another attempt
}, 3000)

t.run()
