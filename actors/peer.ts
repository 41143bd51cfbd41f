/**
 * Another node, seen through one connection: asks we sent it (and their deadlines), asks it
 * sent us (so a `Cancel` can reach them), and the decoding of every envelope it sends. A bad
 * frame costs this connection at most, never the process or another peer's work.
 */
import { decodeValue, encodeTransient } from '../lib/codec.js'
import type { ByteRange } from '../lib/cbor-lite.js'
import { debug } from '../lib/debug.js'
import {
  EnvelopeError,
  Kind,
  encodeAsk,
  encodeEnvelopeRange,
  encodeReply,
  encodeTell,
  fromWireError,
  readEnvelope,
  slimWireError,
  toWireError,
  type CastDone,
  type CastFailed,
  type Done,
  type Envelope,
  type Failed,
  type WireError,
} from '../lib/envelope.js'
import { TroupeError } from '../lib/errors.js'
import { IdTable } from '../lib/id-table.js'
import { PendingAsks } from '../lib/pending.js'
import type { Clock } from '../lib/clock.js'
import type { FrameSink, Transport } from '../transports/index.js'
import { Letter } from './actor.js'
import type { ActorRef, AskOptions } from './refs.js'
import { RemoteAnswer, RemoteRef } from './remote-ref.js'

/** What a peer needs from the node that owns it. */
export interface PeerHost {
  readonly clock: Clock
  /** Hands a letter from this peer to the local actor `to`. @throws `ENOTASK`, `EMAILBOX`, `ECLOSED` */
  deliver(to: string, letter: Letter): void
  /** Envelope kinds beyond the actor core's (the task grid's), or undefined to refuse them. */
  extension(peer: Peer, env: Envelope): boolean
  /** The connection is gone and every ask on it has been settled. */
  peerClosed(peer: Peer, why: TroupeError): void
}

/**
 * Bytes of tells and asks a peer may be sent while its connection reports backpressure (the
 * peer reads slower than we write, or not at all). Past this, `tell` throws and `ask` rejects
 * with `EMAILBOX` until the connection drains: the outbound queue is bounded like a mailbox.
 */
export const MAX_CONGESTED_BYTES = 64 * 1024 * 1024 // 64 MiB

export class Peer implements FrameSink {
  readonly #host: PeerHost
  /** Largest frame sent: ours, or the peer's once it announced a smaller one (see attach). */
  #maxFrameBytes: number
  /** Whose limit #maxFrameBytes is, for the EFRAME message. */
  #limitOwner = 'maxFrame'
  #transport: Transport | undefined
  /** Asks we sent, by id. */
  readonly pending: PendingAsks
  /** Asks this peer sent us that are still being handled, by the peer's id (for `Cancel`); not a Map: see id-table.ts. */
  readonly #inbound = new IdTable<Letter>()
  #closed = false
  // bytes of tells and asks sent since the connection last reported backpressure (on any send), or -1 while it has none
  #congestedBytes = -1
  readonly #drainWaiters: { resolve(): void; reject(err: TroupeError): void }[] = []
  /** Set on every drain; the grid listens to resume sending. */
  onDrain: (() => void) | undefined

  constructor(host: PeerHost, maxFrameBytes: number) {
    this.#host = host
    this.#maxFrameBytes = maxFrameBytes
    this.pending = new PendingAsks(host.clock)
  }

  /**
   * Attaches the connection once its handshake is done. A peer that announced a smaller frame
   * limit than ours gets nothing larger: it would close the connection on such a frame, and
   * every call on it would go down with the one that did not fit. The call fails alone instead
   * (`EFRAME`), as it does over our own limit.
   */
  attach(transport: Transport): void {
    this.#transport = transport
    const theirs = transport.peerMaxFrameBytes
    if (theirs !== undefined && theirs < this.#maxFrameBytes) {
      this.#maxFrameBytes = theirs
      this.#limitOwner = `the peer's maxFrame`
    }
  }

  /** The peer's node id, as proved in the handshake. */
  get id(): string {
    return this.#transport?.peerNode ?? ''
  }

  get remoteAddress(): string {
    return this.#transport?.remoteAddress ?? ''
  }

  get isClosed(): boolean {
    return this.#closed
  }

  /** A reference to the actor `name` on this peer. */
  ref<M = unknown, R = unknown>(name: string): ActorRef<M, R> {
    return new RemoteRef<M, R>(this, name)
  }

  /**
   * Sends an envelope. False when the connection is congested (the frame is still sent) or gone.
   * @throws TroupeError `EFRAME` when it is larger than maxFrame (nothing is sent).
   */
  send(env: Envelope): boolean {
    const frame = encodeEnvelopeRange(env) // the shared writer: read before anything else encodes
    return this.#sendFrame(frame.buf, frame.start, frame.end)
  }

