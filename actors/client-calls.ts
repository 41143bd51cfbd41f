/**
 * `ClientCalls`: a client's open task calls, from the moment `run()` has checked its options and
 * encoded its input until the result reaches the caller, exactly once (API.md §4). Every call
 * has one exit (`#settle`). While the manager is unreachable, calls wait in the outbox within
 * their `timeout` and are sent once it is back; after a reconnect the calls still open are sent
 * again (at-least-once), and a late or duplicate answer finds no call and is dropped. A call a
 * full queue turned away (`EREJECTED`) is sent again after a backoff, `retry.attempts` times.
 *
 * It is kept apart from `Client` (actors/client.ts), which checks options and speaks for the
 * client as a whole (groups of calls, broadcasts, the manager's control actor): the life of one
 * call is an idea of its own, and this file holds its bookkeeping, sending, retries and re-sending.
 */
import type { Clock, Timer } from '../lib/clock.js'
import { decodeValue } from '../lib/codec.js'
import { Kind, fromWireError, type Done, type Failed, type Progress } from '../lib/envelope.js'
import { TroupeError } from '../lib/errors.js'
import { IdTable } from '../lib/id-table.js'
import { AbortWatch } from '../lib/abort-watch.js'
import { RingBuffer } from '../lib/ring.js'
import type { Peer } from './peer.js'

interface Call {
  readonly id: number
  readonly name: string
  readonly body: Uint8Array
  readonly priority: number
  readonly runTimeoutMs: number | undefined
  readonly assignTimeoutMs: number | undefined
  readonly key: string | undefined
  readonly onProgress: ((value: number) => void) | undefined
  readonly resolve: (value: unknown) => void
  readonly reject: (err: TroupeError) => void
  readonly signal: AbortSignal | undefined
  timer: Timer | undefined
  retryTimer: Timer | undefined
  /** Rejections by a full queue so far. */
  rejections: number
  /** Sent on the current connection (so a Withdraw means something). */
  sent: boolean
}

/** Ids of settled calls the outbox may hold beyond the number of open calls before it is swept. */
const OUTBOX_SLACK = 64

/** The open task calls of one `Client`, each kept until its one exit. */
export class ClientCalls {
  readonly #clock: Clock
  // the connection to the manager, when there is one (the client's Reconnector)
  readonly #peer: () => Peer | undefined
  // open calls by id; ids are sequential, so a table by id rather than a Map, which churns the
  // young generation at one insert and one delete per call (lib/id-table.ts)
  readonly #calls = new IdTable<Call>()
  // ids of the calls waiting to be sent (no connection, or the connection was congested). Ids, not
  // calls: one settled while waiting (timeout, abort) leaves only its id behind, not its input, and
  // #queue sweeps those out before they outnumber the open calls, so a long outage stays bounded
  readonly #outbox = new RingBuffer<number>()
  readonly #retryAttempts: number
  readonly #retryDelayMs: number
  #nextId = 1
  readonly #aborts = new AbortWatch<Call>((call, signal) => this.#giveUp(call, new TroupeError('EABORT', 'aborted by the caller', { cause: signal.reason })))

  /**
   * @param peer the connection to send on, read at each send (undefined while there is none)
   * @param retryAttempts sends again of a call a full queue turned away, before its `EREJECTED` stands
   * @param retryDelayMs the wait before the first of them; retry n waits (1 + ln(n)) × this
   */
  constructor(clock: Clock, peer: () => Peer | undefined, retryAttempts: number, retryDelayMs: number) {
    this.#clock = clock
    this.#peer = peer
    this.#retryAttempts = retryAttempts
    this.#retryDelayMs = retryDelayMs
  }

  /** Calls sent or waiting to be sent, not yet answered. */
  get size(): number {
    return this.#calls.size
  }

