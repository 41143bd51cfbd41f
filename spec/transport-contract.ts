/**
 * The transport contract: what every transport must do, run unchanged against each scheme
 * (spec/transports/{memory,tcp,unix}.spec.ts). Each scheme supplies a `Driver` that listens and
 * dials; the tests below use only that and the public transport interfaces, plus raw links to
 * play a misbehaving peer.
 */
import * as assert from 'uvu/assert'
import { ManualClock, systemClock, type Clock } from '../lib/clock.js'
import { Kind, PROTOCOL_VERSION, encodeEnvelope, readEnvelope, type Envelope } from '../lib/envelope.js'
import { TroupeError } from '../lib/errors.js'
import { newNonce, proofFor, type Transcript } from '../transports/handshake.js'
import type { Link } from '../transports/link.js'
import type { Accept, DialOptions, FrameSink, ListenOptions, Transport } from '../transports/transport.js'
import { deferred, rejectsWith, suite, withDeadline } from './harness.js'

/** A listening endpoint under test. */
export interface Endpoint {
  dial(options: DialOptions, sink: FrameSink): Promise<Transport>
  /** A link to the listener with no handshake done: the test plays the peer by hand. */
  raw(): Promise<Link>
  close(): Promise<void>
}

export interface Driver {
  listen(options: ListenOptions, accept: Accept): Promise<Endpoint>
}

export function options(over: Partial<ListenOptions> = {}, clock: Clock = systemClock): ListenOptions & DialOptions {
  return {
    node: over.node ?? `node-${Math.random().toString(36).slice(2, 8)}`,
    key: new TextEncoder().encode('contract key'),
    maxFrameBytes: 1 << 22,
    heartbeat: false,
    handshakeTimeoutMs: 5000,
    clock,
    insecure: false,
    ...over,
  }
}

/** A sink that records what it is told and lets tests wait for it. */
export class RecordingSink implements FrameSink {
  frames: Uint8Array[] = []
  closes: TroupeError[] = []
  drains = 0
  readonly #drained = deferred()
  #waiters: { n: number; resolve: () => void }[] = []
  readonly #closed = deferred<TroupeError>()

