/**
 * Starting a pool's workers, and stopping them while they start: a spawn that fails at once (the
 * host out of file descriptors), close() while a replacement child hangs loading its tasks, and
 * close() while a child's task ignores its abort.
 */
import { type FSWatcher, existsSync, readFileSync, watch, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import * as assert from 'uvu/assert'
import { WorkerPool } from '../../index.js'
import { ChildWorker, type ChildConfig, type WorkerEvents } from '../../actors/workers.js'
import { ManualClock } from '../../lib/clock.js'
import { encodeValue } from '../../lib/codec.js'
import { TroupeError } from '../../lib/errors.js'
import { alive } from '../children.js'
import { deferred, rejectsWith, suite, withDeadline } from '../harness.js'
import { FakeWorker, fakeCore } from './fake-pool.js'

const t = suite('pool spawn')

// Task modules written per test, each appending the pid of the process loading it (or running
// `spin`) to the file named by `?log=` in its URL, so that a test knows the child and when it got there.
const HANGS_LOADING = `
import { appendFileSync } from 'node:fs'
appendFileSync(new URL(import.meta.url).searchParams.get('log'), process.pid + '\\n')
await new Promise(() => setInterval(() => {}, 60_000))
export default {}
`
const SPINS = `
import { appendFileSync } from 'node:fs'
export default {
  /** Ignores its signal: holds its event loop for up to \`ms\`. */
  spin: (ms) => {
    appendFileSync(new URL(import.meta.url).searchParams.get('log'), process.pid + '\\n')
    const end = Date.now() + ms
    while (Date.now() < end) {}
    return 'spun'
  },
}
`

/** A task module of `source` in a fresh directory, and the file it logs pids to. */
async function taskModule(source: string): Promise<{ config: ChildConfig; log: string }> {
  const dir = await t.tempDir('pool-spawn-')
  const file = join(dir, 'tasks.mjs')
  writeFileSync(file, source)
  const log = join(dir, 'pids')
  return { config: { tasks: `${pathToFileURL(file).href}?log=${encodeURIComponent(log)}`, allowEval: false }, log }
}

/** The first pid in `log`, once there is one: watches its directory, within a deadline. */
function firstPid(log: string, what: string): Promise<number> {
  let watcher: FSWatcher | undefined
  const found = new Promise<number>((resolve, reject) => {
    const check = (): void => {
      const text = existsSync(log) ? readFileSync(log, 'utf8') : ''
      if (text.includes('\n')) resolve(Number(text.split('\n')[0]))
    }
    watcher = watch(dirname(log), check)
    watcher.on('error', reject)
    check() // once watching, so that a write before the watch began is not missed
  })
  return withDeadline(found, 10_000, what).finally(() => watcher?.close())
}

function spawnChild(mode: 'process' | 'thread', config: ChildConfig, events: WorkerEvents, clock: ManualClock): Promise<ChildWorker> {
  return mode === 'process' ? ChildWorker.spawnProcess(config, events, clock) : ChildWorker.spawnThread(config, events, clock)
}

t.test('a respawn whose spawn() throws at once (EMFILE): a failed start, retried with backoff, and the host lives', async () => {
  const clock = new ManualClock()
  let worker: FakeWorker | undefined
  let throwNext = false
  const failedStart = deferred()
  const started = deferred()
  const { core } = await fakeCore(t, clock, {
    respawn: { initialDelayMs: 100, maxDelayMs: 1000 },
    // not async: it throws as ChildWorker.spawnProcess did when Node's spawn() hit EMFILE
    spawn: (_index, events) => {
      if (throwNext) throw new TroupeError('ECONFIG', 'could not start a child process: the host is out of file descriptors')
      worker = new FakeWorker(events)
      return Promise.resolve(worker)
    },
    lifecycle: (event, _index, why) => {
      if (event === 'start') started.resolve()
      else if (why !== 'crashed') failedStart.resolve()
    },
  })
  throwNext = true
  ;(worker as FakeWorker).events.exited('crashed')
  clock.advance(100) // the respawn delay: the start throws from within its timer
  await withDeadline(failedStart.promise, 1000, 'the failed start to be reported')
  assert.is(core.capacity, 0)
  throwNext = false
  clock.advance(200) // the delay doubled: a failed start counts as a quick exit
  await withDeadline(started.promise, 1000, 'the next start')
  assert.is(core.capacity, 2)
})

for (const mode of ['process', 'thread'] as const) {
  t.test(`close() while a replacement ${mode} hangs loading its tasks: close is prompt and stops it`, async () => {
    const clock = new ManualClock()
    const { config, log } = await taskModule(HANGS_LOADING)
    let first: FakeWorker | undefined
    let replacement: Promise<ChildWorker> | undefined
    const { core } = await fakeCore(t, clock, {
      spawn: (_index, events) => {
        if (first !== undefined) return (replacement = spawnChild(mode, config, events, clock))
        first = new FakeWorker(events)
        return Promise.resolve(first)
      },
    })
    ;(first as FakeWorker).events.exited('crashed')
    clock.advance(100) // the respawn delay: the replacement starts
    const pid = await firstPid(log, 'the replacement to load its task module')
    // on a failed test, the child would hold cleanup's close() until its start timeout
    if (mode === 'process') t.cleanup(() => alive(pid) && process.kill(pid, 'SIGKILL'))
    await withDeadline(core.close(), 5000, 'close() (a start may otherwise take 30 s)')
    // it rejects only once its child exited
    await rejectsWith(replacement as Promise<ChildWorker>, 'ECLOSED')
    if (mode === 'process') assert.not.ok(alive(pid), 'the replacement is gone')
  })
}

// A thread needs no such test: closing its link terminates it at once.
t.test('close() while a task in a process ignores its abort: it is killed taskTimeoutKill ms later, not after the exit grace', async () => {
  const clock = new ManualClock()
  const { config, log } = await taskModule(SPINS)
  const { core } = await fakeCore(t, clock, {
    taskTimeoutKillMs: 1000,
    spawn: (_index, events) => ChildWorker.spawnProcess(config, events, clock),
  })
  core.assign({ id: 1, name: 'spin', body: encodeValue(20_000), attempt: 1, runTimeoutMs: undefined })
  const pid = await firstPid(log, 'the task to start')
  const closing = core.close()
  clock.advance(1000) // taskTimeoutKill after the abort; the exit grace is 5 s of real time
  await withDeadline(closing, 3000, 'close()')
  assert.not.ok(alive(pid), 'the child is gone')
})

t.test('a pool of more workers than Node lets listen on one signal by default starts without a leak warning', async () => {
  const warnings: string[] = []
  const onWarning = (w: Error): void => void warnings.push(w.name)
  process.on('warning', onWarning)
  t.cleanup(() => void process.off('warning', onWarning))
  const tasks = join(await t.tempDir('pool-spawn-'), 'tasks.mjs') // plain JS: quick for 11 threads to load
  writeFileSync(tasks, 'export default { add: ([a, b]) => a + b }\n')
  const pool = await WorkerPool.start({ listen: 'mem://pool-spawn-many', tasks: pathToFileURL(tasks), mode: 'thread', workers: 11 })
  await pool.close()
  await new Promise((resolve) => setImmediate(resolve)) // a warning is emitted on the next tick
  assert.equal(warnings.filter((name) => name === 'MaxListenersExceededWarning'), [])
})

t.run()
