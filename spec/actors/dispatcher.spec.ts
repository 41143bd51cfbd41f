/**
 * The manager's dispatcher on its own: pools and clients are plain recorders and time is a
 * manual clock, so the order of assignments and the moment of each answer are exact.
 */
import * as assert from 'uvu/assert'
import { Dispatcher } from '../../actors/dispatcher.js'
import type { ClientHandle, Execution, SubmitOptions } from '../../actors/execution.js'
import type { PoolHandle } from '../../actors/pool-entry.js'
import type { SelectWorker } from '../../actors/routing.js'
import { EVAL_TASK } from '../../actors/tasks.js'
import { ManualClock } from '../../lib/clock.js'
import type { WireError } from '../../lib/envelope.js'
import { suite } from '../harness.js'

const t = suite('Dispatcher')

const NO_SLOTS = { thresholds: [], guarantees: [] }
const BODY = new Uint8Array(1)

/** A client that records every answer by task id, and in `log` (if given) in order with the events. */
class Caller implements ClientHandle {
  readonly id: string
  readonly answers = new Map<number, string>() // 'done' or the error code
  readonly #log: string[] | undefined

  constructor(id: string, log?: string[]) {
    this.id = id
    this.#log = log
  }

  done(taskId: number): void {
    this.#answer(taskId, 'done')
  }

  failed(taskId: number, err: WireError): void {
    this.#answer(taskId, err.code)
  }

  progress(): void {}

  #answer(taskId: number, what: string): void {
    if (this.answers.has(taskId)) throw new Error(`task ${taskId} answered twice`)
    this.answers.set(taskId, what)
    this.#log?.push(`${taskId} ${what}`)
  }
}

/** A pool that records what it was given: [assignment id, client's task id]. */
class Recorder implements PoolHandle {
  readonly id: string
  readonly assigned: [number, number][] = []

  constructor(id: string) {
    this.id = id
  }

  assign(id: number, run: Execution): void {
    this.assigned.push([id, run.taskId])
  }

  revoke(): void {}
}

/** A dispatcher on a manual clock; `events` records its hooks in order, `idle` included. */
function dispatcher(options: { coalesce?: boolean; queueSize?: number; selectWorker?: SelectWorker } = {}) {
  const clock = new ManualClock()
  const events: string[] = []
  const d = new Dispatcher({
    clock,
    queueSize: options.queueSize ?? 4096,
    maxAttempts: 3,
    coalesce: options.coalesce ?? false,
    sacredGuarantees: false,
    selectWorker: options.selectWorker,
    events: {
      rejected: (task) => events.push(`rejected ${task.name}`),
      assignTimeout: (task, client) => events.push(`assignTimeout ${task.name} ${client}`),
      workerLost: (pool) => events.push(`workerLost ${pool}`),
      idle: () => events.push('idle'),
    },
  })
  return { d, clock, events }
}

const plain = (more: Partial<SubmitOptions> = {}): SubmitOptions => ({ priority: 0, runTimeoutMs: undefined, assignTimeoutMs: undefined, key: undefined, ...more })

t.test('tasks lost together with their pool come back in their order, before the ones queued after them', () => {
  const { d } = dispatcher()
  const client = new Caller('c')
  const lost = new Recorder('lost')
  d.poolJoined(lost, 3, NO_SLOTS, false)
  for (const id of [1, 2, 3, 4]) d.submit(client, id, 'add', BODY, plain()) // 1–3 run, 4 waits
  d.poolGone(lost)
  const next = new Recorder('next')
  d.poolJoined(next, 1, NO_SLOTS, false)
  for (let i = 0; i < 3; i++) d.done(next, next.assigned.at(-1)![0], BODY, 1)
  assert.equal(next.assigned.map(([, taskId]) => taskId), [1, 2, 3, 4])
})

t.test('each payload reaches its pool as sent, queued or not, small or large, lost and run again', () => {
  const { d } = dispatcher()
  const client = new Caller('c')
  const sent = new Map<number, Uint8Array>()
  // every payload arrives as a view into one read buffer, which the next read overwrites
  const readBuffer = new Uint8Array(4096)
  const submit = (taskId: number, length: number): void => {
    const payload = Uint8Array.from({ length }, (_, j) => (taskId * 7 + j) & 0xff)
    sent.set(taskId, payload)
    readBuffer.set(payload)
    d.submit(client, taskId, 'add', readBuffer.subarray(0, length), plain())
    readBuffer.fill(0)
  }
  const received: [number, Uint8Array][] = []
  const pool: PoolHandle = { id: 'p', assign: (_, run) => received.push([run.taskId, run.body.slice()]), revoke() {} }
  d.poolJoined(pool, 1, NO_SLOTS, false)
  submit(1, 3) // runs at once
  submit(2, 1) // these wait: small ones in the queue's byte ring, the large one in its own copy
  submit(3, 2000)
  submit(4, 1024)
  submit(5, 1025)
  d.poolGone(pool) // 1 is queued again, first
  const next: PoolHandle = { ...pool, id: 'next' }
  d.poolJoined(next, 5, NO_SLOTS, false)
  assert.equal(received.map(([taskId]) => taskId), [1, 1, 2, 3, 4, 5])
  for (const [taskId, body] of received) assert.equal(body, sent.get(taskId), `task ${taskId}`)
})

