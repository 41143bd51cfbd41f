/**
 * `client.each()` as a loop body sees it: bounded by `concurrency` even when the body is slow,
 * results as soon as they finish, an input closed when the loop is left, and an end after the
 * signal aborts or the client closes. Also the client's progress callback and a failed connect.
 */
import * as assert from 'uvu/assert'
import { getEventListeners } from 'node:events'
import { Client, TroupeError, type EachResult } from '../../index.js'
import { deferred, rejectsWith, suite, withDeadline } from '../harness.js'
import { memoryUrl } from '../transports/drivers.js'
import { Grid } from './grid.js'

const t = suite('client each()')

/** Each of these should settle well within it; a hang fails the test instead of the run. */
const FAST_MS = 2000

async function grid(poolOptions = {}) {
  const g = new Grid(t, 'mem')
  await g.startManager()
  await g.pool(poolOptions)
  return { g, client: await g.client() }
}

/**
 * `[i, 1]` for add, counting pulls and whether it was closed. It stops on its own after `cap`
 * pulls, so that an each() that pulls on and on ends (and fails the test) rather than spinning.
 */
function counted(cap = 10_000) {
  const seen = { pulled: 0, returns: 0 }
  const iterator: IterableIterator<unknown> = {
    [Symbol.iterator]: () => iterator,
    next: () => (seen.pulled < cap ? { done: false, value: [seen.pulled++, 1] } : { done: true, value: undefined }),
    return: () => {
      seen.returns++
      return { done: true, value: undefined }
    },
  }
  return { seen, inputs: iterator }
}

/** Takes outcomes of `results` into `into` until `stop` says so; resolves with the error that ended the loop, if any. */
async function drain<R>(results: AsyncIterable<EachResult<R>>, into: EachResult<R>[], stop: (taken: number) => boolean = () => false): Promise<unknown> {
  try {
    for await (const r of results) {
      into.push(r)
      if (stop(into.length)) break
    }
    return undefined
  } catch (err) {
    return err
  }
}

t.test('after the signal aborts or the client closes mid-loop, each() pulls no more input and throws EABORT / ECLOSED', async () => {
  for (const how of ['abort', 'close'] as const) {
    const { client } = await grid()
    const { seen, inputs } = counted()
    const controller = new AbortController()
    const taken: EachResult<number>[] = []
    const ended = await withDeadline(drain(client.each<number>('add', inputs, { concurrency: 4, signal: controller.signal }), taken, (n) => {
      if (n === 5) {
        if (how === 'abort') controller.abort()
        else void client.close()
      }
      return false
    }), FAST_MS, `each() after ${how}`)
    const code = how === 'abort' ? 'EABORT' : 'ECLOSED'
    assert.instance(ended, TroupeError, `${how}: the loop ends by throwing`)
    assert.is((ended as TroupeError).code, code)
    // at most one window of inputs after the fifth outcome, each with its own outcome
    assert.ok(seen.pulled <= 5 + 4, `${how}: pulled ${seen.pulled}`)
    assert.is(taken.length, seen.pulled)
    assert.ok(taken.every((r) => r.ok || r.error.code === code), how) // some had finished before
    assert.is(seen.returns, 1, `${how}: the input is closed`)
    assert.is(client.pending, 0)
  }
  // an input that fails before it is sent (here every one: ECONFIG) does not let each() pull ahead
  const { client } = await grid()
  const { seen, inputs } = counted()
  const taken: EachResult<number>[] = []
  assert.is(await withDeadline(drain(client.each<number>('add', inputs, { concurrency: 4, priority: Number.NaN }), taken, (n) => n === 20), FAST_MS, 'each() of failing inputs'), undefined)
  assert.ok(taken.every((r) => !r.ok && r.error.code === 'ECONFIG'))
  assert.ok(seen.pulled <= 20 + 4, `pulled ${seen.pulled}`)
}, 3 * FAST_MS)

