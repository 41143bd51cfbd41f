/**
 * Keeps one connection to a manager (or a standalone pool) open: the first connection is
 * retried with backoff until `connectTimeout` (a wrong key fails at once), and after a loss it
 * is re-established with backoff until `close()`. API.md §4, semantic 7.
 */
import type { Timer } from '../lib/clock.js'
import { debug } from '../lib/debug.js'
import { TroupeError, asError } from '../lib/errors.js'
import { durationOption, knownOptions, optionNames, signalOption } from '../lib/options.js'
import { connectTimeoutMs, type NetworkOptions } from './network-options.js'
import type { Peer } from './peer.js'
import type { ActorSystem } from './system.js'

/** `reconnect` option: backoff doubling from `initialDelay` to `maxDelay` ms; false turns it off. */
export type ReconnectOption = { initialDelay?: number | undefined; maxDelay?: number | undefined } | false | undefined

export interface ReconnectHandlers {
  /**
   * A connection is up; a rejection closes it and tries again (an `ECLOSED` one while time is
   * left). What the handler waits for must end within `timeoutMs`, the rest of connectTimeout.
   */
  connected(peer: Peer, timeoutMs: number): Promise<void> | void
  /** The connection is gone (it may come back). A throw goes to the debug log; reconnecting goes on. */
  disconnected(why: TroupeError): void
  /** Reconnecting is off and the connection is gone for good. A throw goes to the debug log. */
  lost?(why: TroupeError): void
}

const DEFAULT_INITIAL_DELAY_MS = 100
const DEFAULT_MAX_DELAY_MS = 5000

/** Waits doubling from `initialDelayMs` to `maxDelayMs`: reconnecting, and a pool respawning its workers. */
export interface Backoff {
  initialDelayMs: number
  maxDelayMs: number
}

const RECONNECT_OPTIONS = optionNames<Exclude<ReconnectOption, false | undefined>>()('initialDelay', 'maxDelay')

/** Checks the delays of a `reconnect` option (defaults 100 ms and 5 s). @throws TroupeError `ECONFIG` */
export function backoffOption(options: Exclude<ReconnectOption, false | undefined>): Backoff {
  const r = knownOptions('reconnect', options, RECONNECT_OPTIONS)
  return {
    initialDelayMs: durationOption('reconnect.initialDelay', r.initialDelay, DEFAULT_INITIAL_DELAY_MS),
    maxDelayMs: durationOption('reconnect.maxDelay', r.maxDelay, DEFAULT_MAX_DELAY_MS),
  }
}

/** The wait before retry `attempt` (0 for the first). */
export function backoffDelay(b: Backoff, attempt: number): number {
  return Math.min(b.maxDelayMs, b.initialDelayMs * 2 ** attempt)
}

export class Reconnector {
  readonly #system: ActorSystem
  readonly #url: string
  readonly #options: NetworkOptions
  readonly #handlers: ReconnectHandlers
  readonly #enabled: boolean
  readonly #backoff: Backoff
  #peer: Peer | undefined
  // the peer whose `connected` handler is running: its loss is handled by the attempt itself
  #connecting: Peer | undefined
  #timer: Timer | undefined
  #wake: (() => void) | undefined
  #closed = false
  // aborts every dial. close() aborts it, or a dial in progress (a half-open handshake lasts up to
  // connectTimeout) would keep its socket and timer, and so the process, alive after close().
  // Until start() settles the caller's `signal` aborts it too: that signal bounds the first
  // connection only, and a reconnect long after it fired (AbortSignal.timeout()) must still dial
  #dialAborter = new AbortController()
  readonly #callerSignal: AbortSignal | undefined
  // the attempt in progress: close() waits until it has closed what it opened
  #attempt: Promise<void> | undefined

