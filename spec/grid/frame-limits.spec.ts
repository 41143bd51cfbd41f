/**
 * Nodes with different `maxFrame`s: each announces its limit in its Hello and every sender keeps
 * under the smaller one, so a frame too large for the receiver fails only the call it carries
 * (`EFRAME`). Before, the receiver closed the connection on it, the task was re-queued, and the
 * cycle lost every other caller's work on that pool as well (`EWORKERLOST`).
 */
import { connect as rawConnect } from 'node:net'
import { encode as cborxEncode } from 'cbor-x'
import * as assert from 'uvu/assert'
import { WorkerPool } from '../../index.js'
import { ActorSystem } from '../../actors/system.js'
import { EnvelopeError, Kind, PROTOCOL_VERSION, encodeEnvelope, readEnvelope, type Envelope, type Hello } from '../../lib/envelope.js'
import { announcedFrameLimit, newNonce, proofFor } from '../../transports/handshake.js'
import { LARGEST_FRAME_BYTES, SMALLEST_MAX_FRAME_BYTES } from '../../transports/transport.js'
import { StreamLink } from '../../transports/stream-link.js'
import { deferred, nextEvent, rejectsWith, suite, withDeadline } from '../harness.js'
import { Grid, heldTask, poolsJoined } from './grid.js'

const t = suite('frame limits')

const SMALL_FRAME_BYTES = 64 * 1024
const OVERSIZE_BYTES = 2 * SMALL_FRAME_BYTES // over the small limit, well within the 16 MiB default

/** Inline tasks: `held` runs until the test opens its gate, so it is in flight while others fail. */
function heldTasks() {
  const held = heldTask(t)
  const tasks = {
    big: (bytes: number) => new Uint8Array(bytes),
    bigError: (bytes: number) => {
      throw Object.assign(new Error('x'.repeat(bytes)), { code: 'E_BIG', data: new Uint8Array(bytes) })
    },
    echo: (x: unknown) => x,
    held: held.task,
  }
  return { tasks, started: held.started, open: held.release }
}

async function startPool(grid: Grid, tasks: ReturnType<typeof heldTasks>['tasks'], options: { maxFrame?: number } = {}): Promise<WorkerPool> {
  const pool = await grid.pool({ tasks, mode: 'inline', capacity: 2, ...options })
  await withDeadline(poolsJoined(grid.manager, 1), 5000, 'the pool joined')
  return pool
}

/** Counts the manager's lost pools, which none of these tests may see. */
function countLosses(grid: Grid) {
  const counts = { poolsLost: 0 }
  grid.manager.on('workerLost', () => counts.poolsLost++)
  return counts
}

t.test('tcp: a result over the manager\'s smaller maxFrame fails that call with EFRAME; the pool and another client\'s task go on', async () => {
  const grid = new Grid(t, 'tcp')
  await grid.startManager({ maxFrame: SMALL_FRAME_BYTES })
  const losses = countLosses(grid)
  const held = heldTasks()
  await startPool(grid, held.tasks) // default maxFrame: 16 MiB
  const a = await grid.client()
  const b = await grid.client()
  const other = b.run('held', null) // client B's task, in flight on the same pool
  other.catch(() => {}) // awaited below; a failed test must not leave it unhandled
  await held.started
  await rejectsWith(a.run('big', OVERSIZE_BYTES), 'EFRAME')
  held.open()
  assert.is(await other, 'released', "the other client's task completed")
  const small = (await a.run('big', 1000)) as Uint8Array
  assert.is(small.byteLength, 1000, 'the pool still serves')
  const stats = grid.manager.stats()
  assert.is(losses.poolsLost, 0, 'no workerLost')
  assert.is(stats.workers, 1, 'the pool is still joined')
  assert.is(stats.lost, 0)
  assert.is(stats.requeued, 0, 'nothing was re-queued')
  assert.is(stats.failed, 1, 'only the oversize call failed')
}, 10_000)