t.test('a slow loop body holds back the input: open plus unconsumed outcomes stay within concurrency; break cancels and closes the input once', async () => {
  const { client } = await grid({ capacity: 64 })
  const { seen, inputs } = counted(100)
  const ahead: number[] = []
  let taken = 0
  for await (const r of client.each<number>('add', inputs, { concurrency: 4 })) {
    assert.ok(r.ok)
    taken++
    // a round trip behind the tasks already sent: by its end they have finished, so a body this
    // slow would find every one of them held for it, and each() must not start more meanwhile
    await client.run('add', [0, 0])
    ahead.push(seen.pulled - taken)
    if (taken === 10) break
  }
  assert.ok(Math.max(...ahead) <= 4, `started but not taken: ${ahead.join(' ')}`)
  assert.is(seen.returns, 1)
  assert.is(client.pending, 0, 'open tasks are cancelled')

  // an async generator's finally runs too
  const closed = deferred()
  async function* source() {
    try {
      for (let i = 0; ; i++) yield [i, 1]
    } finally {
      closed.resolve()
    }
  }
  for await (const r of client.each('add', source(), { concurrency: 2 })) if (r.index === 0) break
  await withDeadline(closed.promise, FAST_MS, 'the async input closes')

  // an input that throws ends the loop with its error, and its open tasks are cancelled
  const broken = new Error('the input broke')
  function* failing() {
    yield 10_000
    throw broken
  }
  const err = await withDeadline(drain(client.each('sleep', failing()), []), FAST_MS, 'each() of a throwing input')
  assert.is(err, broken)
  assert.is(client.pending, 0)
})

t.test('with an async input, a finished result is yielded without waiting for the next input; a loop that feeds its own input ends', async () => {
  const { client } = await grid()
  // the second input comes only once the first result is in
  const firstTaken = deferred()
  async function* slow() {
    yield [1, 1]
    await firstTaken.promise
    yield [2, 2]
  }
  const values: unknown[] = []
  await withDeadline((async () => {
    for await (const r of client.each('add', slow())) {
      values.push(r.ok ? r.value : r.error)
      firstTaken.resolve()
    }
  })(), FAST_MS, 'each() over a slow input')
  assert.equal(values, [2, 4])

  // a channel fed by the loop body, as a crawler adds the links it finds
  const queue: unknown[] = [[0, 1]]
  let waiter: (() => void) | undefined
  let closed = false
  const channel = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length === 0 && !closed) await new Promise<void>((resolve) => (waiter = resolve))
        if (queue.length === 0) return
        yield queue.shift()
      }
    },
  }
  const seen: number[] = []
  await withDeadline((async () => {
    for await (const r of client.each<number>('add', channel)) {
      assert.ok(r.ok)
      seen.push(r.value)
      if (r.value < 3) queue.push([r.value, 1])
      else closed = true
      waiter?.()
    }
  })(), FAST_MS, 'each() over a channel its loop feeds')
  assert.equal(seen, [1, 2, 3])
})

t.test('an async onProgress that rejects is ignored, as a throwing one is: no unhandled rejection', async () => {
  const { client } = await grid()
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason)
  process.on('unhandledRejection', onUnhandled)
  t.cleanup(() => process.off('unhandledRejection', onUnhandled))
  const called = deferred()
  const failure = new Error('async onProgress failed')
  const steps = await client.run('progress', 2, {
    onProgress: async () => {
      called.resolve()
      throw failure
    },
  })
  assert.is(steps, 2)
  await withDeadline(called.promise, FAST_MS, 'onProgress is called')
  await new Promise(setImmediate) // Node reports an unhandled rejection once the microtasks ran out
  assert.not.ok(unhandled.includes(failure), 'the rejection was left unhandled')
})

t.test('a failed connect leaves no listener on the caller\'s signal', async () => {
  const signal = new AbortController().signal // a long-lived one, as an app-wide shutdown signal
  for (let i = 0; i < 3; i++) await rejectsWith(Client.connect(memoryUrl(), { signal, connectTimeout: 20 }), 'ECLOSED')
  assert.is(getEventListeners(signal, 'abort').length, 0)
}, FAST_MS)

t.run()