  /**
   * Sends how a task or subtask ended, which its caller must hear in some form: a result too
   * large for a frame goes as that call's `EFRAME` failure instead, an error too large without
   * its data and stack (`slimWireError`).
   */
  sendOutcome(env: Done | Failed | CastDone | CastFailed): void {
    try {
      this.send(env)
    } catch (err) {
      // EFRAME, the one thing send() throws
      if (env.k === Kind.Done) this.send({ k: Kind.Failed, id: env.id, err: toWireError(err as TroupeError), pool: env.pool })
      else if (env.k === Kind.CastDone) this.send({ k: Kind.CastFailed, id: env.id, err: toWireError(err as TroupeError), pool: env.pool })
      else this.send({ ...env, err: slimWireError(env.err) })
    }
  }

  /**
   * Sends an envelope bounded as tells are: past MAX_CONGESTED_BYTES sent into backpressure it
   * throws instead. For what would otherwise pile up for a peer that does not read.
   * @throws TroupeError `EMAILBOX`, `EFRAME` (nothing is sent)
   */
  sendBounded(env: Envelope): void {
    this.#checkCongestion()
    const frame = encodeEnvelopeRange(env) // the shared writer: read before anything else encodes
    this.#checkFrame(frame.end - frame.start)
    this.#sendCounted(frame.buf, frame.start, frame.end)
  }

  #sendFrame(buf: Uint8Array, start: number, end: number): boolean {
    this.#checkFrame(end - start)
    const below = this.#transport?.send(buf, start, end) ?? false
    if (!below && this.#congestedBytes < 0) this.#congestedBytes = 0
    return below
  }

  /**
   * True from a send the connection reported backpressure on (over its high-water mark, 1 MiB,
   * waits to be sent) until it drains, or once closed. What may be dropped (progress) is dropped then.
   */
  get congested(): boolean {
    return this.#congestedBytes >= 0 || this.#closed
  }

  #checkFrame(bytes: number): void {
    if (bytes > this.#maxFrameBytes) throw new TroupeError('EFRAME', `frame of ${bytes} bytes exceeds ${this.#limitOwner} (${this.#maxFrameBytes})`)
  }

  /** Fails fast on a payload that cannot fit in a frame, before copying it into one. */
  checkPayload(body: ByteRange): void {
    const length = body.end - body.start
    if (length > this.#maxFrameBytes) {
      throw new TroupeError('EFRAME', `payload of ${length} bytes exceeds ${this.#limitOwner} (${this.#maxFrameBytes})`)
    }
  }

