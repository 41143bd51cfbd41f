/**
 * Turns a raw `Link` into a `Transport`: the HMAC handshake before any other frame, heartbeats
 * that notice a silent peer, a `Bye` that tells the peer why we close, and one `closed()` call
 * at the end whatever happened. The same code runs over TCP, Unix sockets, socketpairs and
 * memory, so a test over `mem://` exercises exactly what runs over the network.
 */
import type { Clock, Timer } from '../lib/clock.js'
import { debug } from '../lib/debug.js'
import { Kind, PROTOCOL_VERSION, encodeEnvelope, fromWireError, peekKind, readEnvelope, toWireError, type Envelope } from '../lib/envelope.js'
import { TroupeError, asError } from '../lib/errors.js'
import { NONCE_BYTES, announcedFrameLimit, newNonce, proofFor, verifyProof, type Role, type Transcript } from './handshake.js'
import { NO_LISTENER, type Link } from './link.js'
import type { ConnectionOptions, FrameSink, Transport } from './transport.js'

/** Largest frame accepted before the peer has authenticated (a Hello or an Auth is < 200 bytes). */
const HANDSHAKE_MAX_FRAME_BYTES = 4096
/** How long a graceful close may take to flush before the link is destroyed. */
const CLOSE_GRACE_MS = 2000

const PING_FRAME = encodeEnvelope({ k: Kind.Ping }).slice()
const PONG_FRAME = encodeEnvelope({ k: Kind.Pong }).slice()

type State = 'hello' | 'auth' | 'open' | 'closing' | 'closed'

/**
 * Turns a peer away before any handshake, telling it why in a `Bye`: a silent close would read
 * over tls:// as TLS refusing the key, and `reason`'s code decides whether the dialer retries.
 * The link is destroyed if the peer has not closed its side within the grace.
 */
export function refuse(link: Link, reason: TroupeError, clock: Clock): void {
  const grace = clock.setTimer(CLOSE_GRACE_MS, () => link.destroy(), true)
  link.events = { ...NO_LISTENER, closed: () => clock.clearTimer(grace) }
  link.send(encodeEnvelope({ k: Kind.Bye, err: toWireError(reason) }))
  link.end()
}

export class Connection implements Transport {
  readonly #link: Link
  readonly #options: ConnectionOptions
  readonly #role: Role
  readonly #nonce = newNonce()
  #state: State = 'hello'
  #transcript: Transcript | undefined
  #sink: FrameSink | undefined
  peerNode = ''
  /**
   * Largest frame the peer said it accepts (clamped, see `announcedFrameLimit`), or undefined
   * for a peer that did not say. Whoever sends must keep under it as well as under its own
   * limit: the peer closes the connection on a larger frame, taking every call on it along.
   */
  peerMaxFrameBytes: number | undefined

  // the handshake's outcome, for whoever waits on it
  readonly #opened: Promise<void>
  #resolveOpened!: () => void
  #rejectOpened!: (err: TroupeError) => void
  #onOpen: (() => FrameSink) | undefined

  readonly #closed: Promise<void>
  #resolveClosed!: () => void
  #closeReason: TroupeError | undefined
  #peerReason: TroupeError | undefined
  #handshakeTimer: Timer | undefined
  #graceTimer: Timer | undefined
  #heartbeatTimer: Timer | undefined
  #heard = false
  // pings sent since we last heard the peer, each given an interval to be answered; only these
  // count as misses, since an idle but live peer is silent too until it is pinged
  #unansweredPings = 0
  #unsentAtLastBeat = 0

