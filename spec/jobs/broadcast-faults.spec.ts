/**
 * Broadcasts and jobs at their edges: runs that outlive their broadcast, outcomes that fit a
 * frame one by one but not together, report lines of failed and concurrent runs, and names
 * that are not subtasks.
 */
import * as assert from 'uvu/assert'
import { Job, WorkerPool, defineTasks, type Everyone, type Outcome } from '../../index.js'
import { MAX_CONGESTED_BYTES } from '../../actors/peer.js'
import { Broadcasts, fitOutcomes, type CastTarget } from '../../actors/broadcasts.js'
import { ManualClock } from '../../lib/clock.js'
import type { WireOutcome } from '../../lib/envelope.js'
import { TroupeError } from '../../lib/errors.js'
import { FakeWorker, fakeCore } from '../grid/fake-pool.js'
import { Grid, poolsJoined } from '../grid/grid.js'
import { deferred, suite } from '../harness.js'
import { relay } from '../raw-server.js'

const t = suite('broadcast faults')

/** A manager, inline pools of `tasks`, and a client, all closed after the test. */
async function grid(tasks: Record<string, unknown>, pools = 1, { maxFrame, capacity }: { maxFrame?: number; capacity?: number } = {}) {
  const g = new Grid(t, 'mem')
  const manager = await g.startManager({ maxFrame })
  const started = await Promise.all(Array.from({ length: pools }, () => g.pool({ workers: 1, tasks: defineTasks(tasks as never), maxFrame, capacity })))
  await poolsJoined(manager, pools)
  return { manager, pools: started, client: await g.client({ maxFrame }) }
}

t.test('a broadcast run that outlives its timeout or is abandoned takes nothing from the task capacity, and is still killed', async () => {
  const clock = new ManualClock()
  const { core, workers } = await fakeCore(t, clock)
  const [worker] = workers as [FakeWorker]
  core.cast({ id: 1, name: '__hang', body: new Uint8Array(), timeoutMs: 500 })
  clock.advance(500) // past the broadcast timeout: it ignores its signal
  assert.is(core.capacity, 2)
  clock.advance(1000) // past taskTimeoutKill: a process or thread is killed as for a task
  assert.is(worker.kills, 1)
  core.cast({ id: 2, name: '__hang', body: new Uint8Array(), timeoutMs: 500 })
  core.abandonAll(new TroupeError('ECLOSED', 'the pool lost its manager'))
  assert.is(core.capacity, 2)
  for (const run of worker.started) worker.events.failed(run.id, { code: 'EWORKERLOST', message: 'killed' })
  assert.is(core.capacity, 2)
})

t.test('an inline pool keeps its task capacity after a broadcast run that never returns', async () => {
  const aborted = deferred()
  const { pools, client } = await grid({
    __hang: (_: null, ctx: { signal: AbortSignal }) => {
      ctx.signal.addEventListener('abort', () => aborted.resolve())
      return new Promise(() => {})
    },
    add: ([a, b]: [number, number]) => a + b,
  }, 1, { capacity: 1 })
  const [outcome] = await client.broadcast('__hang', null, { timeout: 100 })
  assert.is(!outcome?.ok && outcome?.error.code, 'ETO')
  await aborted.promise // the pool's own deadline passed: the run is stuck for good
  assert.is((pools[0] as WorkerPool).stats().capacity, 1)
  assert.is(await client.run('add', [1, 2], { assignTimeout: 1000 }), 3)
})

t.test('outcomes that do not fit one frame together: the fewest, largest give way to ETASK (EFRAME) outcomes', () => {
  const answer = (worker: string, bytes: number): WireOutcome => ({ worker, ok: true, body: new Uint8Array(bytes), ms: 1 })
  const outcomes = [answer('a', 100), answer('b', 900), answer('c', 500), answer('d', 50)]
  const bytes = (list: WireOutcome[]): number => list.reduce((sum, o) => sum + (o.ok ? o.body.byteLength : 10), 0)
  const shown = (list: WireOutcome[] | undefined): unknown[] | undefined => list?.map((o) => (o.ok ? o.body.byteLength : `${o.err.code} ${o.err.remoteCode}`))
  assert.equal(shown(fitOutcomes(outcomes, (list) => bytes(list) <= 700)), [100, 'ETASK EFRAME', 500, 50])
  assert.equal(shown(fitOutcomes(outcomes, (list) => bytes(list) <= 200)), [100, 'ETASK EFRAME', 'ETASK EFRAME', 50])
  assert.is(fitOutcomes(outcomes, () => false), undefined)
})

