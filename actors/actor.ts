/**
 * One actor: a handler, a bounded mailbox, and the rule that it handles one message at a time
 * in arrival order (the next waits while an async handler runs). Every letter that asked for an
 * answer is answered exactly once: with the handler's result, its error (`ETASK`), or `ECLOSED`
 * when the actor stops first.
 */
import { TroupeError, taskError } from '../lib/errors.js'
import { RingBuffer } from '../lib/ring.js'
import { promiseOf } from '../lib/thenable.js'

/**
 * What a handler sees besides the message. `S` is the actor's private state; it defaults to a
 * loose record so a handler can keep counters without declaring them (API.md §3). Each message
 * has its own: read after an await, it still describes the message being handled.
 */
export interface ActorContext<S extends object = Record<string, any>> {
  /** Private state, kept between messages. */
  readonly state: S
  /** The actor's own name. */
  readonly name: string
  /** Node id of the remote asker or teller; undefined for a local one. */
  readonly from: string | undefined
  /** Aborts when the asker gives up on this message (timeout, abort) or the system closes. */
  readonly signal: AbortSignal
}

/** The function behind an actor. Its return value (or resolved value) answers an ask. */
export type Handler<M = any, R = unknown, S extends object = Record<string, any>> = (message: M, ctx: ActorContext<S>) => R | Promise<R>

/** Where an answer goes. Local asks carry resolve/reject; remote ones a callback to their peer. */
export interface Answer {
  resolve(value: unknown): void
  reject(err: TroupeError): void
}

const NO_STATE = Object.freeze({})

/**
 * A message waiting in a mailbox, then the `ctx` of the handler call for it: a context object
 * per message would cost an allocation each, and one shared by the actor would point at another
 * message by the time a handler reads it after an await. One shape for every kind of letter
 * (tell, local or remote ask) so the mailbox loop stays monomorphic.
 */
export class Letter implements ActorContext<object> {
  readonly message: unknown
  readonly answer: Answer | undefined
  readonly from: string | undefined
  /** The actor's name and state, set just before its handler is called. */
  name = ''
  state: object = NO_STATE
  /** Set once answered (or given up on), so nothing is answered twice. */
  settled = false
  // Why the letter was aborted, kept so that a signal first read after the abort starts
  // aborted; the controller behind ctx.signal is made on first use, as most handlers never read it
  #abortedBy: TroupeError | undefined
  #controller: AbortController | undefined

  constructor(message: unknown, answer: Answer | undefined, from: string | undefined) {
    this.message = message
    this.answer = answer
    this.from = from
  }

  /** Answers with a value, once. */
  resolve(value: unknown): void {
    if (this.settled) return
    this.settled = true
    this.answer?.resolve(value)
  }

  /** Answers with an error, once. */
  reject(err: TroupeError): void {
    if (this.settled) return
    this.settled = true
    this.answer?.reject(err)
  }

  /** Aborts when the asker gives up on this message (timeout, abort) or the actor stops. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#abortedBy !== undefined) this.#controller.abort(this.#abortedBy)
    }
    return this.#controller.signal
  }

  /** Aborts the handler's signal, now or when it is first read; the first reason stays. */
  abort(why: TroupeError): void {
    if (this.#abortedBy !== undefined) return
    this.#abortedBy = why
    this.#controller?.abort(why)
  }

  /** The actor stopped while this letter's handler ran: answer with `why` and abort its signal. */
  stop(why: TroupeError): void {
    this.reject(why)
    this.abort(why)
  }

  /** The asker went away: skip the letter if it is still queued, abort it if running. */
  cancel(why: TroupeError): void {
    this.settled = true
    this.abort(why)
  }
}

/** What an actor reports upward when a handler throws for a letter nobody awaits (a tell). */
export type OnUnhandled = (actor: string, err: unknown) => void

export class Actor {
  readonly name: string
  readonly #handler: Handler
  readonly #capacity: number
  readonly #mailbox = new RingBuffer<Letter>()
  readonly #onUnhandled: OnUnhandled
  readonly #state: object
  /** The letter whose handler runs now; without overlap, also while that handler awaits. */
  #current: Letter | undefined
  /** With overlap: letters whose handler returned a promise that has not settled yet. */
  readonly #awaiting = new Set<Letter>()
  #scheduled = false
  #running = false
  #stopped = false
  readonly #overlap: boolean

