import * as assert from 'uvu/assert'
import { createServer, type Socket } from 'node:net'
import { Job } from '../../index.js'
import { deferred, nextEvent, rejectsWith, stillReachable, suite } from '../harness.js'
import { Grid } from './grid.js'

const t = suite('client faults')

/** Each of these should settle well within it; a hang fails the test instead of the run. */
const FAST_MS = 2000

t.test('reconnect: false: a call made after the manager is lost fails at once with ECLOSED', async () => {
  const g = new Grid(t, 'mem')
  const manager = await g.startManager()
  const client = await g.client({ reconnect: false })
  const gone = nextEvent(client, 'disconnected')
  await manager.close()
  await gone
  await rejectsWith(client.run('add', [2, 3]), 'ECLOSED')
  await rejectsWith(client.all('add', [[1, 2]]), 'ECLOSED')
  await rejectsWith(client.eval((x: number) => x, 1), 'ECLOSED')
  const outcomes = []
  for await (const r of client.each('add', [[1, 2]])) outcomes.push(r.ok ? 'ok' : r.error.code)
  assert.equal(outcomes, ['ECLOSED'])
  assert.is(client.pending, 0)
}, FAST_MS)

/** Signals handed to calls, to count how many stay reachable once the calls settled. */
class Tracked {
  readonly #refs: WeakRef<AbortSignal>[] = []

  controller(): AbortController {
    const controller = new AbortController()
    this.#refs.push(new WeakRef(controller.signal))
    return controller
  }

  /** How many are still reachable after a full garbage collection. */
  alive(): Promise<number> {
    return stillReachable(this.#refs)
  }
}

t.test('a call that settles while the manager is away holds no memory, nor does one open at close()', async () => {
  const g = new Grid(t, 'mem')
  const manager = await g.startManager()
  // no reconnect attempt during the test: the manager stays away
  const client = await g.client({ reconnect: { initialDelay: 60_000 } })
  const gone = nextEvent(client, 'disconnected')
  await manager.close()
  await gone
  // a call keeps its signal while it is open, so a signal still alive after its call settled
  // (and the caller dropped it) is held by the client
  const calls = 50
  const aborted = new Tracked()
  for (let i = 0; i < calls; i++) {
    const abort = aborted.controller()
    const call = client.run('echo', new Uint8Array(1024), { signal: abort.signal })
    abort.abort()
    await rejectsWith(call, 'EABORT')
  }
  const heldAfterAbort = await aborted.alive()
  assert.ok(heldAfterAbort < calls / 2, `${heldAfterAbort} aborted calls still held`)
  const atClose = new Tracked()
  const open = Array.from({ length: calls }, () => client.run('echo', 1, { signal: atClose.controller().signal }))
  await client.close()
  for (const call of open) await rejectsWith(call, 'ECLOSED')
  open.length = 0
  const heldAfterClose = await atClose.alive()
  assert.ok(heldAfterClose < calls / 2, `${heldAfterClose} calls still held after close()`)
}, FAST_MS * 2)

t.test('close() aborts a reconnect dial stuck in its handshake and closes its socket', async () => {
  const g = new Grid(t, 'tcp')
  const manager = await g.startManager()
  const { port } = new URL(manager.address)
  const client = await g.client({ reconnect: { initialDelay: 10, maxDelay: 20 } })
  const gone = nextEvent(client, 'disconnected')
  await manager.close()
  await gone
  // accepts on the manager's port but never answers the handshake (say, a manager still starting)
  const dialled = deferred<Socket>()
  const silent = createServer((socket) => {
    socket.resume() // read, so the dialer's close is seen
    t.cleanup(() => socket.destroy())
    dialled.resolve(socket)
  })
  t.cleanup(() => new Promise((resolve) => silent.close(resolve)))
  await new Promise<void>((resolve) => silent.listen(Number(port), '127.0.0.1', resolve))
  const socket = await dialled.promise
  const hungUp = nextEvent(socket, 'close', FAST_MS) // without the abort: at connectTimeout, 10 s
  await client.close()
  await hungUp
}, FAST_MS * 2)

/** Checks that `start()` returns a promise that rejects with `code`, rather than throwing. */
async function rejectsNotThrows(what: string, start: () => Promise<unknown>, code: string): Promise<void> {
  let call: Promise<unknown> | undefined
  try {
    call = start()
  } catch (err) {
    assert.unreachable(`${what} threw ${(err as { code?: string }).code} instead of returning a rejected promise`)
  }
  await rejectsWith(call as Promise<unknown>, code)
}

class Idle extends Job {
  async run() {
    return 'idle'
  }
}

t.test('broadcast(), job().run() and systemMessage() reject on a bad option or input, never throw', async () => {
  const g = new Grid(t, 'mem')
  const manager = await g.startManager()
  const pool = await g.pool()
  const client = await g.client()
  for (const [who, node] of [['manager', manager], ['pool', pool]] as const) {
    await rejectsNotThrows(`${who} systemMessage options null`, () => node.systemMessage('hi', null as never), 'ECONFIG')
    await rejectsNotThrows(`${who} systemMessage to 5`, () => node.systemMessage('hi', { to: 5 as never }), 'ECONFIG')
  }
  await rejectsNotThrows('broadcast timeout -1', () => client.broadcast('__x', 1, { timeout: -1 }), 'ECONFIG')
  await rejectsNotThrows('broadcast min 1.5', () => client.broadcast('__x', 1, { min: 1.5 }), 'ECONFIG')
  await rejectsNotThrows('broadcast signal "x"', () => client.broadcast('__x', 1, { signal: 'x' as never }), 'ECONFIG')
  await rejectsNotThrows('broadcast of a function', () => client.broadcast('__x', () => 1), 'EPROTO')
  await rejectsNotThrows('job of a non-Job', () => client.job(Object as never).run(), 'ECONFIG')
  await rejectsNotThrows('job workers -1', () => client.job(Idle, { workers: -1 }).run(), 'ECONFIG')
  await rejectsWith(client.each('add', 5 as never)[Symbol.asyncIterator]().next(), 'ECONFIG')
  await rejectsWith(client.each('add', null as never)[Symbol.asyncIterator]().next(), 'ECONFIG')
  await rejectsNotThrows('systemMessage options null', () => client.systemMessage('hi', null as never), 'ECONFIG')
  await rejectsNotThrows('systemMessage to 5', () => client.systemMessage('hi', { to: 5 as never }), 'ECONFIG')
}, FAST_MS)

t.run()