t.test('tcp: an input over the manager\'s smaller maxFrame fails on the client with EFRAME; its connection stays up', async () => {
  const grid = new Grid(t, 'tcp')
  await grid.startManager({ maxFrame: SMALL_FRAME_BYTES })
  const held = heldTasks()
  await startPool(grid, held.tasks)
  const client = await grid.client() // default maxFrame: 16 MiB
  let disconnects = 0
  client.on('disconnected', () => disconnects++)
  const other = client.run('held', null)
  other.catch(() => {}) // awaited below; a failed test must not leave it unhandled
  await held.started
  await rejectsWith(client.run('echo', new Uint8Array(OVERSIZE_BYTES)), 'EFRAME')
  held.open()
  assert.is(await other, 'released', 'the call in flight completed')
  assert.is(await client.run('echo', 'after'), 'after', 'the connection still carries calls')
  assert.is(disconnects, 0, 'the client never lost its connection')
  assert.is(grid.manager.stats().clients, 1)
}, 10_000)

t.test('tcp: an input over a pool\'s smaller maxFrame fails that call with EFRAME; the pool is not lost', async () => {
  const grid = new Grid(t, 'tcp')
  await grid.startManager()
  const losses = countLosses(grid)
  const held = heldTasks()
  await startPool(grid, held.tasks, { maxFrame: SMALL_FRAME_BYTES })
  const client = await grid.client()
  const other = client.run('held', null)
  other.catch(() => {}) // awaited below; a failed test must not leave it unhandled
  await held.started
  await rejectsWith(client.run('echo', new Uint8Array(OVERSIZE_BYTES)), 'EFRAME')
  held.open()
  assert.is(await other, 'released')
  assert.is(await client.run('echo', 'after'), 'after')
  assert.is(losses.poolsLost, 0, 'no workerLost')
  assert.is(grid.manager.stats().workers, 1)
  assert.is(grid.manager.stats().requeued, 0)
}, 10_000)

t.test('tcp: a result over the client\'s smaller maxFrame fails that call with EFRAME; the client stays connected', async () => {
  const grid = new Grid(t, 'tcp')
  await grid.startManager()
  const held = heldTasks()
  await startPool(grid, held.tasks)
  const client = await grid.client({ maxFrame: SMALL_FRAME_BYTES })
  let disconnects = 0
  client.on('disconnected', () => disconnects++)
  const other = client.run('held', null)
  other.catch(() => {}) // awaited below; a failed test must not leave it unhandled
  await held.started
  await rejectsWith(client.run('big', OVERSIZE_BYTES), 'EFRAME')
  held.open()
  assert.is(await other, 'released')
  assert.is(disconnects, 0, 'the client never lost its connection')
  assert.is(grid.manager.stats().clients, 1)
}, 10_000)

// ---- the Hello field ---------------------------------------------------------------------------

const nonce = new Uint8Array(16).fill(9)

t.test('a Hello without maxFrame (a 4-item array from an older peer) still decodes', () => {
  const old = cborxEncode([Kind.Hello, PROTOCOL_VERSION, 'old-node', Buffer.from(nonce)])
  const env = readEnvelope(new Uint8Array(old)) as Hello
  assert.is(env.k, Kind.Hello)
  assert.is(env.node, 'old-node')
  assert.equal([...env.nonce], [...nonce])
  assert.is(env.maxFrameBytes, undefined)
  assert.is(announcedFrameLimit(env.maxFrameBytes), undefined, 'no limit of the peer applies')
})

t.test('a Hello carries the sender\'s maxFrame as its 5th item; null reads as absent', () => {
  const hello = encodeEnvelope({ k: Kind.Hello, v: PROTOCOL_VERSION, node: 'n', nonce, maxFrameBytes: SMALL_FRAME_BYTES })
  assert.is((readEnvelope(hello) as Hello).maxFrameBytes, SMALL_FRAME_BYTES)
  const withNull = cborxEncode([Kind.Hello, PROTOCOL_VERSION, 'n', Buffer.from(nonce), null])
  assert.is((readEnvelope(new Uint8Array(withNull)) as Hello).maxFrameBytes, undefined)
  const withMore = cborxEncode([Kind.Hello, PROTOCOL_VERSION, 'n', Buffer.from(nonce), 5000, 'a later field'])
  assert.is((readEnvelope(new Uint8Array(withMore)) as Hello).maxFrameBytes, 5000, 'fields past it are skipped')
})

t.test('a Hello whose maxFrame is not an unsigned integer is malformed (EPROTO)', () => {
  for (const bad of [-1, 1.5, '1024', true]) {
    const frame = new Uint8Array(cborxEncode([Kind.Hello, PROTOCOL_VERSION, 'n', Buffer.from(nonce), bad]))
    assert.throws(() => readEnvelope(frame), (err: unknown) => err instanceof EnvelopeError && err.code === 'EPROTO', String(bad))
  }
})