  constructor(name: string, handler: Handler, capacity: number, state: object, onUnhandled: OnUnhandled, overlap = false) {
    this.name = name
    this.#overlap = overlap
    this.#handler = handler
    this.#capacity = capacity
    this.#onUnhandled = onUnhandled
    this.#state = state
  }

  /** Messages waiting, not counting the one being handled. */
  get queued(): number {
    return this.#mailbox.length
  }

  /**
   * Queues a letter.
   * @throws TroupeError `EMAILBOX` when the mailbox is full, `ECLOSED` once stopped.
   */
  post(letter: Letter): void {
    if (this.#stopped) throw new TroupeError('ECLOSED', `actor "${this.name}" has stopped`)
    // an overlapping actor's letters still awaited count too: they hold as much as queued ones
    if (this.#mailbox.length + this.#awaiting.size >= this.#capacity) {
      throw new TroupeError('EMAILBOX', `mailbox of actor "${this.name}" is full (${this.#capacity} messages)`)
    }
    this.#mailbox.push(letter)
    if (!this.#scheduled && !this.#running) {
      this.#scheduled = true
      queueMicrotask(this.#drain)
    }
  }

  // Handles letters until the mailbox is empty or a handler goes async; bound once as a field
  // so scheduling it allocates nothing.
  readonly #drain = (): void => {
    this.#scheduled = false
    this.#running = true
    for (let letter = this.#mailbox.shift(); letter !== undefined; letter = this.#mailbox.shift()) {
      if (letter.settled) continue // its asker gave up while it waited
      this.#current = letter
      letter.name = this.name
      letter.state = this.#state
      let result: unknown
      let settled: Promise<unknown> | undefined
      try {
        result = this.#handler(letter.message, letter)
        settled = promiseOf(result) // runs the result's own code: inside the try
      } catch (err) {
        this.#failed(letter, err)
        continue
      }
      if (settled !== undefined) {
        if (this.#overlap) {
          this.#awaiting.add(letter)
          settled.then((value) => this.#overlapResolved(letter, value), (err: unknown) => this.#overlapFailed(letter, err))
          continue
        }
        settled.then((value) => this.#resumed(letter, value), (err: unknown) => this.#resumedAfterFailure(letter, err))
        return
      }
      letter.resolve(result)
    }
    this.#running = false
    this.#current = undefined
  }

  #resumed(letter: Letter, value: unknown): void {
    letter.resolve(value)
    if (!this.#stopped) this.#drain()
  }

  // a separate path rather than a null error: a handler may reject with null or undefined, and
  // that must read as it does when thrown synchronously
  #resumedAfterFailure(letter: Letter, err: unknown): void {
    this.#failed(letter, err)
    if (!this.#stopped) this.#drain()
  }

  #overlapResolved(letter: Letter, value: unknown): void {
    this.#awaiting.delete(letter)
    letter.resolve(value)
  }

  #overlapFailed(letter: Letter, err: unknown): void {
    this.#awaiting.delete(letter)
    this.#failed(letter, err)
  }

  #failed(letter: Letter, err: unknown): void {
    if (letter.answer === undefined) this.#onUnhandled(this.name, err)
    else letter.reject(taskError(err))
  }

  /** Stops taking letters and answers every waiting or running one with `why`. */
  stop(why: TroupeError): void {
    if (this.#stopped) return
    this.#stopped = true
    this.#current?.stop(why)
    for (const letter of this.#awaiting) letter.stop(why)
    this.#awaiting.clear()
    for (const letter of this.#mailbox.drain()) letter.reject(why)
  }
}