  ask(to: string, message: unknown, options?: AskOptions): Promise<unknown> {
    const timeout = options?.timeout
    const signal = options?.signal
    if (signal?.aborted === true) return Promise.reject(new TroupeError('EABORT', 'aborted before sending', { cause: signal.reason }))
    if (this.#closed) return Promise.reject(new TroupeError('ECLOSED', `connection to ${this.id} is closed`))
    let frame: ByteRange
    try {
      this.#checkCongestion()
      const body = encodeTransient(message)
      this.checkPayload(body)
      frame = encodeAsk(this.pending.nextId, to, body)
      this.#checkFrame(frame.end - frame.start)
    } catch (err) {
      return Promise.reject(err)
    }
    const { buf, start, end } = frame // the shared writer: read it before anything else encodes
    const answer = this.pending.open(timeout, signal, this.#cancel)
    this.#sendCounted(buf, start, end)
    return answer
  }

  tell(to: string, message: unknown): void {
    if (this.#closed) throw new TroupeError('ECLOSED', `connection to ${this.id} is closed`)
    this.#checkCongestion()
    const body = encodeTransient(message)
    this.checkPayload(body)
    const frame = encodeTell(to, body)
    this.#checkFrame(frame.end - frame.start)
    this.#sendCounted(frame.buf, frame.start, frame.end)
  }

  /** @throws TroupeError `EMAILBOX` past MAX_CONGESTED_BYTES sent into backpressure. */
  #checkCongestion(): void {
    if (this.#congestedBytes > MAX_CONGESTED_BYTES) {
      throw new TroupeError('EMAILBOX', `the connection to ${this.id} has over ${MAX_CONGESTED_BYTES} bytes waiting: the peer reads them slower than they are sent, or not at all`)
    }
  }

  #sendCounted(buf: Uint8Array, start: number, end: number): void {
    const below = this.#transport?.send(buf, start, end) ?? false
    if (this.#congestedBytes >= 0) this.#congestedBytes += end - start
    else if (!below) this.#congestedBytes = 0
  }

  readonly #cancel = (id: number): void => {
    if (!this.#closed) this.send({ k: Kind.Cancel, id })
  }

  /** Closes the connection; every ask on it settles with `ECLOSED`. */
  close(reason?: TroupeError): Promise<void> {
    return this.#transport?.close(reason) ?? Promise.resolve()
  }

  // ---- FrameSink -----------------------------------------------------------------------------

  frame(buf: Uint8Array, start: number, end: number): void {
    let env: Envelope
    try {
      env = readEnvelope(buf, start, end)
    } catch (caught) {
      this.#badFrame(caught as EnvelopeError)
      return
    }
    switch (env.k) {
      case Kind.Ask:
        this.#onAsk(env.id, env.to, env.body)
        return
      case Kind.Tell:
        this.#onTell(env.to, env.body)
        return
      case Kind.Reply:
        this.#onReply(env.id, env.body)
        return
      case Kind.Fail:
        this.pending.settle(env.id, fromWireError(env.err))
        return
      case Kind.Cancel:
        this.#inbound.take(env.id)?.cancel(new TroupeError('EABORT', 'the asker gave up'))
        return
      case Kind.Hello:
      case Kind.Auth:
      case Kind.Ping:
      case Kind.Pong:
      case Kind.Bye:
        return // handled by the connection; never reach here
      default:
        if (!this.#host.extension(this, env)) this.#badFrame(new EnvelopeError(`unexpected envelope kind ${(env as Envelope).k}`))
    }
  }

  drain(): void {
    this.#congestedBytes = -1
    for (const waiter of this.#drainWaiters.splice(0)) waiter.resolve()
    this.onDrain?.()
  }

  drained(): Promise<void> {
    if (this.#closed) return Promise.reject(new TroupeError('ECLOSED', `connection to ${this.id} is closed`))
    if (this.#congestedBytes < 0) return Promise.resolve()
    return new Promise((resolve, reject) => this.#drainWaiters.push({ resolve, reject }))
  }

  closed(why: TroupeError): void {
    if (this.#closed) return
    this.#closed = true
    const closed = new TroupeError('ECLOSED', `connection to ${this.id || this.remoteAddress} closed: ${why.message}`, { cause: why })
    this.pending.rejectAll(closed)
    for (const waiter of this.#drainWaiters.splice(0)) waiter.reject(closed)
    for (const letter of this.#inbound.drain()) letter.cancel(why)
    this.#host.peerClosed(this, why)
  }

  /** An unknown kind that carried an id is answered (a newer peer learns we lack it); anything else ends the connection. */
  #badFrame(err: EnvelopeError): void {
    debug('bad frame from %s: %s', this.id, err.message)
    if (err.requestId !== undefined) this.send({ k: Kind.Fail, id: err.requestId, err: toWireError(err) })
    else void this.close(err)
  }

  #onAsk(id: number, to: string, body: Uint8Array): void {
    let message: unknown
    try {
      message = decodeValue(body)
    } catch (err) {
      this.#answerFail(id, toWireError(err as TroupeError))
      return
    }
    const letter = new Letter(message, new RemoteAnswer(this, id), this.id)
    try {
      this.#host.deliver(to, letter)
    } catch (err) {
      this.#answerFail(id, toWireError(err as TroupeError))
      return
    }
    this.#inbound.set(id, letter)
  }

  #onTell(to: string, body: Uint8Array): void {
    try {
      this.#host.deliver(to, new Letter(decodeValue(body), undefined, this.id))
    } catch (err) {
      debug('tell to %s from %s dropped: %s', to, this.id, (err as Error).message)
    }
  }

  #onReply(id: number, body: Uint8Array): void {
    if (!this.pending.has(id)) {
      this.pending.lateReplies++
      return
    }
    let value: unknown
    try {
      value = decodeValue(body)
    } catch (err) {
      this.pending.settle(id, err as TroupeError)
      return
    }
    this.pending.settle(id, null, value)
  }

  /** Sends the answer to the peer's ask `id`. */
  answer(id: number, value: unknown): void {
    if (this.#inbound.take(id) === undefined || this.#closed) return
    try {
      const body = encodeTransient(value)
      this.checkPayload(body)
      const frame = encodeReply(id, body)
      this.#sendFrame(frame.buf, frame.start, frame.end)
    } catch (err) {
      this.#unsendable(id, err as TroupeError, 'answer')
    }
  }

  /** Sends the failure of the peer's ask `id`. */
  answerError(id: number, err: TroupeError): void {
    if (this.#inbound.take(id) === undefined || this.#closed) return
    try {
      this.send({ k: Kind.Fail, id, err: toWireError(err) })
    } catch (caught) {
      // a thrown error too big for one frame (its message, stack or data): the asker still
      // learns what happened, as for an answer that cannot be sent
      this.#unsendable(id, caught as TroupeError, 'error')
    }
  }

  /** What the asker of `id` gets when its answer cannot be encoded or framed. */
  #unsendable(id: number, why: TroupeError, what: 'answer' | 'error'): void {
    this.#answerFail(id, { code: why.code === 'EFRAME' ? 'EFRAME' : 'ETASK', message: `the ${what} cannot be sent: ${why.message}` })
  }

  #answerFail(id: number, err: WireError): void {
    if (!this.#closed) this.send({ k: Kind.Fail, id, err })
  }
}