t.test('a task no pool may take holds up only its own name: code waits for an eval pool, others run', () => {
  const { d } = dispatcher({ queueSize: 3 })
  const client = new Caller('c')
  const evalPool = new Recorder('eval')
  d.poolJoined(evalPool, 1, NO_SLOTS, true)
  for (const id of [1, 2, 3]) d.submit(client, id, EVAL_TASK, BODY, plain()) // 1 runs, 2 and 3 wait
  const other = new Recorder('other')
  d.poolJoined(other, 1, NO_SLOTS, false)
  d.submit(client, 10, 'add', BODY, plain()) // the free pool takes it at once
  d.submit(client, 11, 'add', BODY, plain()) // queued behind the evals
  d.submit(client, 12, 'add', BODY, plain()) // no free slot and the queue is full
  assert.is(client.answers.get(12), 'EREJECTED')
  assert.is(d.queued, 3, 'the bound holds')
  d.done(other, other.assigned[0]![0], BODY, 1) // 11 goes, though older eval tasks still wait
  assert.equal(other.assigned.map(([, taskId]) => taskId), [10, 11])
  assert.equal(evalPool.assigned.map(([, taskId]) => taskId), [1])
})

t.test('a selectWorker that keeps one name back does not hold up the others', () => {
  const gpu = new Recorder('gpu')
  const cpu = new Recorder('cpu')
  const selectWorker: SelectWorker = (task, workers) => workers.find((w) => (task.name === 'render') === (w.id === 'gpu'))
  const { d } = dispatcher({ selectWorker })
  const client = new Caller('c')
  d.poolJoined(gpu, 1, NO_SLOTS, false)
  d.poolJoined(cpu, 1, NO_SLOTS, false)
  for (const id of [1, 2, 3]) d.submit(client, id, 'render', BODY, plain())
  for (const id of [4, 5]) d.submit(client, id, 'add', BODY, plain())
  d.done(cpu, cpu.assigned[0]![0], BODY, 1) // render 2 and 3 still wait for the gpu pool
  assert.equal(cpu.assigned.map(([, taskId]) => taskId), [4, 5])
})

t.test('a throwing selectWorker fails that task with ECONFIG; nothing else is touched', () => {
  const { d } = dispatcher({
    selectWorker: (task, workers) => {
      if (task.name === 'bad') throw new Error('no route for bad')
      return workers[0]
    },
  })
  const client = new Caller('c')
  const pool = new Recorder('p')
  d.poolJoined(pool, 1, NO_SLOTS, false)
  d.submit(client, 1, 'add', BODY, plain())
  d.submit(client, 2, 'bad', BODY, plain()) // queued: selectWorker is asked only with a slot free
  d.submit(client, 3, 'add', BODY, plain())
  d.done(pool, pool.assigned[0]![0], BODY, 1) // the dispatch asks about 2, then 3
  assert.is(client.answers.get(2), 'ECONFIG')
  assert.equal(pool.assigned.map(([, taskId]) => taskId), [1, 3])
  d.done(pool, pool.assigned[1]![0], BODY, 1)
  d.submit(client, 4, 'bad', BODY, plain()) // asked at once: a slot is free
  assert.is(client.answers.get(4), 'ECONFIG')
  assert.equal([...client.answers.values()], ['done', 'ECONFIG', 'done', 'ECONFIG'])
  assert.is(d.counts.failed, 2)
})

t.test('coalesced callers keep their own assignTimeout: each times out alone, the run goes on', () => {
  const { d, clock, events } = dispatcher({ coalesce: true })
  const client = new Caller('c')
  d.submit(client, 1, 'add', BODY, plain({ key: 'k' })) // no pool yet; waits without a deadline
  d.submit(client, 2, 'add', BODY, plain({ key: 'k', assignTimeoutMs: 100 }))
  d.submit(client, 3, 'add', BODY, plain({ key: 'k', assignTimeoutMs: 300 }))
  clock.advance(100)
  assert.equal([...client.answers], [[2, 'EATO']])
  assert.equal(events, ['assignTimeout add c'])
  assert.is(d.queued, 1)
  const pool = new Recorder('p')
  d.poolJoined(pool, 1, NO_SLOTS, false)
  assert.is(clock.pending, 0, "3's deadline ended when the run started")
  d.done(pool, pool.assigned[0]![0], BODY, 1)
  assert.equal([...client.answers], [[2, 'EATO'], [1, 'done'], [3, 'done']])
})

