/**
 * Starting a pool's workers: a spawn that fails at once (the host out of file descriptors).
 */
import * as assert from 'uvu/assert'
import { ManualClock } from '../../lib/clock.js'
import { TroupeError } from '../../lib/errors.js'
import { deferred, suite, withDeadline } from '../harness.js'
import { FakeWorker, fakeCore } from './fake-pool.js'

const t = suite('pool spawn')

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

t.run()
