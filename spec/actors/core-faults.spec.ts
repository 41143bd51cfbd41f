/**
 * Faults of the actor core that once took the whole process down or left a caller waiting:
 * handlers that throw odd values, errors that cannot travel, signals and asks left behind.
 * "The process survives" is checked in-process: the same system answers another ask afterwards.
 */
import * as assert from 'uvu/assert'
import { ActorSystem, type TroupeError } from '../../index.js'
import { deferred, nextEvent, rejectsWith, suite, unique, withDeadline } from '../harness.js'

const t = suite('actor core: faults')
const DEADLINE_MS = 2000

function system(options: ConstructorParameters<typeof ActorSystem>[0] = {}): ActorSystem {
  const s = new ActorSystem(options)
  t.cleanup(() => s.close())
  return s
}

t.test('a handler that throws a value with no text answers ETASK, sync or async, and the actor goes on', async () => {
  const s = system()
  const untextable = [Object.create(null), { toString: () => { throw new Error('no text') } }]
  const actor = s.spawn('odd', async (m: { index: number; async: boolean } | 'ok') => {
    if (m === 'ok') return 'ok'
    if (m.async) await null
    throw untextable[m.index]
  })
  for (const async of [false, true]) {
    for (const index of [0, 1]) await rejectsWith(actor.ask({ index, async }), 'ETASK')
  }
  const unheard = nextEvent<[unknown, string]>(s, 'error')
  actor.tell({ index: 0, async: false })
  const [thrown, name] = await unheard
  assert.is(thrown, untextable[0], 'a throw on a tell reaches the error event as thrown')
  assert.is(name, 'odd')
  assert.is(await actor.ask('ok'), 'ok')
}, DEADLINE_MS)

t.test('a result whose then or constructor is a throwing getter, or whose then throws, answers ETASK, and the actor goes on', async () => {
  for (const overlap of [false, true]) {
    const s = system()
    const bad: unknown[] = [
      { get then(): never { throw new Error('then getter') } },
      { then: () => { throw new Error('then call') } },
      Object.defineProperty(Promise.resolve(), 'constructor', { get(): never { throw new Error('constructor getter') } }),
    ]
    const actor = s.spawn('thenables', (m: number | 'ok') => (m === 'ok' ? 'ok' : bad[m]), { overlap })
    const errors = await Promise.all([0, 1, 2].map((i) => rejectsWith(actor.ask(i), 'ETASK')))
    assert.equal(errors.map((e) => e.message), ['then getter', 'then call', 'constructor getter'])
    assert.is(await withDeadline(actor.ask('ok'), DEADLINE_MS, 'the actor answers again'), 'ok')
  }
})

t.test('a thrown plain object keeps its message, code and data', async () => {
  const s = system()
  const actor = s.spawn('plain', () => {
    throw { message: 'not found', name: 'LookupError', code: 'E_NOTFOUND', data: { id: 7 } }
  })
  const err = await rejectsWith(actor.ask(1), 'ETASK')
  assert.is(err.message, 'not found')
  assert.is(err.remoteName, 'LookupError')
  assert.is(err.remoteCode, 'E_NOTFOUND')
  assert.equal(err.data, { id: 7 })
}, DEADLINE_MS)

t.test('throwing undefined reads the same from a sync and an async handler', async () => {
  const s = system()
  const sync = s.spawn('sync', () => {
    throw undefined
  })
  const async = s.spawn('async', () => Promise.reject(undefined))
  const [a, b] = await Promise.all([rejectsWith(sync.ask(1), 'ETASK'), rejectsWith(async.ask(1), 'ETASK')])
  assert.is(b.message, a.message)
  assert.is(b.remoteName, a.remoteName)
}, DEADLINE_MS)

async function connected(options: ConstructorParameters<typeof ActorSystem>[0] = {}) {
  const server = system({ key: 'secret', ...options })
  const client = system({ key: 'secret', ...options })
  const peer = await client.connect(await server.listen(`mem://${unique('core-faults')}`))
  return { server, client, peer }
}

t.test('a remote ask: a thrown error whose name, message or stack is not a string answers ETASK with text', async () => {
  const { server, peer } = await connected()
  server.spawn('odd-fields', (field: 'stack' | 'name' | 'message') => {
    const err = new Error('boom')
    Object.defineProperty(err, field, { value: field === 'stack' ? null : 42 })
    throw err
  })
  server.spawn('echo', (m: unknown) => m)
  const stackless = await rejectsWith(peer.ref('odd-fields').ask('stack'), 'ETASK')
  assert.is(stackless.message, 'boom')
  assert.is(stackless.remoteStack, undefined)
  assert.is((await rejectsWith(peer.ref('odd-fields').ask('name'), 'ETASK')).remoteName, '42')
  assert.is((await rejectsWith(peer.ref('odd-fields').ask('message'), 'ETASK')).message, '42')
  assert.is(await peer.ref('echo').ask('still here'), 'still here')
}, DEADLINE_MS)

t.test('a remote ask: a thrown error too big for one frame answers EFRAME, and the server goes on', async () => {
  const { server, peer } = await connected({ maxFrame: 64 * 1024 })
  const tooBig = 100 * 1024
  server.spawn('big-error', (part: 'data' | 'message' | 'stack') => {
    const err = part === 'message' ? new Error('m'.repeat(tooBig)) : Object.assign(new Error('big'), { data: new Uint8Array(tooBig) })
    if (part === 'stack') Object.assign(err, { data: undefined, stack: 's'.repeat(tooBig) })
    throw err
  })
  server.spawn('echo', (m: unknown) => m)
  for (const part of ['data', 'message', 'stack']) await rejectsWith(peer.ref('big-error').ask(part), 'EFRAME')
  assert.is(await peer.ref('echo').ask('still here'), 'still here')
}, DEADLINE_MS)