t.test("the first caller's assignTimeout ends only its own wait; the last one's leaves the queue", () => {
  const { d, clock, events } = dispatcher({ coalesce: true })
  const client = new Caller('c', events)
  d.submit(client, 1, 'add', BODY, plain({ key: 'k', assignTimeoutMs: 100 }))
  d.submit(client, 2, 'add', BODY, plain({ key: 'k', assignTimeoutMs: 200 }))
  clock.advance(100)
  assert.equal([...client.answers], [[1, 'EATO']])
  assert.is(d.queued, 1)
  assert.equal(events, ['1 EATO', 'assignTimeout add c'], 'not idle: the follower still waits')
  clock.advance(100)
  assert.equal([...client.answers], [[1, 'EATO'], [2, 'EATO']])
  assert.is(d.queued, 0)
  assert.ok(d.idle)
  assert.equal(events, ['1 EATO', 'assignTimeout add c', '2 EATO', 'assignTimeout add c', 'idle'], 'idle once, after the last answer')
})

t.test('idle is not heard while a follower waits, nor while a revoked run still holds its slot', () => {
  const { d, events } = dispatcher({ coalesce: true })
  const client = new Caller('c', events)
  d.submit(client, 1, 'add', BODY, plain({ key: 'k' }))
  d.submit(client, 2, 'add', BODY, plain({ key: 'k' }))
  d.withdraw(client, 1) // the submitter leaves; its follower keeps the run queued
  const pool = new Recorder('p')
  d.poolJoined(pool, 1, NO_SLOTS, false)
  d.withdraw(client, 2) // nobody waits: revoked, but the pool keeps the slot until it answers
  assert.equal(events, [])
  assert.not.ok(d.idle)
  d.done(pool, pool.assigned[0]![0], BODY, 1)
  assert.equal(events, ['idle'])
  assert.is(client.answers.size, 0)
})

t.test('idle is heard once each time work ends, never for pools or clients coming and going meanwhile', () => {
  const { d, events } = dispatcher()
  const client = new Caller('c', events)
  const pool = new Recorder('p')
  d.poolJoined(pool, 2, NO_SLOTS, false)
  d.poolState(pool, 2, false)
  d.withdraw(client, 99)
  d.clientGone(new Caller('stranger'))
  assert.equal(events, [], 'nothing ran yet')
  d.submit(client, 1, 'add', BODY, plain())
  d.submit(client, 2, 'add', BODY, plain())
  d.done(pool, pool.assigned[0]![0], BODY, 1)
  assert.equal(events, ['1 done'], 'task 2 still runs')
  d.done(pool, pool.assigned[1]![0], BODY, 1)
  d.poolState(pool, 1, false)
  d.clientGone(client)
  assert.equal(events, ['1 done', '2 done', 'idle'])
  d.submit(client, 3, 'add', BODY, plain())
  d.failed(pool, pool.assigned[2]![0], { code: 'ETASK', message: 'no' })
  d.poolGone(pool)
  assert.equal(events, ['1 done', '2 done', 'idle', '3 ETASK', 'idle', 'workerLost p'])
})

t.test("a lost pool's tasks are queued again, not idle; idle after the last loss fails them", () => {
  const { d, events } = dispatcher()
  const client = new Caller('c', events)
  for (const id of ['a', 'b', 'c']) {
    const pool = new Recorder(id)
    d.poolJoined(pool, 1, NO_SLOTS, false)
    if (id === 'a') d.submit(client, 1, 'add', BODY, plain())
    d.poolGone(pool) // maxAttempts is 3
  }
  assert.equal(events, ['workerLost a', 'workerLost b', 'workerLost c', '1 EWORKERLOST', 'idle'])
})

t.test('the last queued tasks leaving make it idle: withdrawn, disconnected (once), failed by selectWorker', () => {
  const { d, clock, events } = dispatcher({
    selectWorker: (task, workers) => {
      if (task.name === 'bad') throw new Error('no route for bad')
      return workers[0]
    },
  })
  const client = new Caller('c', events)
  const deadline = plain({ assignTimeoutMs: 100 })
  d.submit(client, 1, 'add', BODY, deadline) // no pool: queued
  d.submit(client, 2, 'add', BODY, deadline)
  d.withdraw(client, 1)
  assert.equal(events, [], '2 is still queued')
  d.withdraw(client, 2)
  assert.equal(events, ['idle'])
  d.submit(client, 3, 'add', BODY, deadline)
  d.submit(client, 4, 'add', BODY, deadline)
  d.clientGone(client)
  assert.equal(events, ['idle', 'idle'])
  d.submit(client, 5, 'bad', BODY, deadline)
  d.poolJoined(new Recorder('p'), 1, NO_SLOTS, false) // asked about 5 only now
  assert.equal(events, ['idle', 'idle', '5 ECONFIG', 'idle'])
  assert.is(clock.pending, 0, 'every leaving caller took its assign timer with it')
})

