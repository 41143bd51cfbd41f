/**
 * `Client`: queues tasks on a manager (or a standalone pool) and gets each result to its caller
 * exactly once (API.md §4). It checks each call's options and encodes its input; from there
 * `ClientCalls` (actors/client-calls.ts) keeps the call: sends it, waits out an outage, sends
 * it again after a reconnect or a full queue, and settles it once. Broadcasts, jobs, stats and
 * system messages go through here too.
 */
import { EventEmitter } from 'eventemitter3'
import { decodeValue, encodeValue } from '../lib/codec.js'
import { Kind, fromWireError, type Envelope, type WireOutcome } from '../lib/envelope.js'
import { debug } from '../lib/debug.js'
import { TroupeError, asError, configError, isErrorCode } from '../lib/errors.js'
import { PendingAsks } from '../lib/pending.js'
import { durationOption, integerOption, knownOptions, signalOption } from '../lib/options.js'
import { ClientCalls } from './client-calls.js'
import { runJob, type JobHost } from './client-job.js'
import {
  BROADCAST_OPTIONS, CLIENT_OPTIONS, DEFAULT_BROADCAST_TIMEOUT_MS, DEFAULT_EACH_CONCURRENCY, EACH_OPTIONS, RETRY_OPTIONS, RUN_OPTIONS,
  type AnyTask, type BroadcastOptions, type ClientOptions, type EachOptions, type EachResult, type JobOptions, type JobResult, type RunOptions, type TypedClient,
} from './client-options.js'
import { MANAGER_ACTOR, hostNodeActor, sysMsgTarget, type ManagerRequest, type SysMsgTarget } from './control.js'
import { callGroup, each } from './each.js'
import type { Job, JobClass, Outcome } from './job.js'
import type { ManagerStats } from './manager-options.js'
import type { Peer } from './peer.js'
import { Reconnector } from './reconnector.js'
import { ActorSystem } from './system.js'
import { EVAL_TASK, type TaskContext } from './tasks.js'

export interface ClientEvents {
  sysmsg: [msg: unknown, fromId: string]
  connected: []
  disconnected: [why: TroupeError]
}

/** How long past its timeout a broadcast may take to come back (the manager's answer is on its way). */
const BROADCAST_GRACE_MS = 5000

const DEFAULT_RETRY_ATTEMPTS = 10
const DEFAULT_RETRY_DELAY_MS = 100

export class Client extends EventEmitter<ClientEvents> {
  readonly #system: ActorSystem
  #link!: Reconnector
  readonly #calls: ClientCalls
  // broadcasts waiting for the manager's BroadcastDone; not re-sent after a reconnect (not idempotent)
  readonly #broadcasts: PendingAsks
  // numbers this client's job runs; with its id, names each on the pools
  #nextJobRun = 1
  #closing: Promise<void> | undefined
  // why the manager is gone for good (reconnect: false): nothing would ever send a later call
  #lostWhy: TroupeError | undefined

  private constructor(system: ActorSystem, retryAttempts: number, retryDelayMs: number) {
    super()
    this.#system = system
    this.#calls = new ClientCalls(system.clock, () => this.#link.peer, retryAttempts, retryDelayMs)
    this.#broadcasts = new PendingAsks(system.clock)
  }

  /**
   * Connects to a manager or a standalone pool at `url`.
   * @throws TroupeError `ECLOSED` (unreachable within connectTimeout), `EAUTH`, `EPROTO`, `ECONFIG`
   * @example
   * const client = await Client.connect('tcp://mgrhost:8000', { key })
   * await client.run('add', [4, 7]) // 11
   */
  static async connect(url: string, options: ClientOptions = {}): Promise<Client> {
    const o = knownOptions('Client.connect()', options, CLIENT_OPTIONS)
    const retry = knownOptions('Client.connect() retry', o.retry, RETRY_OPTIONS)
    const system = new ActorSystem({ ...o, name: 'client' })
    const client = new Client(
      system,
      integerOption('retry.attempts', retry.attempts, DEFAULT_RETRY_ATTEMPTS, 0),
      durationOption('retry.delay', retry.delay, DEFAULT_RETRY_DELAY_MS),
    )
    hostNodeActor(system, (msg, from) => client.emit('sysmsg', msg, from))
    system.extend({ envelope: (peer, env) => client.#fromManager(peer, env) })
    client.#link = new Reconnector(system, url, o, {
      connected: (peer) => client.#connected(peer),
      disconnected: (why) => client.#disconnected(why),
      lost: (why) => {
        client.#lostWhy = why
        client.#failAll(new TroupeError('ECLOSED', `lost the manager: ${why.message}`, { cause: why }))
      },
    })
    try {
      await client.#link.start()
    } catch (err) {
      // the link too, so that nothing of this failed client (a dial, a timer) outlives it
      await client.#link.close()
      await system.close()
      throw err
    }
    return client
  }

