import { getEventListeners } from 'node:events'
import * as assert from 'uvu/assert'
import { ActorSystem, TroupeError } from '../../index.js'
import { ManualClock } from '../../lib/clock.js'
import { deferred, nextEvent, rejectsWith, settlements, suite, unique } from '../harness.js'

const t = suite('ActorSystem: local actors')

function system(options: ConstructorParameters<typeof ActorSystem>[0] = {}): ActorSystem {
  const s = new ActorSystem(options)
  t.cleanup(() => s.close())
  return s
}

t.test('the API.md counter: state persists between messages, ask returns the handler value', async () => {
  const s = system({ name: 'app' })
  const counter = s.spawn('counter', (msg: { add: number }, ctx) => {
    ctx.state.n = (ctx.state.n ?? 0) + msg.add
    return ctx.state.n as number
  })
  counter.tell({ add: 1 })
  assert.is(await counter.ask({ add: 2 }), 3)
  assert.is(await s.ref<{ add: number }, number>('counter').ask({ add: 4 }), 7)
  assert.is(counter.name, 'counter')
})

t.test('one message at a time, in arrival order, even when the handler is async', async () => {
  const s = system()
  const log: string[] = []
  const gate = deferred()
  const actor = s.spawn('serial', async (msg: number) => {
    log.push(`start ${msg}`)
    if (msg === 0) await gate.promise
    log.push(`end ${msg}`)
    return msg
  })
  const answers = [0, 1, 2].map((i) => actor.ask(i))
  await new Promise((r) => setImmediate(r))
  assert.equal(log, ['start 0'], 'the others wait while the first is running')
  gate.resolve()
  assert.equal(await Promise.all(answers), [0, 1, 2])
  assert.equal(log, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2'])
})

t.test('overlap: an async handler does not hold the mailbox; each answer goes to its own asker', async () => {
  const s = system()
  const gate = deferred<void>()
  const actor = s.spawn('coordinator', async (msg: string) => {
    if (msg === 'slow') await gate.promise
    if (msg === 'bad') throw new RangeError('bad')
    return msg
  }, { overlap: true })
  const slow = actor.ask('slow')
  const bad = rejectsWith(actor.ask('bad'), 'ETASK')
  assert.is(await actor.ask('fast'), 'fast') // answered while 'slow' still waits
  await bad
  gate.resolve()
  assert.is(await slow, 'slow')
  assert.throws(() => s.spawn('x', () => 1, { overlap: 'yes' as never }), (err: TroupeError) => err.code === 'ECONFIG')
})

t.test('local asks pass the message by reference', async () => {
  const s = system()
  const message = { items: [1] }
  const actor = s.spawn('same', (m: typeof message) => m)
  assert.is(await actor.ask(message), message)
})

t.test('a full mailbox: tell throws EMAILBOX, ask rejects with it, exactly at the bound', async () => {
  const s = system({ mailbox: { capacity: 3 } })
  const gate = deferred()
  const actor = s.spawn('slow', () => gate.promise, { mailbox: { capacity: 2 } })
  const running = actor.ask('first')
  await new Promise((r) => setImmediate(r)) // 'first' is being handled, the mailbox is empty
  actor.tell('queued 1')
  const queued = actor.ask('queued 2')
  try {
    actor.tell('one too many')
    assert.unreachable('tell past the bound')
  } catch (err) {
    assert.is((err as TroupeError).code, 'EMAILBOX')
  }
  await rejectsWith(actor.ask('also too many'), 'EMAILBOX')
  gate.resolve()
  await Promise.all([running, queued])
  const wide = s.spawn('default-bound', () => 1)
  for (let i = 0; i < 3; i++) wide.tell(i)
  try {
    wide.tell(3)
    assert.unreachable('system-wide default bound')
  } catch (err) {
    assert.is((err as TroupeError).code, 'EMAILBOX')
  }
})

t.test('a thrown error reaches the asker as ETASK with name, message, stack, code and data', async () => {
  const s = system()
  const actor = s.spawn('thrower', () => {
    throw Object.assign(new TypeError('bad input'), { code: 'E_INPUT', data: { field: 'x' } })
  })
  const err = await rejectsWith(actor.ask(1), 'ETASK')
  assert.is(err.message, 'bad input')
  assert.is(err.remoteName, 'TypeError')
  assert.is(err.remoteCode, 'E_INPUT')
  assert.equal(err.data, { field: 'x' })
  assert.ok(err.remoteStack?.includes('system.spec'))
  const rejecting = s.spawn('rejecter', async () => Promise.reject('a string'))
  assert.is((await rejectsWith(rejecting.ask(1), 'ETASK')).message, 'a string')
})

t.test('a handler that throws on a tell emits error; the actor goes on', async () => {
  const s = system()
  const actor = s.spawn('fragile', (m: string) => {
    if (m === 'bad') throw new Error('tell failed')
    return m
  })
  const event = nextEvent<[Error, string]>(s, 'error')
  actor.tell('bad')
  const [err, name] = await event
  assert.is(err.message, 'tell failed')
  assert.is(name, 'fragile')
  assert.is(await actor.ask('good'), 'good')
})

t.test('timeout, abort and close each settle an ask exactly once', async () => {
  const clock = new ManualClock()
  const s = new ActorSystem({ clock })
  const seen: AbortSignal[] = []
  const actor = s.spawn('hang', (_m: unknown, ctx) => {
    seen.push(ctx.signal)
    return new Promise(() => {})
  })
  const timedOut = settlements(actor.ask('t', { timeout: 50 }))
  const controller = new AbortController()
  const aborted = settlements(actor.ask('a', { signal: controller.signal }))
  const closed = settlements(actor.ask('c'))
  const closedWithTimeout = settlements(actor.ask('ct', { timeout: 10_000 }))
  await new Promise((r) => setImmediate(r))
  clock.advance(50)
  controller.abort()
  await Promise.all([timedOut.done, aborted.done])
  await s.close()
  await Promise.all([closed.done, closedWithTimeout.done])
  clock.advance(20_000)
  for (const s of [timedOut, aborted, closed, closedWithTimeout]) assert.is(s.count, 1)
  assert.ok(seen[0]?.aborted, 'the running handler saw its asker give up')
  assert.is(clock.pending, 0, 'no timer left behind')
})

t.test('asks sharing one signal: one abort listener, no leak warning, each rejects EABORT once', async () => {
  const s = system()
  const actor = s.spawn('hang', () => new Promise(() => {}), { mailbox: { capacity: 100 } })
  const warnings: Error[] = []
  const onWarning = (w: Error): number => warnings.push(w)
  process.on('warning', onWarning)
  t.cleanup(() => process.off('warning', onWarning))
  const controller = new AbortController()
  const asks = Array.from({ length: 50 }, () => settlements(actor.ask(null, { signal: controller.signal })))
  assert.is(getEventListeners(controller.signal, 'abort').length, 1)
  const answered = settlements(actor.ask(null, { signal: controller.signal, timeout: 1 }))
  await answered.done // one of them ends by itself: the others still wait on the listener
  assert.is(getEventListeners(controller.signal, 'abort').length, 1)
  controller.abort()
  await Promise.all(asks.map((a) => a.done))
  await new Promise(setImmediate) // a warning is emitted on the next tick
  assert.ok(asks.every((a) => a.count === 1))
  await rejectsWith(actor.ask(null, { signal: controller.signal }), 'EABORT')
  assert.is(getEventListeners(controller.signal, 'abort').length, 0)
  assert.equal(warnings.map((w) => w.name), [])
})

t.test('an ask already aborted is never delivered', async () => {
  const s = system()
  let calls = 0
  const actor = s.spawn('counted', () => ++calls)
  await rejectsWith(actor.ask(1, { signal: AbortSignal.abort() }), 'EABORT')
  assert.is(await actor.ask(1), 1)
})

t.test('stop() rejects the running and queued asks with ECLOSED; later asks fail too', async () => {
  const s = system()
  const actor = s.spawn('stopping', () => new Promise(() => {}))
  const running = actor.ask(1)
  const queued = actor.ask(2)
  await new Promise((r) => setImmediate(r))
  s.stop('stopping')
  await rejectsWith(running, 'ECLOSED')
  await rejectsWith(queued, 'ECLOSED')
  await rejectsWith(actor.ask(3), 'ECLOSED')
  await rejectsWith(s.ref('stopping').ask(4), 'ENOTASK')
})

t.test('bad spawn arguments and options fail with ECONFIG', () => {
  const s = system()
  s.spawn('taken', () => 1)
  const cases: [string, () => unknown][] = [
    ['duplicate name', () => s.spawn('taken', () => 1)],
    ['empty name', () => s.spawn('', () => 1)],
    ['handler not a function', () => s.spawn('x', 5 as never)],
    ['mailbox capacity 0', () => s.spawn('y', () => 1, { mailbox: { capacity: 0 } })],
    ['system mailbox capacity', () => new ActorSystem({ mailbox: { capacity: 1.5 } })],
    ['system name', () => new ActorSystem({ name: '' })],
    ['options not an object', () => new ActorSystem('x' as never)],
  ]
  for (const [what, make] of cases) {
    try {
      make()
      assert.unreachable(what)
    } catch (err) {
      assert.is((err as TroupeError).code, 'ECONFIG', what)
    }
  }
})

t.test('spawn and listen after close fail with ECLOSED', async () => {
  const s = new ActorSystem()
  await s.close()
  try {
    s.spawn('late', () => 1)
    assert.unreachable()
  } catch (err) {
    assert.is((err as TroupeError).code, 'ECLOSED')
  }
  await rejectsWith(s.listen(`mem://${unique('late')}`), 'ECLOSED')
  await rejectsWith(s.connect(`mem://${unique('late')}`), 'ECLOSED')
})

t.test('listening on a port in use fails with ECONFIG naming the address', async () => {
  const first = new ActorSystem()
  t.cleanup(() => first.close())
  const url = await first.listen('tcp://127.0.0.1:0')
  const second = new ActorSystem()
  t.cleanup(() => second.close())
  const err = await rejectsWith(second.listen(url), 'ECONFIG')
  assert.ok(err.message.startsWith(`cannot listen on ${url.slice('tcp://'.length)}:`), err.message)
})

t.run()
