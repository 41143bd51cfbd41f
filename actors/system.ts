/**
 * `ActorSystem`: the actors of one node, the connections to other nodes, and the guarantee that
 * `close()` leaves nothing waiting. Local asks pass messages by reference; asks to another node
 * (over mem://, tcp:// or unix://) copy them through CBOR.
 */
import { EventEmitter } from 'eventemitter3'
import { systemClock, type Clock } from '../lib/clock.js'
import { debug } from '../lib/debug.js'
import type { Envelope } from '../lib/envelope.js'
import { TroupeError, configError } from '../lib/errors.js'
import { newNodeId } from '../lib/ids.js'
import { booleanOption, integerOption, optionsObject, stringOption } from '../lib/options.js'
import { PendingAsks } from '../lib/pending.js'
import { dial, listen, type Listener, type Transport } from '../transports/index.js'
import { Actor, Letter, type Answer, type Handler } from './actor.js'
import { resolveNetworkOptions, type NetworkOptions } from './network-options.js'
import { Peer, type PeerHost } from './peer.js'
import type { ActorRef, AskOptions } from './refs.js'

const DEFAULT_MAILBOX_CAPACITY = 10_000

/** Options of `new ActorSystem()`. */
export interface ActorSystemOptions extends NetworkOptions {
  /** A name for logs (default `'troupe'`). */
  name?: string | undefined
  /** Default mailbox bound of every actor (default 10 000 queued messages). */
  mailbox?: { capacity?: number | undefined } | undefined
  /** Where time comes from; tests pass a `ManualClock`. */
  clock?: Clock | undefined
}

/** Options of `spawn()`. */
export interface SpawnOptions<S extends object> {
  mailbox?: { capacity?: number | undefined } | undefined
  /** The actor's initial private state (default `{}`). */
  state?: S | undefined
  /**
   * When a handler returns a promise, take the next message at once instead of waiting for it
   * (default false). Answers then go out in the order promises settle. For actors that only
   * coordinate and keep no state across an await, like the grid's control actors. Read
   * `ctx.from` and `ctx.signal` before the first await: they belong to the message of the moment.
   */
  overlap?: boolean | undefined
}

/** Events of an `ActorSystem`. */
export interface ActorSystemEvents {
  /** A node connected to us or we to it. */
  peer: [peer: RemoteSystem]
  /** A connection ended; its asks have been settled with `ECLOSED`. */
  peerClosed: [peer: RemoteSystem, why: TroupeError]
  /** A handler threw while handling a `tell` (nobody else would hear of it). */
  error: [err: unknown, actor: string]
}

/** Another node, as returned by `connect()` or announced by the `peer` event. */
export interface RemoteSystem {
  /** The node id it proved in the handshake. */
  readonly id: string
  readonly remoteAddress: string
  /** A reference to the actor `name` on that node. */
  ref<M = unknown, R = unknown>(name: string): ActorRef<M, R>
  /**
   * Resolves once what was told or asked of that node has been handed to the network: at once
   * unless the connection reports backpressure (the node reads slower than we write). Tells and
   * asks sent into 64 MiB of backpressure fail with `EMAILBOX`; await this before sending more.
   * Rejects with `ECLOSED` if the connection closes first.
   */
  drained(): Promise<void>
  /** Closes this connection; asks waiting on it reject with `ECLOSED`. */
  close(): Promise<void>
}

/** Handles envelope kinds beyond the actor core's: the task grid plugs in here. */
export interface ProtocolExtension {
  envelope(peer: Peer, env: Envelope): boolean
  peerOpened?(peer: Peer): void
  peerClosed?(peer: Peer, why: TroupeError): void
}

/**
 * A node: spawn actors, ask and tell them, listen for other nodes and connect to them.
 * @example
 * const system = new ActorSystem({ name: 'app' })
 * const counter = system.spawn('counter', (msg: { add: number }, ctx) => (ctx.state.n = (ctx.state.n ?? 0) + msg.add))
 * await counter.ask({ add: 2 }) // 2
 */
export class ActorSystem extends EventEmitter<ActorSystemEvents> implements PeerHost {
  /** Unique id of this node. */
  readonly id: string
  readonly name: string
  readonly clock: Clock
  /** The first address `listen()` bound, e.g. `tcp://127.0.0.1:43121`. */
  address: string | undefined
  readonly #options: ActorSystemOptions
  readonly #mailboxCapacity: number
  readonly #actors = new Map<string, Actor>()
  readonly #peers = new Set<Peer>()
  readonly #listeners: Listener[] = []
  // connect() calls still dialling or in their handshake, by what aborts them: close() aborts
  // them and waits until they are gone, since nothing else would close their sockets
  readonly #dials = new Map<AbortController, Promise<Peer>>()
  // local asks with a timeout or signal; plain local asks are tracked by their letter alone
  readonly #localAsks: PendingAsks
  #extension: ProtocolExtension | undefined
  #closing: Promise<void> | undefined