  /**
   * Starts the handshake on `link`. `onOpen` runs synchronously the moment the peer has proved
   * its key and returns the sink for every later frame (none is lost in between).
   */
  constructor(link: Link, options: ConnectionOptions, role: Role, onOpen: () => FrameSink) {
    this.#link = link
    this.#options = options
    this.#role = role
    this.#onOpen = onOpen
    this.#opened = new Promise((resolve, reject) => {
      this.#resolveOpened = resolve
      this.#rejectOpened = reject
    })
    this.#opened.catch(() => {}) // a listener-side failure may have nobody awaiting it
    this.#closed = new Promise((resolve) => (this.#resolveClosed = resolve))
    link.maxFrameBytes = HANDSHAKE_MAX_FRAME_BYTES
    link.events = {
      frame: (buf, start, end) => this.#onFrame(buf, start, end),
      drain: () => this.#sink?.drain(),
      closed: (err) => this.#finish(err),
    }
    this.#handshakeTimer = options.clock.setTimer(options.handshakeTimeoutMs, () => {
      void this.close(new TroupeError('EPROTO', `no handshake from ${link.remoteAddress} within ${options.handshakeTimeoutMs} ms`))
    })
    link.send(encodeEnvelope({ k: Kind.Hello, v: PROTOCOL_VERSION, node: options.node, nonce: this.#nonce, maxFrameBytes: options.maxFrameBytes }))
  }

  get remoteAddress(): string {
    return this.#link.remoteAddress
  }

  /** Resolves once both sides have proved the key; rejects with why the handshake failed. */
  get opened(): Promise<void> {
    return this.#opened
  }

  send(buf: Uint8Array, start = 0, end = buf.length): boolean {
    if (this.#state !== 'open') return false
    return this.#link.send(buf, start, end)
  }

  close(reason?: TroupeError): Promise<void> {
    if (this.#state === 'closing' || this.#state === 'closed') return this.#closed
    const wasOpen = this.#state === 'open'
    this.#state = 'closing'
    this.#closeReason = reason ?? new TroupeError('ECLOSED', 'connection closed')
    if (reason !== undefined && reason.code !== 'ECLOSED') {
      this.#link.send(encodeEnvelope({ k: Kind.Bye, err: toWireError(reason) }))
    }
    if (wasOpen || reason !== undefined) this.#link.end()
    else this.#link.destroy()
    this.#graceTimer = this.#options.clock.setTimer(CLOSE_GRACE_MS, () => this.#link.destroy(), true)
    return this.#closed
  }

  #onFrame(buf: Uint8Array, start: number, end: number): void {
    this.#heard = true
    if (this.#state === 'open') {
      const kind = peekKind(buf, start, end)
      if (kind === Kind.Ping) this.#link.send(PONG_FRAME)
      else if (kind === Kind.Pong) return
      else if (kind === Kind.Bye || kind === Kind.Hello || kind === Kind.Auth) this.#onControl(buf, start, end)
      else this.#deliver(buf, start, end)
      return
    }
    if (this.#state === 'hello' || this.#state === 'auth') this.#onHandshake(buf, start, end)
    // closing: frames still in flight are dropped
  }

  #deliver(buf: Uint8Array, start: number, end: number): void {
    try {
      ;(this.#sink as FrameSink).frame(buf, start, end)
    } catch (caught) {
      // a sink must not throw; if one does, this connection ends rather than the process
      debug('frame handler threw: %s', asError(caught).stack)
      void this.close(new TroupeError('EPROTO', `frame handler failed: ${asError(caught).message}`, { cause: caught }))
    }
  }

  #onControl(buf: Uint8Array, start: number, end: number): void {
    if (this.#connectionEnvelope(buf, start, end) !== undefined) void this.close(new TroupeError('EPROTO', 'handshake frame after the handshake'))
  }

  /**
   * Decodes a frame of the connection layer, or handles it and returns undefined: one that does
   * not decode closes the connection, a `Bye` keeps the peer's reason for the close that follows.
   */
  #connectionEnvelope(buf: Uint8Array, start: number, end: number): Envelope | undefined {
    let env: Envelope
    try {
      env = readEnvelope(buf, start, end)
    } catch (caught) {
      void this.close(caught as TroupeError)
      return undefined
    }
    if (env.k !== Kind.Bye) return env
    this.#peerReason = fromWireError(env.err)
    debug('peer %s closes: %s %s', this.peerNode, env.err.code, env.err.message)
    return undefined
  }

  #onHandshake(buf: Uint8Array, start: number, end: number): void {
    const env = this.#connectionEnvelope(buf, start, end)
    if (env === undefined) return
    if (this.#state === 'hello' && env.k === Kind.Hello) {
      if (env.v !== PROTOCOL_VERSION) {
        void this.close(new TroupeError('EPROTO', `peer speaks protocol version ${env.v}, this node speaks ${PROTOCOL_VERSION}`))
        return
      }
      if (env.node.includes('.')) {
        // '.' joins a node id and a pool's slot in the ids of pools sharing a connection
        // (PROTOCOL.md §6): a node id holding one could take another node's pool's id. The id
        // itself is not quoted: it is unauthenticated, and may be kilobytes long
        void this.close(new TroupeError('EPROTO', "peer's node id contains '.'"))
        return
      }
      if (env.nonce.length !== NONCE_BYTES || Buffer.compare(env.nonce, this.#nonce) === 0) {
        void this.close(new TroupeError('EAUTH', 'peer sent an invalid challenge'))
        return
      }
      this.peerNode = env.node
      this.peerMaxFrameBytes = announcedFrameLimit(env.maxFrameBytes)
      const mine = { nonce: this.#nonce, node: this.#options.node }
      const theirs = { nonce: env.nonce.slice(), node: env.node }
      const [dialer, listener] = this.#role === 'dialer' ? [mine, theirs] : [theirs, mine]
      this.#transcript = { dialerNonce: dialer.nonce, listenerNonce: listener.nonce, dialerNode: dialer.node, listenerNode: listener.node }
      this.#state = 'auth'
      this.#link.send(encodeEnvelope({ k: Kind.Auth, proof: proofFor(this.#options.key, this.#role, this.#transcript) }))
      return
    }
    if (this.#state === 'auth' && env.k === Kind.Auth) {
      const peerRole: Role = this.#role === 'dialer' ? 'listener' : 'dialer'
      if (!verifyProof(this.#options.key, peerRole, this.#transcript as Transcript, env.proof)) {
        void this.close(new TroupeError('EAUTH', `peer ${this.remoteAddress} failed authentication: wrong or missing key`))
        return
      }
      this.#open()
      return
    }
    void this.close(new TroupeError('EAUTH', `unexpected frame of kind ${env.k} before authentication`))
  }

  #open(): void {
    this.#options.clock.clearTimer(this.#handshakeTimer)
    this.#state = 'open'
    this.#link.maxFrameBytes = this.#options.maxFrameBytes
    this.#sink = (this.#onOpen as () => FrameSink)()
    this.#onOpen = undefined
    this.#startHeartbeat()
    debug('%s connection open to %s (%s)', this.#role, this.peerNode, this.remoteAddress)
    this.#resolveOpened()
  }

  #startHeartbeat(): void {
    const beat = this.#options.heartbeat
    if (beat === false) return
    const tick = (): void => {
      if (this.#state !== 'open') return
      // a peer still reading what we sent is alive even when we hear nothing: StreamLink stops
      // reading a peer it has too much unsent to, and the peer's pings wait behind that
      const unsent = this.#link.unsentBytes
      const readOurs = unsent < this.#unsentAtLastBeat
      this.#unsentAtLastBeat = unsent
      if (this.#heard || readOurs) {
        this.#heard = false
        this.#unansweredPings = 0
      } else if (this.#unansweredPings >= beat.misses) {
        // a silent peer will not read a goodbye or acknowledge a flush: drop the link now
        this.#state = 'closing'
        this.#closeReason = new TroupeError('ECLOSED', `peer ${this.peerNode} answered none of ${beat.misses} pings, ${beat.intervalMs} ms apart (heartbeat)`)
        this.#link.destroy()
        return
      } else {
        this.#link.send(PING_FRAME)
        this.#unansweredPings++
      }
      this.#heartbeatTimer = this.#options.clock.setTimer(beat.intervalMs, tick, true)
    }
    this.#heartbeatTimer = this.#options.clock.setTimer(beat.intervalMs, tick, true)
  }

  #finish(linkError: TroupeError | undefined): void {
    if (this.#state === 'closed') return
    const wasOpen = this.#state === 'open' || this.#sink !== undefined
    this.#state = 'closed'
    const { clock } = this.#options
    clock.clearTimer(this.#handshakeTimer)
    clock.clearTimer(this.#graceTimer)
    clock.clearTimer(this.#heartbeatTimer)
    const why =
      this.#closeReason ??
      linkError ??
      this.#peerReason ??
      new TroupeError('ECLOSED', `connection to ${this.peerNode || this.remoteAddress} closed by the peer`)
    debug('connection to %s closed: %s %s', this.peerNode || this.remoteAddress, why.code, why.message)
    if (wasOpen) {
      try {
        this.#sink?.closed(why)
      } catch (caught) {
        debug('close handler threw: %s', asError(caught).stack)
      }
    } else {
      this.#rejectOpened(why)
    }
    this.#resolveClosed()
  }
}