interface CtxSeen {
  aborted: boolean
  reason: unknown
  from: string | undefined
}

/** An actor whose handler waits for `release()`, then records what its ctx says: `seen(message)`. */
function lateReader(s: ActorSystem, name: string, overlap = false) {
  const started = deferred()
  const gate = deferred()
  const reads = new Map<unknown, ReturnType<typeof deferred<CtxSeen>>>()
  const readOf = (m: unknown) => {
    if (!reads.has(m)) reads.set(m, deferred<CtxSeen>())
    return reads.get(m) as ReturnType<typeof deferred<CtxSeen>>
  }
  const ref = s.spawn(name, async (m: unknown, ctx) => {
    started.resolve()
    await gate.promise
    readOf(m).resolve({ aborted: ctx.signal.aborted, reason: ctx.signal.reason, from: ctx.from })
    return m
  }, { overlap })
  const seen = (m: unknown) => withDeadline(readOf(m).promise, 1000, `the handler of ${String(m)} read its ctx`)
  return { ref, started: started.promise, release: () => gate.resolve(), seen }
}

t.test('ctx.signal first read after an await is aborted when the local asker gave up meanwhile', async () => {
  const s = system()
  const actor = lateReader(s, 'late')
  const asker = new AbortController()
  const ask = actor.ref.ask('m', { signal: asker.signal })
  await actor.started
  asker.abort()
  await rejectsWith(ask, 'EABORT')
  actor.release()
  const seen = await actor.seen('m')
  assert.is(seen.aborted, true)
  assert.is((seen.reason as TroupeError).code, 'EABORT')
  assert.is(await actor.ref.ask('next'), 'next')
  assert.is((await actor.seen('next')).aborted, false)
}, DEADLINE_MS)

t.test('ctx.signal first read after an await is aborted when the remote asker gave up meanwhile', async () => {
  const { server, peer } = await connected()
  const actor = lateReader(server, 'late')
  server.spawn('echo', (m: unknown) => m)
  const asker = new AbortController()
  const ask = peer.ref('late').ask('m', { signal: asker.signal })
  await actor.started
  asker.abort()
  await rejectsWith(ask, 'EABORT')
  await peer.ref('echo').ask('after the cancel') // one connection keeps order: the Cancel has arrived
  actor.release()
  assert.is((await actor.seen('m')).aborted, true)
}, DEADLINE_MS)

t.test('ctx.signal first read after an await is aborted when the system closed meanwhile', async () => {
  const s = new ActorSystem()
  const actor = lateReader(s, 'late')
  const ask = actor.ref.ask('m')
  await actor.started
  await s.close()
  await rejectsWith(ask, 'ECLOSED')
  actor.release()
  const seen = await actor.seen('m')
  assert.is(seen.aborted, true)
  assert.is((seen.reason as TroupeError).code, 'ECLOSED')
}, DEADLINE_MS)

t.test("with overlap, ctx read after an await is that message's own: signal and sender", async () => {
  const { server, client, peer } = await connected()
  const actor = lateReader(server, 'overlapping', true)
  const asker = new AbortController()
  const cancelled = server.ref('overlapping').ask('cancelled', { signal: asker.signal })
  const local = server.ref('overlapping').ask('local')
  const remote = peer.ref('overlapping').ask('remote')
  await actor.started
  asker.abort()
  await rejectsWith(cancelled, 'EABORT')
  actor.release()
  assert.equal(await Promise.all([local, remote]), ['local', 'remote'])
  assert.is((await actor.seen('cancelled')).aborted, true)
  assert.equal(await actor.seen('local'), { aborted: false, reason: undefined, from: undefined })
  assert.equal(await actor.seen('remote'), { aborted: false, reason: undefined, from: client.id })
}, DEADLINE_MS)

t.test('closing settles every unanswered ask of an overlapping actor with ECLOSED and aborts its signal', async () => {
  const s = new ActorSystem()
  const signals: AbortSignal[] = []
  const running = deferred()
  const actor = s.spawn('never', (_m: unknown, ctx) => {
    if (signals.push(ctx.signal) === 3) running.resolve()
    return new Promise(() => {})
  }, { overlap: true })
  const asks = [1, 2, 3].map((i) => rejectsWith(actor.ask(i), 'ECLOSED'))
  await withDeadline(running.promise, DEADLINE_MS, 'every handler running')
  await s.close()
  await Promise.all(asks)
  for (const signal of signals) assert.is((signal.reason as TroupeError | undefined)?.code, 'ECLOSED')
}, DEADLINE_MS)

t.test("an overlapping actor's mailbox bound counts the messages its handlers still await", async () => {
  const s = system()
  const started = deferred()
  let running = 0
  const actor = s.spawn('never', () => {
    if (++running === 3) started.resolve()
    return new Promise(() => {})
  }, { overlap: true, mailbox: { capacity: 3 } })
  const asks = [1, 2, 3].map((i) => rejectsWith(actor.ask(i), 'ECLOSED'))
  await withDeadline(started.promise, DEADLINE_MS, 'three handlers running')
  await rejectsWith(actor.ask(4), 'EMAILBOX')
  assert.throws(() => actor.tell(5), (err: TroupeError) => err.code === 'EMAILBOX')
  await s.close()
  await Promise.all(asks)
}, DEADLINE_MS)

t.run()