t.test('an announced maxFrame is clamped to what a frame can be', () => {
  assert.is(announcedFrameLimit(0), SMALLEST_MAX_FRAME_BYTES)
  assert.is(announcedFrameLimit(SMALLEST_MAX_FRAME_BYTES - 1), SMALLEST_MAX_FRAME_BYTES)
  assert.is(announcedFrameLimit(SMALLEST_MAX_FRAME_BYTES), SMALLEST_MAX_FRAME_BYTES)
  assert.is(announcedFrameLimit(SMALL_FRAME_BYTES), SMALL_FRAME_BYTES)
  assert.is(announcedFrameLimit(LARGEST_FRAME_BYTES), LARGEST_FRAME_BYTES)
  assert.is(announcedFrameLimit(2 ** 40), LARGEST_FRAME_BYTES)
})

t.test('tcp: a listener announces its maxFrame, and completes the handshake with a peer that announces none', async () => {
  const system = new ActorSystem({ name: 'listener' })
  t.cleanup(() => system.close())
  const port = Number((await system.listen('tcp://127.0.0.1:0', { maxFrame: SMALL_FRAME_BYTES })).split(':').pop())
  const accepted = nextEvent(system, 'peer', 5000)
  const socket = rawConnect({ host: '127.0.0.1', port })
  t.cleanup(() => socket.destroy())
  await nextEvent(socket, 'connect', 5000)
  // play a dialer from before the field: a 4-item Hello, then the proof for the empty key
  const link = new StreamLink(socket, 'old peer')
  const frames: Envelope[] = []
  const gotHello = deferred<Hello>()
  const gotAuth = deferred()
  link.maxFrameBytes = 1 << 20
  link.events = {
    frame: (buf, start, end) => {
      const env = readEnvelope(buf.slice(start, end))
      frames.push(env)
      if (env.k === Kind.Hello) gotHello.resolve(env)
      else if (env.k === Kind.Auth) gotAuth.resolve()
    },
    drain() {},
    closed: (why) => {
      gotHello.reject(why ?? new Error('closed'))
      gotAuth.reject(why ?? new Error('closed'))
    },
  }
  const mine = newNonce()
  link.send(new Uint8Array(cborxEncode([Kind.Hello, PROTOCOL_VERSION, 'old-peer', Buffer.from(mine)])))
  const hello = await withDeadline(gotHello.promise, 5000, "the listener's Hello")
  assert.is(hello.maxFrameBytes, SMALL_FRAME_BYTES, 'the listener announced its own limit')
  const transcript = { dialerNonce: mine, listenerNonce: hello.nonce.slice(), dialerNode: 'old-peer', listenerNode: hello.node }
  link.send(encodeEnvelope({ k: Kind.Auth, proof: proofFor(new Uint8Array(0), 'dialer', transcript) }))
  await withDeadline(gotAuth.promise, 5000, "the listener's proof")
  await accepted
  assert.is(system.peers.length, 1, 'the older peer was accepted')
  assert.not.ok(frames.some((e) => e.k === Kind.Bye), 'nothing refused it')
  link.destroy()
}, 10_000)

for (const standalone of [false, true]) {
  t.test(`an error too large for a frame still fails its call, without its data (${standalone ? 'standalone pool' : 'through a manager'})`, async () => {
    const grid = new Grid(t, 'tcp')
    const held = heldTasks()
    let address: string
    if (standalone) {
      const pool = await WorkerPool.start({ listen: 'tcp://127.0.0.1:0', tasks: held.tasks, mode: 'inline', capacity: 2, maxFrame: SMALL_FRAME_BYTES })
      t.cleanup(() => pool.close())
      address = pool.address as string
    } else {
      await grid.startManager({ maxFrame: SMALL_FRAME_BYTES })
      await startPool(grid, held.tasks, { maxFrame: SMALL_FRAME_BYTES })
      address = grid.manager.address
    }
    const client = await grid.client({ maxFrame: SMALL_FRAME_BYTES }, address)
    const other = client.run('held', null)
    await held.started
    const err = await rejectsWith(client.run('bigError', OVERSIZE_BYTES), 'ETASK')
    assert.is(err.remoteCode, 'E_BIG')
    assert.match(err.message, /left out/)
    assert.is(err.data, undefined)
    held.open()
    assert.is(await other, 'released')
    assert.is(await client.run('echo', 7), 7)
  })
}

t.run()
