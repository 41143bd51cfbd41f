/**
 * The worker runtimes of a pool, behind one small interface: `inline` runs tasks on the pool's
 * own event loop; `process` and `thread` run them in children reached over a framed link (a
 * socketpair on fd 3, or a MessagePort) with the same envelopes as the network.
 */
import { Worker as Thread } from 'node:worker_threads'
import { randomBytes } from 'node:crypto'
import type { ChildProcess } from 'node:child_process'
import type { Clock } from '../lib/clock.js'
import { Kind, encodeEnvelopeRange, readEnvelope, toWireError, type Envelope, type WireError } from '../lib/envelope.js'
import { TroupeError, asError } from '../lib/errors.js'
import { PortLink, openAccepted, spawnWithChannel, type FrameSink, type Link, type Transport } from '../transports/index.js'
import { TaskExecutor, type Assignment, type RunReport } from './task-executor.js'
import { TaskRunner, type TaskModule } from './tasks.js'

/** What a worker tells its pool. `exited` comes once, after which nothing else does. */
export interface WorkerEvents extends RunReport {
  exited(why: string): void
  /**
   * Aborts when the pool no longer wants the worker (it closed): a start still under way gives
   * up at once, its child stopped, rather than be waited for up to its start timeout.
   */
  readonly signal?: AbortSignal | undefined
}

/** One place tasks run: the pool's own loop, a child process or a thread. */
export interface Worker {
  start(a: Assignment): void
  /** Aborts a run's `ctx.signal` with `reason` (its `ctx.signal.reason`); the run still reports how it ended. */
  abort(id: number, reason: TroupeError): void
  /** Lets run `id` past barrier `name` (every run of its broadcast reached it). */
  release(id: number, name: string): void
  /** Stops at once (a task stuck past its timeout); `exited` follows. No-op inline. */
  kill(): void
  /** Stops after the runs in progress are over or aborted; `exited` follows. */
  close(): Promise<void>
}

/** Runs tasks on the pool's own event loop. It cannot be killed: a stuck task stays stuck. */
export class InlineWorker implements Worker {
  readonly #executor: TaskExecutor

  constructor(tasks: TaskModule, allowEval: boolean, events: WorkerEvents, clock: Clock) {
    this.#executor = new TaskExecutor(new TaskRunner(tasks, allowEval), events, clock)
  }

  start(a: Assignment): void {
    this.#executor.start(a)
  }

  abort(id: number, reason: TroupeError): void {
    this.#executor.abort(id, reason)
  }

  release(id: number, name: string): void {
    this.#executor.release(id, name)
  }

  kill(): void {}

  async close(): Promise<void> {
    this.#executor.abortAll(new TroupeError('ECLOSED', 'the pool closed'))
  }
}

/** What a child needs to start: where its tasks are and whether it may run client code. */
export interface ChildConfig {
  tasks: string
  allowEval: boolean
}

/** Bound on a child loading its task module and completing the handshake. */
const CHILD_START_TIMEOUT_MS = 30_000
/** How long a closing child may take to exit before it is killed. */
const CHILD_EXIT_GRACE_MS = 5000

const entry = new URL(`./worker-entry${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)

/**
 * How a thread starts. Node 20 does not apply `--import` preloads to worker threads, so when
 * TypeScript must load in one (these sources under test, or a `.ts` task module) the thread
 * registers tsx itself first; plain JavaScript starts the entry directly.
 */
function threadMain(tasks: string): { main: URL | string; eval: boolean } {
  const isTypeScript = (url: string): boolean => /\.[mc]?ts$/.test(url)
  if (!isTypeScript(entry.href) && !isTypeScript(tasks)) return { main: entry, eval: false }
  const load = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}) })`
  return { main: load, eval: true }
}

/**
 * How a child process starts: a line of code imports the entry, so that failing to start (a
 * task module that throws while loading) prints one line, the error's message, and exits 1,
 * where Node would print the whole stack of the error and of its cause. The parent drops
 * `--eval` from what its own children inherit (`childExecArgv`).
 */
function processMain(): string {
  const fail = `(err) => process.stderr.write(\`worker process \${process.pid}: \${err instanceof Error ? err.message : String(err)}\\n\`, () => process.exit(1))`
  return `--eval=import(${JSON.stringify(entry.href)}).catch(${fail})`
}

/** A child process or thread running tasks, reached over a framed link. */
export class ChildWorker implements Worker, FrameSink {
  readonly #events: WorkerEvents
  readonly #stop: () => void
  readonly #exited: Promise<void>
  // why the child ended, once it has, if it can say more than its closed channel
  readonly #endedBy: () => string | undefined
  #transport: Transport | undefined
  #gone = false

  private constructor(events: WorkerEvents, stop: () => void, exited: Promise<void>, endedBy: () => string | undefined) {
    this.#events = events
    this.#stop = stop
    this.#exited = exited
    this.#endedBy = endedBy
  }

