/**
 * The main module of a pool's child process or thread: loads the task module, connects to the
 * pool over fd 3 (a process) or the parent port (a thread), runs what it is assigned, and exits
 * when that channel closes, so a child never outlives its pool.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { systemClock } from '../lib/clock.js'
import { Kind, encodeEnvelopeRange, fromWireError, readEnvelope, type Envelope, type Revoke } from '../lib/envelope.js'
import { TroupeError } from '../lib/errors.js'
import { PortLink, openDialed, parentChannel, type FrameSink, type Link, type Transport } from '../transports/index.js'
import { TaskExecutor } from './task-executor.js'
import { TaskRunner, loadTasks } from './tasks.js'
import type { ChildConfig } from './workers.js'

// Ctrl-C in a terminal sends SIGINT to the whole foreground process group: this child as well as
// its pool, which drains on it and needs the child to finish what it runs. The pool decides when
// its children stop, so a child ignores SIGINT; it still exits when its channel closes, which
// happens too when the pool dies (even by SIGKILL). Signals never reach a thread's `process`.
if (isMainThread) process.on('SIGINT', () => {})

const { config, key } = isMainThread
  ? { config: JSON.parse(process.env.TROUPE_WORKER ?? '{}') as ChildConfig, key: process.env.TROUPE_WORKER_KEY ?? '' }
  : (workerData as { config: ChildConfig; key: string })

let transport: Transport | undefined
// Reports made before `openDialed` resolves: the pool may assign work in the same chunk as its
// last handshake frame, and a task can finish within that turn. Bounded by what the pool may
// assign one worker at once (its share of the pool's capacity).
const early: Envelope[] = []

const send = (env: Envelope): void => {
  if (transport === undefined) {
    early.push(env)
    return
  }
  const frame = encodeEnvelopeRange(env)
  transport.send(frame.buf, frame.start, frame.end)
}
const executor = new TaskExecutor(
  new TaskRunner(await loadTasks(config.tasks), config.allowEval),
  {
    done: (id, body, ms) => send({ k: Kind.Done, id, body, ms }),
    failed: (id, err) => send({ k: Kind.Failed, id, err }),
    progress: (id, value) => send({ k: Kind.Progress, id, value }),
    barrier: (id, name) => send({ k: Kind.Barrier, id, name }),
  },
  systemClock,
)

/** What the task's `ctx.signal.reason` becomes: the pool's own (ETO, EABORT, ECLOSED), as in an inline pool. */
function abortReason(env: Revoke): TroupeError {
  return env.reason === undefined ? new TroupeError('EABORT', 'the pool stopped this run') : fromWireError(env.reason)
}

const sink: FrameSink = {
  frame(buf, start, end) {
    const env = readEnvelope(buf, start, end)
    if (env.k === Kind.Assign) executor.start(env)
    else if (env.k === Kind.Revoke) executor.abort(env.id, abortReason(env))
    else if (env.k === Kind.Release) executor.release(env.id, env.name)
  },
  drain() {},
  closed() {
    executor.abortAll(new TroupeError('ECLOSED', 'the pool went away'))
    process.exit(0) // in a thread this ends the thread only
  },
}

// opened once the tasks are loaded, so nothing the pool sends arrives before we listen
const link: Link = isMainThread ? parentChannel() : new PortLink(parentPort as NonNullable<typeof parentPort>, 'pool', () => parentPort?.close())
transport = await openDialed(link, {
  node: `worker-${process.pid}`,
  key: new Uint8Array(Buffer.from(key, 'base64')),
  clock: systemClock,
  maxFrameBytes: 0xffffffff,
  heartbeat: false,
  handshakeTimeoutMs: 10_000,
}, sink)
for (const env of early.splice(0)) send(env)