t.test('a broadcast whose answers fit a frame one by one but not together resolves, one outcome per pool', async () => {
  const { client } = await grid({ __sized: (bytes: number) => 'x'.repeat(bytes) }, 3, { maxFrame: 16 * 1024 })
  const outcomes = await client.broadcast<string>('__sized', 6000)
  assert.equal(outcomes.map((o) => (o.ok ? o.value.length : `${o.error.code} ${o.error.remoteCode}`)).sort(), [6000, 6000, 'ETASK EFRAME'])
})

class Chatty extends Job {
  async __talk(lines: number): Promise<number> {
    for (let i = 0; i < lines; i++) this.report(`line ${i} `.padEnd(100, '.'))
    return lines
  }

  async run(all: Everyone<Chatty>): Promise<number> {
    return (await all.__talk(100)).filter((o) => o.ok).length
  }
}

t.test("a job whose report lines do not fit one frame keeps its value, and says whose lines are lost", async () => {
  const { client } = await grid({ Chatty }, 3, { maxFrame: 16 * 1024 }) // one pool's 100 lines fit, two do not
  const { value, reports } = await client.job(Chatty).run()
  assert.is(value, 3)
  const byWorker = new Map<string, string[]>()
  for (const r of reports) byWorker.set(r.worker, [...(byWorker.get(r.worker) ?? []), r.message])
  const counts = [...byWorker.values()].map((lines) => lines.length).sort((a, b) => a - b)
  assert.equal(counts, [1, 1, 100])
  for (const lines of byWorker.values()) if (lines.length === 1) assert.match(lines[0] as string, /EFRAME/)
})

class Say extends Job {
  async __say(word: string): Promise<void> {
    this.report(word)
  }

  async run(all: Everyone<Say>): Promise<void> {
    await all.__say('said')
  }
}

/** `Say` with another schedule: the pools know the job as Say. */
function sayingOtherwise<C extends abstract new () => Say>(Class: C): C {
  return Object.defineProperty(Class, 'name', { value: 'Say' })
}

t.test("a run whose schedule throws leaves none of its report lines to the next run", async () => {
  const { client } = await grid({ Say })
  const Failing = sayingOtherwise(class extends Say {
    override async run(all: Everyone<Say>): Promise<void> {
      await all.__say('from the failed run')
      throw new Error('the schedule failed')
    }
  })
  await client.job(Failing).run().then(() => assert.unreachable('resolved'), (err: Error) => assert.match(err.message, /the schedule failed/))
  const { reports } = await client.job(Say).run()
  assert.equal(reports.map((r) => r.message), ['said'])
})

t.test('runs of one job that overlap each get their own report lines', async () => {
  const { client } = await grid({ Say })
  const said = deferred()
  const finish = deferred()
  const Held = sayingOtherwise(class extends Say {
    override async run(all: Everyone<Say>): Promise<void> {
      await all.__say('from the held run')
      said.resolve()
      await finish.promise
    }
  })
  const held = client.job(Held).run()
  await said.promise
  const quick = await client.job(Say).run()
  finish.resolve()
  assert.equal(quick.reports.map((r) => r.message), ['said'])
  assert.equal((await held).reports.map((r) => r.message), ['from the held run'])
})

abstract class Parent extends Job {
  async __inherited(): Promise<string> {
    return 'inherited'
  }
}