  frame(buf: Uint8Array, start: number, end: number): void {
    this.frames.push(buf.slice(start, end))
    this.#waiters = this.#waiters.filter((w) => (this.frames.length >= w.n ? (w.resolve(), false) : true))
  }
  drain(): void {
    this.drains++
    this.#drained.resolve()
  }
  whenDrained(ms = 10_000): Promise<void> {
    return withDeadline(this.#drained.promise, ms, 'drain')
  }
  closed(why: TroupeError): void {
    this.closes.push(why)
    this.#closed.resolve(why)
  }
  /** Resolves once `n` frames have arrived. */
  frameCount(n: number, ms = 10_000): Promise<void> {
    if (this.frames.length >= n) return Promise.resolve()
    const d = deferred()
    this.#waiters.push({ n, resolve: d.resolve })
    return withDeadline(d.promise, ms, `${n} frames (have ${this.frames.length})`)
  }
  whenClosed(ms = 10_000): Promise<TroupeError> {
    return withDeadline(this.#closed.promise, ms, 'sink closed')
  }
}

/** Plays a peer by hand on a raw link: the test decides what it sends and when. */
export class RawPeer {
  readonly received: Envelope[] = []
  readonly closed = deferred<TroupeError | undefined>()
  readonly #link: Link
  #next = deferred<Envelope>()

  constructor(link: Link) {
    this.#link = link
    link.maxFrameBytes = 1 << 20
    link.events = {
      frame: (buf, start, end) => {
        const env = readEnvelope(buf.slice(start, end))
        this.received.push(env)
        this.#next.resolve(env)
      },
      drain: () => {},
      closed: (err) => this.closed.resolve(err),
    }
  }
  send(env: Envelope): void {
    this.#link.send(encodeEnvelope(env))
  }
  async expect(kind: number): Promise<Envelope> {
    const got = this.received.find((e) => e.k === kind)
    if (got !== undefined) return got
    this.#next = deferred<Envelope>()
    await withDeadline(this.#next.promise, 5000, `envelope kind ${kind}`)
    return this.expect(kind)
  }
  /** Completes the handshake as a dialer holding `key`. */
  async handshake(key: Uint8Array, node = 'raw-peer'): Promise<void> {
    const nonce = newNonce()
    this.send({ k: Kind.Hello, v: PROTOCOL_VERSION, node, nonce })
    const hello = (await this.expect(Kind.Hello)) as Extract<Envelope, { k: 0 }>
    const t: Transcript = { dialerNonce: nonce, listenerNonce: hello.nonce, dialerNode: node, listenerNode: hello.node }
    this.send({ k: Kind.Auth, proof: proofFor(key, 'dialer', t) })
    await this.expect(Kind.Auth)
  }
  destroy(): void {
    this.#link.destroy()
  }
}

const frame = (text: string): Uint8Array => new TextEncoder().encode(text)
const text = (f: Uint8Array | undefined): string => new TextDecoder().decode(f)

/** Registers the contract tests for one transport. */
export function transportContract(name: string, driver: Driver): void {
  const t = suite(`transport contract: ${name}`)

  async function pair(over: Partial<ListenOptions> = {}, dialOver: Partial<DialOptions> = {}) {
    const serverSink = new RecordingSink()
    const accepted = deferred<Transport>()
    const endpoint = await driver.listen(options(over), (transport) => {
      accepted.resolve(transport)
      return serverSink
    })
    t.cleanup(() => endpoint.close())
    const clientSink = new RecordingSink()
    const client = await endpoint.dial(options({ ...over, ...dialOver }), clientSink)
    t.cleanup(() => client.close())
    const server = await withDeadline(accepted.promise, 5000, 'accept')
    t.cleanup(() => server.close())
    return { endpoint, client, server, clientSink, serverSink }
  }

  /** A listener that counts the connections it accepts, closed after the test. */
  async function countingListener() {
    const counted = { accepted: 0 }
    const endpoint = await driver.listen(options(), () => {
      counted.accepted++
      return new RecordingSink()
    })
    t.cleanup(() => endpoint.close())
    return { endpoint, counted }
  }

  /** A raw peer on `endpoint`, destroyed after the test. */
  async function rawTo(endpoint: { raw(): Promise<Link> }): Promise<RawPeer> {
    const raw = new RawPeer(await endpoint.raw())
    t.cleanup(() => raw.destroy())
    return raw
  }

  t.test('both sides learn the node id the other proved', async () => {
    const { client, server } = await pair({ node: 'same-node-name' })
    assert.is(client.peerNode, 'same-node-name')
    assert.is(server.peerNode, 'same-node-name')
    assert.type(client.remoteAddress, 'string')
  })

  t.test('10 000 frames arrive in order, both ways', async () => {
    const { client, server, clientSink, serverSink } = await pair()
    for (let i = 0; i < 10_000; i++) client.send(frame(`c${i}`))
    for (let i = 0; i < 10_000; i++) server.send(frame(`s${i}`))
    await serverSink.frameCount(10_000)
    await clientSink.frameCount(10_000)
    serverSink.frames.forEach((f, i) => assert.is(text(f), `c${i}`))
    clientSink.frames.forEach((f, i) => assert.is(text(f), `s${i}`))
  })

  t.test('a 3 MiB frame arrives intact', async () => {
    const { client, serverSink } = await pair()
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251)
    client.send(big)
    client.send(frame('after'))
    await serverSink.frameCount(2)
    assert.is(serverSink.frames[0]!.length, big.length)
    assert.ok(Buffer.compare(serverSink.frames[0]!, big) === 0)
    assert.is(text(serverSink.frames[1]), 'after')
  })

  t.test('an incoming frame over maxFrame closes that connection with EFRAME; the listener serves others', async () => {
    const { endpoint, client, clientSink, serverSink } = await pair({ maxFrameBytes: 2048 }, { maxFrameBytes: 1 << 20 })
    client.send(frame('fits'))
    client.send(new Uint8Array(4096))
    const why = await serverSink.whenClosed()
    assert.is(why.code, 'EFRAME')
    await clientSink.whenClosed()
    assert.is(text(serverSink.frames[0]), 'fits')
    assert.is(serverSink.frames.length, 1)
    const otherSink = new RecordingSink()
    const other = await endpoint.dial(options({ maxFrameBytes: 2048 }), otherSink)
    t.cleanup(() => other.close())
    assert.is(other.peerNode.length > 0, true)
  })

  t.test('close is idempotent, flushes what was queued, and both sinks hear of it exactly once', async () => {
    const { client, clientSink, serverSink } = await pair()
    client.send(frame('last words'))
    const first = client.close()
    const second = client.close()
    await Promise.all([first, second])
    assert.is(clientSink.closes.length, 1)
    assert.is(clientSink.closes[0]!.code, 'ECLOSED')
    const why = await serverSink.whenClosed()
    assert.is(why.code, 'ECLOSED')
    assert.is(text(serverSink.frames[0]), 'last words')
    assert.is(serverSink.closes.length, 1)
    assert.not.ok(client.send(frame('too late')))
  })

  t.test('close with a reason tells the peer that reason', async () => {
    const { server, clientSink } = await pair()
    await server.close(new TroupeError('EPROTO', 'you spoke nonsense'))
    const why = await clientSink.whenClosed()
    assert.is(why.code, 'EPROTO')
    assert.is(why.message, 'you spoke nonsense')
  })

  t.test('send() reports backpressure past the high-water mark, then drain() follows', async () => {
    const { client, clientSink, serverSink } = await pair()
    const chunk = new Uint8Array(64 * 1024)
    let sent = 0
    while (client.send(chunk)) if (++sent > 1000) break
    assert.ok(sent < 1000, 'send() returned false at some point')
    await serverSink.frameCount(sent + 1, 20_000)
    await clientSink.whenDrained()
  })

  t.test('a wrong key fails with EAUTH on the dialer and nothing reaches the listener', async () => {
    const { endpoint, counted } = await countingListener()
    await rejectsWith(endpoint.dial(options({ key: frame('wrong key') }), new RecordingSink()), 'EAUTH')
    await rejectsWith(endpoint.dial(options({ key: new Uint8Array(0) }), new RecordingSink()), 'EAUTH')
    assert.is(counted.accepted, 0)
  })

  t.test('a peer with another protocol version is refused with EPROTO', async () => {
    const endpoint = await driver.listen(options(), () => new RecordingSink())
    t.cleanup(() => endpoint.close())
    const raw = await rawTo(endpoint)
    raw.send({ k: Kind.Hello, v: PROTOCOL_VERSION + 1, node: 'future', nonce: newNonce() })
    const bye = (await raw.expect(Kind.Bye)) as Extract<Envelope, { k: 4 }>
    assert.is(bye.err.code, 'EPROTO')
    await withDeadline(raw.closed.promise, 5000, 'raw link closed')
  })

  t.test("a peer whose node id contains '.' is refused with EPROTO", async () => {
    // a clock that never moves: the handshake timeout (EPROTO too) cannot be what answers
    const endpoint = await driver.listen(options({}, new ManualClock()), () => new RecordingSink())
    t.cleanup(() => endpoint.close())
    const raw = await rawTo(endpoint)
    raw.send({ k: Kind.Hello, v: PROTOCOL_VERSION, node: 'node.1', nonce: newNonce() })
    const bye = (await raw.expect(Kind.Bye)) as Extract<Envelope, { k: 4 }>
    assert.is(bye.err.code, 'EPROTO')
    await withDeadline(raw.closed.promise, 5000, 'raw link closed')
  })

  t.test('a frame before authentication is refused with EAUTH and never delivered', async () => {
    const { endpoint, counted } = await countingListener()
    const raw = await rawTo(endpoint)
    raw.send({ k: Kind.Hello, v: PROTOCOL_VERSION, node: 'sneaky', nonce: newNonce() })
    raw.send({ k: Kind.Tell, to: 'anyone', body: frame('x') })
    const bye = (await raw.expect(Kind.Bye)) as Extract<Envelope, { k: 4 }>
    assert.is(bye.err.code, 'EAUTH')
    await withDeadline(raw.closed.promise, 5000, 'raw link closed')
    assert.is(counted.accepted, 0)
  })

  t.test('a peer that never says hello is dropped after the handshake timeout', async () => {
    const clock = new ManualClock()
    const endpoint = await driver.listen(options({ handshakeTimeoutMs: 1000 }, clock), () => new RecordingSink())
    t.cleanup(() => endpoint.close())
    const raw = await rawTo(endpoint)
    await raw.expect(Kind.Hello) // the listener spoke first; we stay silent
    clock.advance(1000)
    const bye = (await raw.expect(Kind.Bye)) as Extract<Envelope, { k: 4 }>
    assert.is(bye.err.code, 'EPROTO')
    await withDeadline(raw.closed.promise, 5000, 'raw link closed')
  })

  t.test('closing the listener closes a connection still in its handshake; it is never accepted', async () => {
    const { endpoint, counted } = await countingListener()
    const raw = await rawTo(endpoint)
    const nonce = newNonce()
    raw.send({ k: Kind.Hello, v: PROTOCOL_VERSION, node: 'slow-peer', nonce })
    const hello = (await raw.expect(Kind.Hello)) as Extract<Envelope, { k: 0 }>
    await endpoint.close()
    // the proof arrives after the close: too late
    const transcript: Transcript = { dialerNonce: nonce, listenerNonce: hello.nonce, dialerNode: 'slow-peer', listenerNode: hello.node }
    raw.send({ k: Kind.Auth, proof: proofFor(frame('contract key'), 'dialer', transcript) })
    await withDeadline(raw.closed.promise, 1000, 'the handshaking link closed by the listener')
    assert.is(counted.accepted, 0)
  })

  t.test('heartbeats keep a quiet but live peer, and drop a silent one with ECLOSED', async () => {
    const clock = new ManualClock()
    const key = frame('contract key')
    const serverSink = new RecordingSink()
    const accepted = deferred()
    const endpoint = await driver.listen(options({ heartbeat: { intervalMs: 100, misses: 3 } }, clock), () => (accepted.resolve(), serverSink))
    t.cleanup(() => endpoint.close())
    const raw = await rawTo(endpoint)
    await raw.handshake(key)
    await withDeadline(accepted.promise, 5000, 'the listener opened (its heartbeat starts then)')
    // one silent interval: the listener pings; answering keeps the connection
    clock.advance(100)
    clock.advance(100)
    await raw.expect(Kind.Ping)
    raw.send({ k: Kind.Pong })
    raw.send({ k: Kind.Tell, to: 'a', body: frame('still here') })
    await serverSink.frameCount(1)
    clock.advance(100)
    assert.is(serverSink.closes.length, 0)
    // then silence: one interval before the first ping, then `misses` pings go unanswered: dropped
    clock.advance(300)
    assert.is(serverSink.closes.length, 0)
    clock.advance(100)
    const why = await serverSink.whenClosed()
    assert.is(why.code, 'ECLOSED')
    assert.match(why.message, /heartbeat/)
  })

  t.test('heartbeat misses: 1 keeps an idle peer that answers pings, and drops it at the first unanswered one', async () => {
    const clock = new ManualClock()
    const serverSink = new RecordingSink()
    const accepted = deferred()
    const endpoint = await driver.listen(options({ heartbeat: { intervalMs: 100, misses: 1 } }, clock), () => (accepted.resolve(), serverSink))
    t.cleanup(() => endpoint.close())
    const raw = await rawTo(endpoint)
    await raw.handshake(frame('contract key'))
    await withDeadline(accepted.promise, 5000, 'the listener opened (its heartbeat starts then)')
    clock.advance(100) // the interval of the handshake: heard
    clock.advance(100) // the first quiet interval is no miss: the listener pings
    await raw.expect(Kind.Ping)
    raw.send({ k: Kind.Pong })
    raw.send({ k: Kind.Tell, to: 'a', body: frame('after the pong') })
    await serverSink.frameCount(1)
    clock.advance(100) // answered: kept
    assert.is(serverSink.closes.length, 0)
    clock.advance(100) // quiet again: another ping, which we leave unanswered
    clock.advance(100)
    const why = await serverSink.whenClosed()
    assert.is(why.code, 'ECLOSED')
    assert.match(why.message, /heartbeat/)
  })

  t.test('garbage after the handshake closes only that connection with EPROTO', async () => {
    const serverSink = new RecordingSink()
    const endpoint = await driver.listen(options(), () => serverSink)
    t.cleanup(() => endpoint.close())
    const raw = await rawTo(endpoint)
    await raw.handshake(frame('contract key'))
    raw.send({ k: Kind.Hello, v: 1, node: 'again', nonce: newNonce() })
    const why = await serverSink.whenClosed()
    assert.is(why.code, 'EPROTO')
  })

  t.run()
}