  /**
   * Opens a call of task `name` on the encoded input `body`, with options the client has checked,
   * and sends it if the connection takes it. Resolves with the decoded result; rejects as
   * `Client.run()` documents.
   */
  open(
    name: string, body: Uint8Array, priority: number, runTimeoutMs: number | undefined, assignTimeoutMs: number | undefined,
    key: string | undefined, onProgress: ((value: number) => void) | undefined, signal: AbortSignal | undefined, timeoutMs: number | undefined,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++
      const call: Call = {
        id, name, body, priority, runTimeoutMs, assignTimeoutMs, key, onProgress, resolve, reject, signal,
        timer: undefined, retryTimer: undefined, rejections: 0, sent: false,
      }
      if (timeoutMs !== undefined) call.timer = this.#clock.setTimer(timeoutMs, () => this.#giveUp(call, new TroupeError('ECSTO', `no result within ${timeoutMs} ms`)))
      if (signal !== undefined) this.#aborts.add(signal, call)
      this.#calls.set(id, call)
      this.#queue(call)
      this.flush()
    })
  }

  /** Sends what waits in the outbox while the connection takes it. */
  flush(): void {
    const peer = this.#peer()
    if (peer === undefined) return
    for (let id = this.#outbox.shift(); id !== undefined; id = this.#outbox.shift()) {
      const call = this.#calls.get(id)
      if (call === undefined || call.sent) continue // settled, or already sent
      call.sent = true
      let congested: boolean
      try {
        congested = !peer.send({
          k: Kind.Submit, id: call.id, name: call.name, body: call.body, priority: call.priority,
          runTimeoutMs: call.runTimeoutMs, assignTimeoutMs: call.assignTimeoutMs, key: call.key,
        })
      } catch (err) {
        this.#settle(call, err as TroupeError) // EFRAME
        continue
      }
      if (congested) return // the rest goes on drain
    }
  }

  /** A new connection to the manager: the outbox is refilled with every open call, sent on `flush()`. */
  connected(peer: Peer): void {
    peer.onDrain = () => this.flush()
    // everything still open goes (again): queued calls in order, then the rest by id
    const open = this.#openCalls()
    for (const call of open) call.sent = false
    this.#outbox.drain()
    for (const call of open) if (call.retryTimer === undefined) this.#outbox.push(call.id)
  }

  /** The connection is gone: nothing open counts as sent any more. */
  disconnected(): void {
    for (const call of this.#openCalls()) call.sent = false
  }

  /** Settles every open call with `err`; the outbox, left holding only their ids, is emptied. */
  failAll(err: TroupeError): void {
    for (const call of this.#openCalls()) this.#settle(call, err)
    this.#outbox.drain()
  }

  /** The manager's result of a call. */
  done(env: Done): void {
    const call = this.#calls.get(env.id)
    if (call === undefined) return // late: timed out, aborted, or answered already
    let value: unknown
    try {
      value = decodeValue(env.body)
    } catch (err) {
      this.#settle(call, err as TroupeError)
      return
    }
    this.#settle(call, null, value)
  }

  /** The manager's refusal or the task's failure; a full queue's `EREJECTED` is retried. */
  failed(env: Failed): void {
    const call = this.#calls.get(env.id)
    if (call === undefined) return
    if (env.err.code === 'EREJECTED' && call.rejections < this.#retryAttempts) this.#retryLater(call)
    else this.#settle(call, fromWireError(env.err))
  }

  /** A `ctx.progress(value)` of a call's task, for its `onProgress`. */
  progress(env: Progress): void {
    const onProgress = this.#calls.get(env.id)?.onProgress
    // a throwing progress callback is the caller's problem, not the call's; so is an async
    // one that rejects, which would otherwise end the process as an unhandled rejection
    try {
      const returned: unknown = onProgress?.(env.value)
      if (returned instanceof Promise) returned.catch(() => {})
    } catch {
      // as above
    }
  }

  /** Puts `call` in the outbox, first dropping the ids of settled calls if they pile up. */
  #queue(call: Call): void {
    if (this.#outbox.length >= 2 * this.#calls.size + OUTBOX_SLACK) this.#outbox.retain((id) => this.#calls.has(id))
    this.#outbox.push(call.id)
  }

  /** The caller stopped waiting: settle now and tell the manager to stop the task. */
  #giveUp(call: Call, err: TroupeError): void {
    if (!this.#settle(call, err)) return
    if (call.sent) this.#peer()?.send({ k: Kind.Withdraw, id: call.id })
  }

  /** The only exit of a call; false when it had already ended. */
  #settle(call: Call, err: TroupeError | null, value?: unknown): boolean {
    if (this.#calls.get(call.id) !== call) return false
    this.#calls.take(call.id)
    this.#clock.clearTimer(call.timer)
    this.#clock.clearTimer(call.retryTimer)
    if (call.signal !== undefined) this.#aborts.delete(call.signal, call)
    if (err === null) call.resolve(value)
    else call.reject(err)
    return true
  }

  /** The open calls in the order they were made (a copy: safe to settle while iterating). */
  #openCalls(): Call[] {
    return this.#calls.ids().sort((a, b) => a - b).map((id) => this.#calls.get(id) as Call)
  }

  /** A full queue turned the call away: try again after (1 + ln(attempt)) × delay. */
  #retryLater(call: Call): void {
    call.rejections++
    call.sent = false
    const delayMs = (1 + Math.log(call.rejections)) * this.#retryDelayMs
    call.retryTimer = this.#clock.setTimer(delayMs, () => {
      call.retryTimer = undefined
      if (this.#calls.get(call.id) !== call) return
      this.#queue(call)
      this.flush()
    })
  }
}