class Probe extends Parent {
  /** What each name gave on the pool: the value, or the error's code and remote code. */
  async run(all: Everyone<Probe>): Promise<Record<string, unknown[]>> {
    type Broadcaster = (...args: unknown[]) => Promise<Outcome<unknown>[]>
    const named = (name: string): Broadcaster => (all as unknown as Record<string, Broadcaster>)[name] as Broadcaster
    const show = (outcomes: Outcome<unknown>[]): unknown[] => outcomes.map((o) => (o.ok ? o.value : [o.error.code, o.error.remoteCode]))
    return {
      inherited: show(await all.__inherited()),
      lookupGetter: show(await named('__lookupGetter__')('x')),
      defineGetter: show(await named('__defineGetter__')('x', 1)),
    }
  }
}

t.test("Object.prototype's __methods are not subtasks: ENOTASK like any unknown name", async () => {
  const { client } = await grid({ Probe })
  const { value } = await client.job(Probe).run()
  assert.equal(value, {
    inherited: ['inherited'],
    lookupGetter: [['ETASK', 'ENOTASK']],
    defineGetter: [['ETASK', 'ENOTASK']],
  })
})

t.test('a pool naming ever new barriers fails its own run past the bound; the broadcast goes on', async () => {
  const broadcasts = new Broadcasts(new ManualClock())
  const casts = new Map<string, number>()
  const revoked: number[] = []
  const target = (id: string): CastTarget => ({
    id,
    cast: (castId) => void casts.set(id, castId),
    release: () => {},
    revokeCast: (castId) => void revoked.push(castId),
  })
  const [flooder, honest] = [target('flooder'), target('honest')]
  const outcomes = broadcasts.start([flooder, honest], '__x', new Uint8Array(), 30_000, 1, {}, 1)
  for (let i = 0; i < 20_000; i++) broadcasts.barrier(flooder, casts.get('flooder')!, `barrier ${i}`)
  assert.equal(revoked, [casts.get('flooder')])
  broadcasts.done(honest, casts.get('honest')!, new Uint8Array(), 1)
  const [first, second] = (await outcomes)!
  assert.equal([first?.ok, !first?.ok && first?.err.message], [false, 'more than 1024 barriers open in one broadcast'])
  assert.is(second?.ok, true)
})

t.test('a pool that stops reading is owed at most 64 MiB of broadcasts: past that its outcome is EMAILBOX at once', async () => {
  const g = new Grid(t, 'tcp')
  const manager = await g.startManager({ heartbeat: false }) // it must not drop the pool for its silence
  const tasks = defineTasks({ __bytes: (input: Uint8Array) => input.byteLength })
  const reading = await g.pool({ tasks })
  const via = await relay(t, manager.address)
  const stalled = await g.pool({ manager: via.url, tasks, heartbeat: false })
  await poolsJoined(manager, 2)
  const client = await g.client()
  via.links[0]!.freeze() // the stalled pool's link now takes nothing the manager sends
  const input = new Uint8Array(8 * 1024 * 1024)
  // enough that what is owed outgrows the bound plus what the kernel's buffers take (< 36 MiB)
  const count = Math.ceil((MAX_CONGESTED_BYTES + 48 * 1024 * 1024) / input.byteLength)
  const all: Outcome<number>[][] = []
  // one at a time: the reading pool takes each before the next, so only the stalled one is owed
  for (let i = 0; i < count; i++) all.push(await client.broadcast<number>('__bytes', input, { timeout: 300 }))
  const of = (pool: WorkerPool) => all.map((outcomes) => outcomes.find((o) => o.worker === pool.id) as Outcome<number>)
  for (const outcome of of(reading)) assert.equal(outcome.ok ? outcome.value : outcome.error.message, input.byteLength)
  const codes = of(stalled).map((o) => (o.ok ? 'ok' : o.error.code === 'ETASK' ? o.error.remoteCode : o.error.code))
  assert.ok(codes.every((code) => code === 'ETO' || code === 'EMAILBOX'), codes.join())
  assert.ok(codes.includes('EMAILBOX'), `never refused: ${codes.join()}`)
  assert.ok(codes.filter((code) => code === 'ETO').length <= Math.ceil((MAX_CONGESTED_BYTES + 40 * 1024 * 1024) / input.byteLength), codes.join())
}, 30_000)

t.run()