t.test("followers leaving by assignTimeout give back their places in queueSize; the submitter's keeps its run's", () => {
  const { d, clock } = dispatcher({ coalesce: true, queueSize: 3 })
  const client = new Caller('c')
  d.submit(client, 1, 'add', BODY, plain({ key: 'k', assignTimeoutMs: 300 })) // no pool: queued
  d.submit(client, 2, 'add', BODY, plain({ key: 'k', assignTimeoutMs: 100 }))
  d.submit(client, 3, 'add', BODY, plain({ key: 'k', assignTimeoutMs: 100 })) // one queued, two followers: full
  clock.advance(100)
  d.submit(client, 4, 'add', BODY, plain({ key: 'k' }))
  d.submit(client, 5, 'add', BODY, plain({ key: 'k' })) // exactly two places came back
  d.submit(client, 6, 'add', BODY, plain({ key: 'k' }))
  assert.equal([...client.answers], [[2, 'EATO'], [3, 'EATO'], [6, 'EREJECTED']])
  clock.advance(200) // the submitter leaves; its run stays queued for 4 and 5, who still count
  d.submit(client, 7, 'add', BODY, plain({ key: 'k' }))
  assert.equal([...client.answers].slice(3), [[1, 'EATO'], [7, 'EREJECTED']])
  const pool = new Recorder('p')
  d.poolJoined(pool, 1, NO_SLOTS, false)
  d.done(pool, pool.assigned[0]![0], BODY, 1)
  assert.equal([...client.answers].slice(5), [[4, 'done'], [5, 'done']])
  assert.is(clock.pending, 0, 'no timer left behind')
  for (const id of [8, 9, 10, 11, 12]) d.submit(client, id, 'add', BODY, plain({ key: 'k' })) // 8 runs, 9–11 follow
  assert.equal([...client.answers].slice(7), [[12, 'EREJECTED']], 'the answered followers gave back every place')
})

t.test('callers joining a coalesced run count toward queueSize until they are answered or leave', () => {
  const { d, events } = dispatcher({ coalesce: true, queueSize: 3 })
  const client = new Caller('c')
  d.submit(client, 1, 'add', BODY, plain({ key: 'k' })) // queued: no pool yet
  d.submit(client, 2, 'add', BODY, plain({ key: 'k' }))
  d.submit(client, 3, 'add', BODY, plain({ key: 'k' }))
  d.submit(client, 4, 'add', BODY, plain({ key: 'k' })) // one queued and two followers: full
  d.submit(client, 5, 'other', BODY, plain())
  assert.equal([...client.answers], [[4, 'EREJECTED'], [5, 'EREJECTED']])
  assert.equal(events, ['rejected add', 'rejected other'])
  d.withdraw(client, 2)
  d.submit(client, 6, 'add', BODY, plain({ key: 'k' })) // room again
  const pool = new Recorder('p')
  d.poolJoined(pool, 1, NO_SLOTS, false)
  d.done(pool, pool.assigned[0]![0], BODY, 1)
  assert.equal([...client.answers.keys()], [4, 5, 1, 3, 6])
  d.submit(client, 7, 'add', BODY, plain({ key: 'k' })) // everyone was answered: the bound is free
  d.submit(client, 8, 'add', BODY, plain({ key: 'k' }))
  d.submit(client, 9, 'add', BODY, plain({ key: 'k' }))
  assert.is(client.answers.get(9), undefined)
})

t.test('a herd of 50 000 callers on one key is answered once each, in linear time', () => {
  const { d } = dispatcher({ coalesce: true, queueSize: Infinity })
  const client = new Caller('c')
  const pool = new Recorder('p')
  d.poolJoined(pool, 1, NO_SLOTS, false)
  const started = performance.now()
  for (let id = 1; id <= 50_000; id++) d.submit(client, id, 'add', BODY, plain({ key: 'k' }))
  for (let id = 2; id <= 50_000; id += 2) d.withdraw(client, id)
  d.done(pool, pool.assigned[0]![0], BODY, 1)
  const ms = performance.now() - started
  assert.is(client.answers.size, 25_000)
  assert.ok(ms < 2000, `${ms} ms`)
})

t.run()
