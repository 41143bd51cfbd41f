/**
 * Broadcasts and jobs (API.md §5) with three pools: inline pools over mem://, and pools of
 * child processes over tcp://.
 */
import * as assert from 'uvu/assert'
import { TroupeError, WorkerPool, type Everyone, type Outcome } from '../../index.js'
import { Grid, poolsJoined, schemes, type Scheme } from '../grid/grid.js'
import { rejectsWith, suite } from '../harness.js'
import { Survey } from '../fixtures/jobs.js'

const JOBS = new URL('../fixtures/jobs.ts', import.meta.url)
const ODD_JOBS = new URL('../fixtures/jobs-odd.ts', import.meta.url)

/** Inline pools over mem://, one child process per pool over tcp://. */
function startPool(grid: Grid, tasks: URL = JOBS): Promise<WorkerPool> {
  return grid.pool(grid.scheme === 'mem' ? { tasks, mode: 'inline' } : { tasks, mode: 'process', workers: 1 })
}

async function threePools(grid: Grid, odd = false): Promise<WorkerPool[]> {
  await grid.startManager()
  const pools = await Promise.all([startPool(grid), startPool(grid), startPool(grid, odd ? ODD_JOBS : JOBS)])
  await poolsJoined(grid.manager, 3)
  return pools
}

function values<T>(outcomes: Outcome<T>[]): T[] {
  return outcomes.map((o) => {
    if (!o.ok) throw o.error
    return o.value
  })
}

for (const scheme of schemes) {
  const t = suite(`broadcast over ${scheme}://`)
  const grid = (): Grid => new Grid(t, scheme as Scheme)

  t.test('a broadcast gets one outcome from every pool', async () => {
    const g = grid()
    const pools = await threePools(g)
    const client = await g.client()
    const outcomes = await client.broadcast<string>('__hello', 'ann')
    assert.equal(outcomes.map((o) => o.worker).sort(), pools.map((p) => p.id).sort())
    for (const o of outcomes) {
      assert.ok(o.ok)
      assert.match(o.value, /^hello ann from \d+$/)
      assert.ok(o.ms >= 0)
    }
  })

  t.test('a job keeps its state on each pool between broadcasts, and reports come back sorted', async () => {
    const g = grid()
    const pools = await threePools(g)
    const client = await g.client()
    const result = await client.job(Survey, { timeout: 10_000 }).run()
    assert.equal(result.value, [2, 2, 2])
    assert.is(result.outcomes.length, 2)
    assert.equal(values(result.outcomes[0] as Outcome<number>[]), [1, 1, 1])
    assert.is(result.reports.length, 6)
    const times = result.reports.map((r) => r.time)
    assert.equal(times, [...times].sort((a, b) => a - b))
    for (const pool of pools) {
      const mine = result.reports.filter((r) => r.worker === pool.id).map((r) => r.message)
      assert.equal(mine, ['counted a', 'counted b'])
    }
    // the next run finds the same instances (3 and 4), and its reports only
    const again = await client.job(Survey).run()
    assert.equal(again.value, [4, 4, 4])
    assert.is(again.reports.length, 6)
  })

  t.test("one pool's throw is its ETASK outcome; the others are ok", async () => {
    const g = grid()
    const pools = await threePools(g, true)
    const client = await g.client()
    const result = await client.job(Survey).run()
    const odd = (pools[2] as WorkerPool).id
    for (const outcome of result.outcomes[0] as Outcome<number>[]) {
      if (outcome.worker === odd) {
        assert.not.ok(outcome.ok)
        if (!outcome.ok) {
          assert.is(outcome.error.code, 'ETASK')
          assert.is(outcome.error.remoteName, 'RangeError')
          assert.match(outcome.error.message, /will not count a/)
        }
      } else {
        assert.ok(outcome.ok)
      }
    }
    assert.equal(result.value.slice().sort(), [-1, 2, 2])
  })

  t.test('a barrier holds every pool until all reached it', async () => {
    const g = grid()
    await threePools(g)
    const client = await g.client()
    class Phases extends Survey {
      override async run(all: Everyone<Survey>): Promise<number[]> {
        const outcomes = await all.__phase(50)
        assert.equal(values(outcomes), ['through', 'through', 'through'])
        return []
      }
    }
    Object.defineProperty(Phases, 'name', { value: 'Survey' }) // the pools know the job as Survey
    const { reports } = await client.job(Phases, { timeout: 10_000 }).run()
    const before = reports.filter((r) => r.message === 'before').map((r) => r.time)
    const after = reports.filter((r) => r.message === 'after').map((r) => r.time)
    assert.is(before.length, 3)
    assert.is(after.length, 3)
    assert.ok(Math.min(...after) >= Math.max(...before), `after ${after} / before ${before}`)
  })

  t.test('a barrier one pool never reaches ends in ETO outcomes at the timeout, nothing hangs', async () => {
    const g = grid()
    await threePools(g, true)
    const client = await g.client()
    const outcomes = await client.broadcast('__phaseless', null, { timeout: 10_000, min: 0 }).catch((err: TroupeError) => err)
    assert.ok(Array.isArray(outcomes)) // a task no pool has: ETASK (ENOTASK) outcomes, not a throw
    assert.is((outcomes as Outcome<unknown>[]).length, 3)
    for (const o of outcomes as Outcome<unknown>[]) assert.equal(!o.ok && [o.error.code, o.error.remoteCode], ['ETASK', 'ENOTASK'])
    class Stuck extends Survey {
      override async run(all: Everyone<Survey>): Promise<number[]> {
        const phased = await all.__phase(0)
        assert.is(phased.length, 3)
        for (const o of phased) assert.is(!o.ok && o.error.code, 'ETO')
        return []
      }
    }
    Object.defineProperty(Stuck, 'name', { value: 'Survey' })
    const startedAt = Date.now()
    await client.job(Stuck, { timeout: 500 }).run()
    assert.ok(Date.now() - startedAt < 5000)
    // the pools took the abort: the next broadcast runs normally
    assert.is((await client.broadcast('__hello', 'again')).filter((o) => o.ok).length, 3)
  })

  t.test("aborting a broadcast rejects it at once and aborts every pool's run", async () => {
    const g = grid()
    await threePools(g)
    const client = await g.client()
    const before = values(await client.broadcast<number>('__aborted', null))
    const controller = new AbortController()
    const running = client.broadcast('__untilAborted', null, { timeout: 60_000, signal: controller.signal })
    controller.abort()
    await rejectsWith(running, 'EABORT')
    // each pool has the revocation before this broadcast (its connection keeps the order)
    const after = values(await client.broadcast<number>('__aborted', null))
    const aborts = after.map((n, i) => n - (before[i] as number))
    if (g.scheme === 'tcp') assert.equal(aborts, [1, 1, 1]) // a child process each
    else assert.is(Math.max(...aborts), 3) // inline pools share this process's count; the last to answer saw all three
  })

  t.test("a client that closes stops its broadcasts' runs", async () => {
    const g = grid()
    await threePools(g)
    const watcher = await g.client()
    const total = async (): Promise<number> => Math.max(...values(await watcher.broadcast<number>('__aborted', null)))
    const before = await total()
    const leaving = await g.client()
    const running = rejectsWith(leaving.broadcast('__untilAborted', null, { timeout: 60_000 }), 'ECLOSED')
    await leaving.close()
    await running
    // the manager learns of the close on another connection than the watcher's: ask until the
    // runs report their abort (each ask is a broadcast round trip; the suite's deadline bounds it)
    const expected = g.scheme === 'tcp' ? 1 : 3 // a child process each, or one shared count
    while ((await total()) - before < expected);
  })

  t.test('job({ workers: 3 }) waits for the third pool to join', async () => {
    const g = grid()
    await g.startManager()
    await Promise.all([startPool(g), startPool(g)])
    const client = await g.client()
    const running = client.job(Survey, { workers: 3, timeout: 10_000 }).run()
    await poolsJoined(g.manager, 2)
    await startPool(g)
    const result = await running
    assert.is(result.outcomes[0]?.length, 3)
    assert.equal(result.value, [2, 2, 2])
  })

  t.test('too few pools: EATO; a bad name: ECONFIG', async () => {
    const g = grid()
    await g.startManager()
    await startPool(g)
    await poolsJoined(g.manager, 1)
    const client = await g.client()
    await rejectsWith(client.broadcast('__hello', 'x', { min: 2 }), 'EATO')
    await rejectsWith(client.broadcast('hello', 'x'), 'ECONFIG')
    await rejectsWith(client.job(Survey, { workers: 2, timeout: 100 }).run(), 'EATO')
  })

  t.run()
}