  constructor(options: ActorSystemOptions = {}) {
    super()
    const o = optionsObject('options', options)
    this.id = newNodeId()
    this.name = stringOption('name', o.name, 'troupe')
    this.clock = o.clock ?? systemClock
    this.#mailboxCapacity = integerOption('mailbox.capacity', optionsObject('mailbox', o.mailbox).capacity, DEFAULT_MAILBOX_CAPACITY, 1)
    this.#options = o
    this.#localAsks = new PendingAsks(this.clock)
  }

  /** Installs the handler for the task grid's envelope kinds (used by Manager, WorkerPool, Client). */
  extend(extension: ProtocolExtension): void {
    this.#extension = extension
  }

  /**
   * Starts an actor named `name`.
   * @throws TroupeError `ECONFIG` for a taken name or bad options, `ECLOSED` after `close()`.
   */
  spawn<M = any, R = unknown, S extends object = Record<string, any>>(name: string, handler: Handler<M, R, S>, options: SpawnOptions<S> = {}): ActorRef<M, Awaited<R>> {
    if (this.#closing !== undefined) throw new TroupeError('ECLOSED', 'the actor system is closed')
    if (typeof name !== 'string' || name.length === 0) throw configError('name', 'a non-empty string', name)
    if (typeof handler !== 'function') throw configError('handler', 'a function', handler)
    if (this.#actors.has(name)) throw new TroupeError('ECONFIG', `an actor named "${name}" already exists`)
    const o = optionsObject('options', options)
    const capacity = integerOption('mailbox.capacity', optionsObject('mailbox', o.mailbox).capacity, this.#mailboxCapacity, 1)
    const overlap = booleanOption('overlap', o.overlap, false)
    const actor = new Actor(name, handler as Handler, capacity, o.state ?? {}, this.#unhandled, overlap)
    this.#actors.set(name, actor)
    return new LocalRef(actor, this.#localAsks)
  }

  /** A reference to the local actor `name` (it may be spawned later). */
  ref<M = unknown, R = unknown>(name: string): ActorRef<M, R> {
    return new NamedRef<M, R>(this, name)
  }

  /** Stops the actor `name`: its waiting and running asks reject with `ECLOSED`. */
  stop(name: string): void {
    this.#actors.get(name)?.stop(new TroupeError('ECLOSED', `actor "${name}" was stopped`))
    this.#actors.delete(name)
  }

  /** @internal the local actor `name`, for NamedRef */
  actor(name: string): Actor | undefined {
    return this.#actors.get(name)
  }

  /** @internal local asks with a deadline or signal, for NamedRef */
  get localAsks(): PendingAsks {
    return this.#localAsks
  }

  readonly #unhandled = (actor: string, err: unknown): void => {
    debug('actor %s threw on a tell: %s', actor, (err as Error)?.stack ?? err)
    this.emit('error', err, actor)
  }

  // ---- network ---------------------------------------------------------------------------------

  /**
   * Accepts connections on `url` (`mem://name`, `tcp://host:port`, `unix:///path`) and returns
   * the real address. Remote nodes can then ask this system's actors by name.
   * @throws TroupeError `ECONFIG` (bad URL, in use), `EAUTH` (non-loopback without key)
   */
  async listen(url: string, options?: NetworkOptions): Promise<string> {
    if (this.#closing !== undefined) throw new TroupeError('ECLOSED', 'the actor system is closed')
    const resolved = await resolveNetworkOptions(this.id, this.clock, options, this.#options)
    const listener = await listen(url, resolved, (transport) => {
      const peer = new Peer(this, resolved.maxFrameBytes)
      peer.attach(transport)
      this.#opened(peer)
      return peer
    })
    if (this.#closing !== undefined) {
      await listener.close()
      throw new TroupeError('ECLOSED', 'the actor system closed while it started listening')
    }
    this.#listeners.push(listener)
    this.address ??= listener.address
    return listener.address
  }

  /**
   * Connects to the node at `url`.
   * @throws TroupeError `ECLOSED` (unreachable), `EAUTH`, `EPROTO`, `EABORT`, `ECONFIG`
   */
  async connect(url: string, options?: NetworkOptions): Promise<RemoteSystem> {
    return this.connectPeer(url, options)
  }

  /** @internal `connect()` returning the Peer itself, for the grid. */
  async connectPeer(url: string, options?: NetworkOptions): Promise<Peer> {
    if (this.#closing !== undefined) throw new TroupeError('ECLOSED', 'the actor system is closed')
    const aborter = new AbortController()
    const dialing = this.#dial(url, options, aborter)
    this.#dials.set(aborter, dialing)
    try {
      return await dialing
    } finally {
      this.#dials.delete(aborter)
    }
  }

  async #dial(url: string, options: NetworkOptions | undefined, aborter: AbortController): Promise<Peer> {
    const resolved = await resolveNetworkOptions(this.id, this.clock, options, this.#options)
    const peer = new Peer(this, resolved.maxFrameBytes)
    const callerSignal = resolved.signal
    const forwardAbort = (): void => aborter.abort(callerSignal?.reason)
    if (callerSignal?.aborted === true) forwardAbort()
    else callerSignal?.addEventListener('abort', forwardAbort, { once: true })
    let transport: Transport
    try {
      transport = await dial(url, { ...resolved, signal: aborter.signal }, peer)
    } catch (err) {
      if (this.#closing !== undefined) throw new TroupeError('ECLOSED', 'the actor system closed while connecting', { cause: err })
      throw err
    } finally {
      callerSignal?.removeEventListener('abort', forwardAbort)
    }
    peer.attach(transport)
    if (this.#closing !== undefined) {
      await transport.close()
      throw new TroupeError('ECLOSED', 'the actor system closed while connecting')
    }
    this.#opened(peer)
    return peer
  }

  #opened(peer: Peer): void {
    this.#peers.add(peer)
    this.#extension?.peerOpened?.(peer)
    this.emit('peer', peer)
  }

  /** Connected nodes. */
  get peers(): RemoteSystem[] {
    return [...this.#peers]
  }

  // ---- PeerHost ----------------------------------------------------------------------------------

  deliver(to: string, letter: Letter): void {
    const actor = this.#actors.get(to)
    if (actor === undefined) throw new TroupeError('ENOTASK', `no actor named "${to}" on node ${this.id}`)
    actor.post(letter)
  }

  extension(peer: Peer, env: Envelope): boolean {
    return this.#extension?.envelope(peer, env) ?? false
  }

  peerClosed(peer: Peer, why: TroupeError): void {
    this.#peers.delete(peer)
    this.#extension?.peerClosed?.(peer, why)
    this.emit('peerClosed', peer, why)
  }

  // ---- shutdown ----------------------------------------------------------------------------------

  /**
   * Stops listening, closes every connection and stops every actor. Every pending ask, local or
   * remote, settles (`ECLOSED`) before this resolves. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    const why = new TroupeError('ECLOSED', 'the actor system closed')
    for (const aborter of this.#dials.keys()) aborter.abort(why)
    const dials = [...this.#dials.values()]
    await Promise.all(this.#listeners.map((l) => l.close()))
    for (const actor of this.#actors.values()) actor.stop(why)
    this.#actors.clear()
    this.#localAsks.rejectAll(why)
    await Promise.all([...this.#peers].map((p) => p.close()))
    await Promise.allSettled(dials)
  }
}

/** A local actor: asks pass the message by reference. */
class LocalRef<M, R> implements ActorRef<M, R> {
  readonly #actor: Actor
  readonly #asks: PendingAsks

  constructor(actor: Actor, asks: PendingAsks) {
    this.#actor = actor
    this.#asks = asks
  }

  get name(): string {
    return this.#actor.name
  }

  tell(message: M): void {
    this.#actor.post(new Letter(message, undefined, undefined))
  }

  ask(message: M, options?: AskOptions): Promise<R> {
    return askLocal(this.#actor, this.#asks, message, options) as Promise<R>
  }
}

/** A local actor by name, looked up on each message (`system.ref(name)`). */
class NamedRef<M, R> implements ActorRef<M, R> {
  readonly name: string
  readonly #system: ActorSystem

  constructor(system: ActorSystem, name: string) {
    this.#system = system
    this.name = name
  }

  #actor(): Actor {
    const actor = this.#system.actor(this.name)
    if (actor === undefined) throw new TroupeError('ENOTASK', `no actor named "${this.name}"`)
    return actor
  }

  tell(message: M): void {
    this.#actor().post(new Letter(message, undefined, undefined))
  }

  ask(message: M, options?: AskOptions): Promise<R> {
    let actor: Actor
    try {
      actor = this.#actor()
    } catch (err) {
      return Promise.reject(err)
    }
    return askLocal(actor, this.#system.localAsks, message, options) as Promise<R>
  }
}

function askLocal(actor: Actor, asks: PendingAsks, message: unknown, options: AskOptions | undefined): Promise<unknown> {
  const timeoutMs = options?.timeout
  const signal = options?.signal
  if (timeoutMs === undefined && signal === undefined) {
    // the common case: the letter alone tracks the ask (stop() rejects it), no map entry or timer
    return new Promise((resolve, reject) => {
      try {
        actor.post(new Letter(message, { resolve, reject }, undefined))
      } catch (err) {
        reject(err)
      }
    })
  }
  if (signal?.aborted === true) return Promise.reject(new TroupeError('EABORT', 'aborted before sending', { cause: signal.reason }))
  return new Promise((resolve, reject) => {
    let letter: Letter | undefined
    const id = asks.add(resolve, reject, timeoutMs, signal, (_id, why) => letter?.cancel(why))
    const answer: Answer = { resolve: (value) => asks.settle(id, null, value), reject: (err) => asks.settle(id, err) }
    letter = new Letter(message, answer, undefined)
    try {
      actor.post(letter)
    } catch (err) {
      asks.settle(id, err as TroupeError)
    }
  })
}