  /**
   * Starts a child process with the channel on fd 3. Resolves once it has loaded its tasks.
   * @throws TroupeError `ECONFIG` (no process could be started, or it failed to load its tasks),
   * `ECLOSED` (`events.signal` aborted first); as a rejection, never synchronously
   */
  static spawnProcess(config: ChildConfig, events: WorkerEvents, clock: Clock): Promise<ChildWorker> {
    const key = randomBytes(32)
    let spawned: ReturnType<typeof spawnWithChannel>
    try {
      spawned = spawnWithChannel(processMain(), {
        TROUPE_WORKER: JSON.stringify(config),
        TROUPE_WORKER_KEY: key.toString('base64'),
      })
    } catch (err) {
      // EMFILE on a busy host, say: a failed start, which the pool retries with backoff
      return Promise.reject(startFailed('process', err))
    }
    const { child, link } = spawned
    // Past a good spawn, 'error' only reports a signal that could not be sent; the child's exit
    // or its channel closing tells the rest. An 'error' nobody hears would crash the host.
    child.on('error', () => {})
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    // a child that fails by itself has printed why (processMain, or Node's uncaught error): say where
    const endedBy = (): string | undefined => (child.exitCode === null || child.exitCode === 0 ? undefined : `it exited with code ${child.exitCode} (its output above says why)`)
    const worker = new ChildWorker(events, () => killProcess(child), exited, endedBy)
    return worker.#open(link, key, clock, `process ${child.pid}`, events.signal)
  }

  /** Starts a worker thread. Resolves once it has loaded its tasks; rejects as `spawnProcess`. */
  static spawnThread(config: ChildConfig, events: WorkerEvents, clock: Clock): Promise<ChildWorker> {
    const key = randomBytes(32)
    const { main, eval: isCode } = threadMain(config.tasks)
    let thread: Thread
    try {
      thread = new Thread(main, { eval: isCode, workerData: { config, key: key.toString('base64') } })
    } catch (err) {
      return Promise.reject(startFailed('thread', err))
    }
    const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()))
    // An uncaught error (a task module that throws while loading, a task's stray throw) ends
    // the thread, and a thread prints nothing of it: its message is the reason it ended.
    let error: string | undefined
    thread.on('error', (err) => (error ??= err instanceof Error ? err.message : String(err)))
    const worker = new ChildWorker(events, () => void thread.terminate(), exited, () => error)
    const link = new PortLink(thread, `thread ${thread.threadId}`, () => void thread.terminate())
    return worker.#open(link, key, clock, `thread ${thread.threadId}`, events.signal)
  }

  async #open(link: Link, key: Uint8Array, clock: Clock, what: string, signal: AbortSignal | undefined): Promise<ChildWorker> {
    // Ending the link as well as the child fails the handshake at once, even if something else
    // (a grandchild that inherited fd 3) keeps the channel open.
    const onAbort = (): void => {
      this.#stop()
      link.destroy()
    }
    if (signal?.aborted === true) onAbort()
    else signal?.addEventListener('abort', onAbort, { once: true })
    try {
      this.#transport = await openAccepted(link, {
        node: 'pool',
        key,
        clock,
        maxFrameBytes: 0xffffffff,
        heartbeat: false, // the child is ours: its exit is seen directly
        handshakeTimeoutMs: CHILD_START_TIMEOUT_MS,
        insecure: false,
      }, this)
    } catch (err) {
      // reaped before the caller hears of it, so that a pool closing at once leaves no child
      this.#stop()
      await this.#exited
      if (signal?.aborted === true) throw new TroupeError('ECLOSED', `the ${what} was stopped while it started: its pool closed`, { cause: err })
      throw new TroupeError('ECONFIG', `the ${what} did not start: ${this.#endedBy() ?? `${(err as Error).message} (its output above says why)`}`, { cause: err })
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
    return this
  }

  start(a: Assignment): void {
    this.#send({ k: Kind.Assign, id: a.id, name: a.name, body: a.body, priority: 0, attempt: a.attempt })
  }

  abort(id: number, reason: TroupeError): void {
    this.#send({ k: Kind.Revoke, id, reason: toWireError(reason) })
  }

  release(id: number, name: string): void {
    this.#send({ k: Kind.Release, id, name })
  }

  kill(): void {
    this.#stop()
  }

  async close(): Promise<void> {
    await this.#transport?.close()
    await this.#exited
  }

  #send(env: Envelope): void {
    if (this.#transport === undefined) return
    const frame = encodeEnvelopeRange(env)
    this.#transport.send(frame.buf, frame.start, frame.end)
  }

  // ---- FrameSink: what the child reports ------------------------------------------------------

  frame(buf: Uint8Array, start: number, end: number): void {
    const env = readEnvelope(buf, start, end)
    if (env.k === Kind.Done) this.#events.done(env.id, env.body, env.ms)
    else if (env.k === Kind.Failed) this.#events.failed(env.id, env.err as WireError)
    else if (env.k === Kind.Progress) this.#events.progress(env.id, env.value)
    else if (env.k === Kind.Barrier) this.#events.barrier(env.id, env.name)
  }

  drain(): void {}

  closed(why: TroupeError): void {
    if (this.#gone) return
    this.#gone = true
    // a child exits by itself when its channel closes; one that does not is killed
    const timer = setTimeout(this.#stop, CHILD_EXIT_GRACE_MS)
    void this.#exited.then(() => {
      clearTimeout(timer)
      this.#events.exited(this.#endedBy() ?? why.message)
    })
  }
}

/** What a spawn that threw at once becomes: a start that failed, as one that fails later does. */
function startFailed(what: string, err: unknown): TroupeError {
  if (err instanceof TroupeError) return err
  const cause = asError(err)
  return new TroupeError('ECONFIG', `could not start a worker ${what}: ${cause.message}`, { cause })
}

function killProcess(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
}