const t = suite('broadcast: losing a pool, standalone pools')

t.test('a pool of several processes keeps a job, its state and its reports on one of them', async () => {
  const g = new Grid(t, 'tcp')
  await g.startManager()
  await g.pool({ tasks: JOBS, mode: 'process', workers: 4 }) // Survey's home is not the first worker
  await poolsJoined(g.manager, 1)
  const client = await g.client()
  const result = await client.job(Survey).run()
  assert.equal(result.value, [2])
  assert.equal(result.reports.map((r) => r.message), ['counted a', 'counted b'])
})

t.test('a standalone pool answers a broadcast and runs a job like a connected one', async () => {
  const pool = await WorkerPool.start({ listen: 'mem://broadcast-standalone', tasks: JOBS, mode: 'inline' })
  t.cleanup(() => pool.close())
  const g = new Grid(t, 'mem')
  const client = await g.client({}, pool.address)
  const [hello] = await client.broadcast<string>('__hello', 'solo')
  assert.is(hello?.worker, pool.id)
  assert.ok(hello?.ok)
  const { value, reports } = await client.job(Survey, { workers: 1 }).run()
  assert.equal(value, [2])
  assert.equal(reports.map((r) => [r.worker, r.message]), [[pool.id, 'counted a'], [pool.id, 'counted b']])
})

t.test('a pool process killed mid-broadcast is EWORKERLOST; the broadcast still resolves before its timeout', async () => {
  const g = new Grid(t, 'tcp')
  await threePools(g)
  const client = await g.client()
  const pids = await client.job(Survey).run().then(() => client.broadcast('__hello', 'pid')) // warm: every job instance exists
  assert.is(pids.length, 3)
  class Hold extends Survey {
    override async run(all: Everyone<Survey>): Promise<number[]> {
      const [victim] = values(await all.__pid())
      const held = all.__hold()
      process.kill(victim as number, 'SIGKILL')
      const outcomes = await held
      const lost = outcomes.filter((o) => !o.ok && o.error.code === 'EWORKERLOST')
      const timedOut = outcomes.filter((o) => !o.ok && o.error.code === 'ETO')
      assert.is(lost.length, 1, JSON.stringify(outcomes))
      assert.is(timedOut.length, 2)
      return []
    }
  }
  Object.defineProperty(Hold, 'name', { value: 'Survey' })
  const startedAt = Date.now()
  await client.job(Hold, { timeout: 1500 }).run()
  assert.ok(Date.now() - startedAt < 5000)
})

t.run()