  constructor(system: ActorSystem, url: string, options: NetworkOptions & { reconnect?: ReconnectOption }, handlers: ReconnectHandlers) {
    const { reconnect, signal, ...network } = options
    this.#system = system
    this.#url = url
    this.#options = network
    this.#handlers = handlers
    this.#enabled = reconnect !== false
    this.#backoff = backoffOption(reconnect === false ? {} : (reconnect ?? {}))
    this.#callerSignal = signalOption('signal', signal)
    if (this.#callerSignal?.aborted === true) this.#abortDials()
    else this.#callerSignal?.addEventListener('abort', this.#abortDials, { once: true })
    system.on('peerClosed', this.#onClosed)
  }

  /** The connection, while it is up. */
  get peer(): Peer | undefined {
    return this.#peer
  }

  /**
   * Makes the first connection, retrying with backoff until `connectTimeout`.
   * @throws TroupeError `EAUTH`, `EPROTO`, `ECONFIG` at once; `ECLOSED` when the time is up.
   */
  async start(): Promise<void> {
    const deadline = this.#system.clock.now() + connectTimeoutMs(this.#options)
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.#connect(deadline)
          return
        } catch (err) {
          const e = err as TroupeError
          const remaining = deadline - this.#system.clock.now()
          if (this.#closed || e.code !== 'ECLOSED' || remaining <= 0) throw e
          await this.#sleep(Math.min(remaining, backoffDelay(this.#backoff, attempt)))
          if (this.#closed) throw new TroupeError('ECLOSED', 'closed while connecting')
        }
      }
    } finally {
      this.#unlinkCallerSignal()
    }
  }

  /** Stops reconnecting and closes the connection. */
  async close(): Promise<void> {
    this.#closed = true
    this.#system.off('peerClosed', this.#onClosed)
    this.#system.clock.clearTimer(this.#timer)
    this.#wake?.() // a start() or reconnect loop asleep between attempts ends now
    this.#callerSignal?.removeEventListener('abort', this.#abortDials)
    this.#dialAborter.abort(new TroupeError('ECLOSED', 'closed while connecting'))
    await this.#peer?.close()
    await this.#attempt?.catch(() => {}) // done already, or failing now: its dial aborted or its peer closed
  }

  readonly #abortDials = (): void => this.#dialAborter.abort(this.#callerSignal?.reason)

  // Connecting is over: from now on only close() aborts dials. The signal may have fired after
  // the last dial of start() had finished; the reconnects then need an aborter it did not touch.
  #unlinkCallerSignal(): void {
    this.#callerSignal?.removeEventListener('abort', this.#abortDials)
    if (this.#dialAborter.signal.aborted && !this.#closed) this.#dialAborter = new AbortController()
  }

  /** One attempt; setting it up (dial, handshake, the handler) ends by `deadline`, roughly. */
  #connect(deadline: number): Promise<void> {
    this.#attempt = this.#attemptConnect(deadline)
    return this.#attempt
  }

  async #attemptConnect(deadline: number): Promise<void> {
    const peer = await this.#system.connectPeer(this.#url, { ...this.#options, signal: this.#dialAborter.signal })
    // visible before the handler runs: the other side may send at once (a manager assigns work
    // to a pool as soon as it has joined, before the join's answer arrives)
    this.#peer = peer
    this.#connecting = peer
    try {
      // at least 1 ms: the dial may have used the whole budget, and the handler still gets a bound
      await this.#handlers.connected(peer, Math.max(1, deadline - this.#system.clock.now()))
      if (this.#closed) throw new TroupeError('ECLOSED', 'closed while connecting')
      if (peer.isClosed) throw new TroupeError('ECLOSED', 'the connection closed while being set up')
    } catch (err) {
      if (this.#peer === peer) this.#peer = undefined
      await peer.close()
      throw err
    } finally {
      this.#connecting = undefined
    }
  }

  readonly #onClosed = (closed: unknown, why: TroupeError): void => {
    if (closed !== this.#peer || closed === undefined) return // another peer of this system
    this.#peer = undefined
    if (closed === this.#connecting) return // the attempt in progress fails and retries itself
    // The handlers end in the user's event listeners. This runs inside the connection's close
    // handler, which drops a throw, so a throwing listener would stop the reconnect loop (or
    // failing the open calls) for good. The listener's error goes to the debug log, as the
    // throws of other handlers nobody awaits do (a tell's, a connection's close handler's).
    this.#notify('disconnected', why)
    if (this.#closed) return
    if (!this.#enabled) {
      this.#notify('lost', why)
      return
    }
    void this.#reconnect()
  }

  #notify(handler: 'disconnected' | 'lost', why: TroupeError): void {
    try {
      this.#handlers[handler]?.(why)
    } catch (caught) {
      debug('the %s handler of the link to %s threw: %s', handler, this.#url, asError(caught).stack)
    }
  }

  async #reconnect(): Promise<void> {
    for (let attempt = 0; !this.#closed; attempt++) {
      await this.#sleep(backoffDelay(this.#backoff, attempt))
      if (this.#closed) return
      try {
        await this.#connect(this.#system.clock.now() + connectTimeoutMs(this.#options))
        debug('reconnected to %s', this.#url)
        return
      } catch (err) {
        debug('reconnecting to %s failed: %s', this.#url, (err as Error).message)
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve
      this.#timer = this.#system.clock.setTimer(ms, resolve)
    })
  }
}