  /** This client's node id. */
  get id(): string {
    return this.#system.id
  }

  /** Tasks sent or waiting to be sent, not yet answered. */
  get pending(): number {
    return this.#calls.size
  }

  /**
   * Runs one task and resolves with its result.
   * Rejects with `ECSTO`, `ETO`, `EATO`, `EREJECTED`, `EABORT`, `ETASK`, `ENOTASK`, `EEVAL`,
   * `EFRAME`, `EWORKERLOST`, `ECLOSED` or `ECONFIG`.
   */
  run<R = unknown>(name: string, input?: unknown, options?: RunOptions): Promise<R> {
    return this.#run<R>(name, input, options, false)
  }

  /** `run()`; `all()` and `each()` check their options' names once, not once per input. */
  #run<R>(name: string, input: unknown, options: RunOptions | undefined, namesChecked: boolean): Promise<R> {
    try {
      return this.#start(name, input, options, namesChecked) as Promise<R>
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Runs one task per input; resolves with the results in input order. The first failure
   * rejects the call and cancels the rest (queued ones are dropped, running ones see their
   * signal abort).
   */
  async all<R = unknown>(name: string, inputs: readonly unknown[], options: RunOptions = {}): Promise<R[]> {
    if (!Array.isArray(inputs)) throw configError('inputs', 'an array', inputs)
    const o = knownOptions('all()', options, RUN_OPTIONS)
    const group = callGroup(signalOption('signal', o.signal))
    try {
      const calls = inputs.map((input) => this.#run<R>(name, input, { ...o, signal: group.signal }, true))
      for (const call of calls) call.catch(() => {}) // the first failure is reported; the rest follow from it
      return await Promise.all(calls)
    } finally {
      group.end(new TroupeError('EABORT', 'another task of the group failed'))
    }
  }

  /**
   * Runs one task per input and yields each outcome as it finishes, with its input's index.
   * At most `concurrency` tasks are open or finished but not yet taken; leaving the loop early
   * cancels the rest and closes the input. Once the signal aborts or the client closes, the
   * outcomes of the inputs already received are yielded, then the loop throws that
   * `EABORT`/`ECLOSED` (see actors/each.ts).
   */
  async *each<R = unknown>(name: string, inputs: Iterable<unknown> | AsyncIterable<unknown>, options: EachOptions = {}): AsyncGenerator<EachResult<R>> {
    const iterable = typeof inputs === 'object' && inputs !== null && (Symbol.asyncIterator in inputs || Symbol.iterator in inputs)
    if (!iterable) throw configError('inputs', 'an iterable or async iterable', inputs)
    const { concurrency, ...runOptions } = knownOptions('each()', options, EACH_OPTIONS)
    const window = integerOption('concurrency', concurrency, DEFAULT_EACH_CONCURRENCY, 1)
    yield* each(inputs, window, signalOption('signal', runOptions.signal), (input, signal) => this.#run<R>(name, input, { ...runOptions, signal }, true))
  }

  /** Runs `fn` on a pool started with `allowEval` (its source is sent; it must be self-contained). */
  eval<I, R>(fn: (input: I, ctx: TaskContext) => R | Promise<R>, input: I, options?: RunOptions): Promise<Awaited<R>> {
    if (typeof fn !== 'function') return Promise.reject(configError('fn', 'a function', fn))
    return this.run(EVAL_TASK, [fn.toString(), input], options)
  }

  /** The same calls, typed by a task module: `client.typed<typeof tasks>().run('add', [1, 2])`. */
  typed<T extends Record<string, AnyTask>>(): TypedClient<T> {
    return this as unknown as TypedClient<T>
  }

  /** The manager's counters (`Manager.stats()`). */
  stats(): Promise<ManagerStats> {
    return this.#control({ op: 'stats' }) as Promise<ManagerStats>
  }

  /**
   * Sends `msg` to `to` (`'manager'`, a node id, or everyone when omitted); resolves with the
   * ids of the recipients that acknowledged it.
   */
  async systemMessage(msg: unknown, options?: { to?: SysMsgTarget }): Promise<string[]> {
    return (await this.#control({ op: 'sysmsg', to: sysMsgTarget(options), msg })) as string[]
  }

  /**
   * Runs the task `name` (it must start with `__`) once on every connected pool and resolves
   * with one outcome per pool; one pool's failure is its outcome, never a rejection.
   * @throws TroupeError `EATO` (fewer than `min` pools), `EABORT`, `ECLOSED`, `ECONFIG`, `EPROTO`
   * (an input that cannot be encoded), `EFRAME`
   */
  broadcast<R = unknown>(name: string, input?: unknown, options?: BroadcastOptions): Promise<Outcome<R>[]> {
    if (typeof name !== 'string' || !name.startsWith('__')) return Promise.reject(configError('name', 'a task name starting with __', name))
    return this.#broadcast(name, input, options) as Promise<Outcome<R>[]>
  }

  /**
   * A broadcast job: `run()` waits for `workers` pools, runs `J`'s `run(all)` here with `all`
   * broadcasting each `__method` call, then gathers every pool's reports. A bad job or option
   * rejects `run()` with `ECONFIG`.
   * @example
   * const { value, reports } = await client.job(Survey, { workers: 3 }).run()
   */
  job<J extends Job>(Class: JobClass<J>, options?: JobOptions): { run(): Promise<JobResult<Awaited<ReturnType<J['run']>>>> } {
    // checked in run(), not here: a bad job or option rejects the promise, as in every async call
    return { run: () => runJob(Class, options, this.#jobHost) }
  }

  readonly #jobHost: JobHost = {
    nextJobRun: () => `${this.id}.${this.#nextJobRun++}`,
    awaitPools: (count, timeoutMs, signal) => this.#control({ op: 'awaitPools', count, timeoutMs }, signal),
    broadcast: (name, input, options) => this.#broadcast(name, input, options),
  }

  /** Closes the connection; calls still open reject with `ECLOSED`. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#failAll(new TroupeError('ECLOSED', 'the client closed'))
      await this.#link.close()
      await this.#system.close()
    })()
    return this.#closing
  }

  // ---- calls -----------------------------------------------------------------------------------

  #start(name: string, input: unknown, options: RunOptions | undefined, namesChecked: boolean): Promise<unknown> {
    if (this.#closing !== undefined) throw new TroupeError('ECLOSED', 'the client is closed')
    if (this.#lostWhy !== undefined) throw new TroupeError('ECLOSED', `lost the manager (reconnect is off): ${this.#lostWhy.message}`, { cause: this.#lostWhy })
    if (typeof name !== 'string' || name.length === 0) throw configError('name', 'a task name', name)
    const o = namesChecked ? (options ?? {}) : knownOptions('run()', options, RUN_OPTIONS)
    const signal = signalOption('signal', o.signal)
    if (signal?.aborted === true) throw new TroupeError('EABORT', 'aborted before sending', { cause: signal.reason })
    const priority = o.priority ?? 0
    if (typeof priority !== 'number' || !Number.isFinite(priority)) throw configError('priority', 'a finite number', priority)
    if (o.key !== undefined && typeof o.key !== 'string') throw configError('key', 'a string', o.key)
    if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw configError('onProgress', 'a function', o.onProgress)
    const timeoutMs = durationOption('timeout', o.timeout)
    const runTimeoutMs = durationOption('runTimeout', o.runTimeout)
    const assignTimeoutMs = durationOption('assignTimeout', o.assignTimeout)
    const body = encodeValue(input)
    this.#link.peer?.checkPayload({ buf: body, start: 0, end: body.length })
    return this.#calls.open(name, body, priority, runTimeoutMs, assignTimeoutMs, o.key, o.onProgress, signal, timeoutMs)
  }

  #failAll(err: TroupeError): void {
    this.#calls.failAll(err)
    this.#broadcasts.rejectAll(err)
  }

  // ---- the connection --------------------------------------------------------------------------

  #connected(peer: Peer): void {
    this.#calls.connected(peer)
    queueMicrotask(() => {
      this.#calls.flush()
      // a throwing listener is the caller's bug; it must not become an uncaught exception here
      try {
        this.emit('connected')
      } catch (caught) {
        debug('a connected listener threw: %s', asError(caught).stack)
      }
    })
  }

  #disconnected(why: TroupeError): void {
    this.#calls.disconnected()
    this.#broadcasts.rejectAll(new TroupeError('ECLOSED', `lost the manager during a broadcast: ${why.message}`, { cause: why }))
    this.emit('disconnected', why)
  }

  #fromManager(peer: Peer, env: Envelope): boolean {
    if (peer !== this.#link.peer) return false
    switch (env.k) {
      case Kind.Done:
        this.#calls.done(env)
        return true
      case Kind.Failed:
        this.#calls.failed(env)
        return true
      case Kind.BroadcastDone:
        // a late answer (the caller gave up) is not decoded
        if (this.#broadcasts.has(env.id)) this.#broadcasts.settle(env.id, null, env.outcomes.map(toOutcome))
        return true
      case Kind.BroadcastFailed:
        this.#broadcasts.settle(env.id, fromWireError(env.err))
        return true
      case Kind.Progress:
        this.#calls.progress(env)
        return true
      default:
        return false
    }
  }

  // async: a bad option or an unencodable input rejects, never throws (ECONFIG, EPROTO)
  async #broadcast(name: string, input: unknown, options: BroadcastOptions | undefined): Promise<Outcome<unknown>[]> {
    const o = knownOptions('broadcast()', options, BROADCAST_OPTIONS)
    const timeoutMs = durationOption('timeout', o.timeout) ?? DEFAULT_BROADCAST_TIMEOUT_MS
    const min = integerOption('min', o.min, 1, 0)
    const signal = signalOption('signal', o.signal)
    if (signal?.aborted === true) throw new TroupeError('EABORT', 'aborted before sending', { cause: signal.reason })
    const body = encodeValue(input)
    const peer = this.#link.peer
    if (peer === undefined || this.#closing !== undefined) throw new TroupeError('ECLOSED', 'not connected to the manager')
    const id = this.#broadcasts.nextId
    // the manager answers by timeoutMs; the grace bounds a manager that never does (ECSTO)
    const outcomes = this.#broadcasts.open(timeoutMs + BROADCAST_GRACE_MS, signal, (_, why) => {
      if (why.code === 'EABORT' && !peer.isClosed) peer.send({ k: Kind.BroadcastWithdraw, id }) // the pools stop its runs
    })
    try {
      peer.send({ k: Kind.Broadcast, id, name, body, timeoutMs, min })
    } catch (err) {
      this.#broadcasts.settle(id, err as TroupeError) // EFRAME: the input does not fit a frame
    }
    return outcomes as Promise<Outcome<unknown>[]>
  }

  /** Asks the manager's control actor; a refusal it throws keeps its own code (`EATO`, ...). */
  async #control(request: ManagerRequest, signal?: AbortSignal): Promise<unknown> {
    const peer = this.#link.peer
    if (peer === undefined) throw new TroupeError('ECLOSED', 'not connected to the manager')
    try {
      return await peer.ref(MANAGER_ACTOR).ask(request, { signal })
    } catch (err) {
      const e = err as TroupeError
      if (e.code === 'ETASK' && isErrorCode(e.remoteCode)) throw new TroupeError(e.remoteCode, e.message, { cause: e })
      throw e
    }
  }
}

/** A pool's answer as the caller sees it: the result decoded, or the error rebuilt. */
function toOutcome(w: WireOutcome): Outcome<unknown> {
  if (!w.ok) return { worker: w.worker, ok: false, error: fromWireError(w.err) }
  try {
    return { worker: w.worker, ok: true, value: decodeValue(w.body), ms: w.ms }
  } catch (err) {
    return { worker: w.worker, ok: false, error: err as TroupeError }
  }
}
