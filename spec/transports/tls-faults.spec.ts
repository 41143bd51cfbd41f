/**
 * tls:// against peers that misbehave below the Troupe handshake: stalling in TLS, resetting
 * mid-TLS, renegotiating. Raw node:net / node:tls peers play them.
 */
import { createHmac } from 'node:crypto'
import { createConnection, type Socket } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import * as assert from 'uvu/assert'
import { Client, WorkerPool } from '../../index.js'
import { dial, listen, openDialed, type Transport } from '../../transports/index.js'
import { StreamLink } from '../../transports/stream-link.js'
import { deferred, nextEvent, rejectsWith, suite, withDeadline } from '../harness.js'
import { rawServer } from '../raw-server.js'
import { RecordingSink, options } from '../transport-contract.js'
import { FIXTURE_TASKS } from '../grid/grid.js'

const t = suite('tls:// faults')

/** A TLS record header announcing a 300-byte handshake message, then its first bytes only. */
const HALF_CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x01, 0x2c, 0x01, 0x00])

/** A tls:// listener on loopback port 0 that records the peers it accepts. */
async function tlsListener(over: Parameters<typeof options>[0] = {}) {
  const accepted: Transport[] = []
  const sinks: RecordingSink[] = []
  const firstAccepted = deferred()
  const l = await listen('tls://127.0.0.1:0', options(over), (transport) => {
    accepted.push(transport)
    t.cleanup(() => transport.close())
    firstAccepted.resolve()
    const sink = new RecordingSink()
    sinks.push(sink)
    return sink
  })
  t.cleanup(() => l.close())
  return { listener: l, port: Number(new URL(l.address).port), accepted, sinks, firstAccepted: firstAccepted.promise }
}

/** A plain TCP socket to `port`, destroyed after the test; resolves once connected. */
async function rawPeer(port: number): Promise<Socket> {
  const socket = createConnection({ host: '127.0.0.1', port })
  socket.on('error', () => {}) // a reset from the listener is what some tests expect
  t.cleanup(() => socket.destroy())
  await nextEvent(socket, 'connect', 1000)
  return socket
}

/** Milliseconds until `socket` closes, failing past `ms`. */
async function closesWithin(socket: Socket, ms: number, what: string): Promise<number> {
  const start = Date.now()
  if (!socket.destroyed) await withDeadline(nextEvent(socket, 'close', ms), ms, what)
  return Date.now() - start
}

t.test('a peer that stops halfway through its ClientHello is dropped at handshakeTimeoutMs', async () => {
  const { port, accepted } = await tlsListener({ handshakeTimeoutMs: 300 })
  const socket = await rawPeer(port)
  socket.write(HALF_CLIENT_HELLO)
  await closesWithin(socket, 1500, 'the stalled peer dropped')
  assert.is(accepted.length, 0)
}, 2000)

t.test('a plain TCP peer that never speaks is dropped at handshakeTimeoutMs', async () => {
  const { port } = await tlsListener({ handshakeTimeoutMs: 300 })
  const socket = await rawPeer(port)
  await closesWithin(socket, 1500, 'the silent peer dropped')
}, 2000)

t.test('a peer trickling its ClientHello is dropped at handshakeTimeoutMs: a deadline, not an idle timer', async () => {
  const { port } = await tlsListener({ handshakeTimeoutMs: 300 })
  const socket = await rawPeer(port)
  const hello = Buffer.concat([HALF_CLIENT_HELLO, Buffer.alloc(64, 0x01)])
  let sent = 0
  // a byte every 50 ms: well inside any idle timeout of 300 ms
  const trickle = setInterval(() => {
    if (socket.writable && sent < hello.length) socket.write(hello.subarray(sent, ++sent))
  }, 50)
  t.cleanup(() => clearInterval(trickle))
  const ms = await closesWithin(socket, 1500, 'the trickling peer dropped')
  assert.ok(sent < hello.length, `the peer finished trickling (${sent} bytes) before being dropped at ${ms} ms`)
}, 2000)

t.test('closing the listener drops a peer still in TLS, and keeps the peers it accepted', async () => {
  const { listener, port, sinks, firstAccepted } = await tlsListener({ handshakeTimeoutMs: 10_000 })
  const stalled = await rawPeer(port)
  stalled.write(HALF_CLIENT_HELLO)
  // connections are accepted in order, so once a later peer is through, the stalled one is held
  const sink = new RecordingSink()
  const good = await dial(`tls://127.0.0.1:${port}`, options(), sink)
  t.cleanup(() => good.close())
  await withDeadline(firstAccepted, 1000, 'the good peer accepted')
  await withDeadline(listener.close(), 1000, 'listener.close()')
  await closesWithin(stalled, 1000, 'the stalled peer dropped by listener.close()')
  // an accepted peer stays open after its listener closed: a frame still gets through
  good.send(new TextEncoder().encode('still here'))
  await (sinks[0] as RecordingSink).frameCount(1, 1000)
  assert.is(sink.closes.length, 0)
}, 2000)

t.test('a standalone tls:// pool drops a peer stalled in TLS at connectTimeout', async () => {
  const pool = await WorkerPool.start({ listen: 'tls://127.0.0.1:0', key: 'k', connectTimeout: 300, tasks: FIXTURE_TASKS, mode: 'inline' })
  t.cleanup(() => pool.close())
  assert.type(pool.address, 'string')
  const socket = await rawPeer(Number(new URL(pool.address as string).port))
  socket.write(HALF_CLIENT_HELLO)
  await closesWithin(socket, 1500, 'the stalled peer dropped')
}, 2000)

/**
 * A plain TCP listener on loopback port 0 whose first `failures` connections `fail` as soon as
 * their ClientHello arrives; later ones are piped to `forwardTo` (a port) when given.
 */
async function faultyListener(failures: number, fail: (socket: Socket) => void, forwardTo?: number): Promise<number> {
  const upstreams: Socket[] = []
  t.cleanup(() => upstreams.forEach((upstream) => upstream.destroy()))
  let seen = 0
  const server = await rawServer(t, (socket) => {
    if (++seen <= failures || forwardTo === undefined) {
      socket.once('data', () => fail(socket))
      return
    }
    const upstream = createConnection({ host: '127.0.0.1', port: forwardTo })
    upstreams.push(upstream)
    upstream.on('error', () => socket.destroy())
    socket.on('close', () => upstream.destroy())
    upstream.on('close', () => socket.destroy())
    socket.pipe(upstream).pipe(socket)
  })
  return server.port
}

t.test('a TCP reset during TLS fails the dial with ECLOSED, not EAUTH', async () => {
  const port = await faultyListener(1, (socket) => socket.resetAndDestroy())
  const err = await rejectsWith(dial(`tls://127.0.0.1:${port}`, options(), new RecordingSink()), 'ECLOSED')
  assert.is((err.cause as { code?: unknown }).code, 'ECONNRESET')
}, 2000)

t.test('a close during TLS fails the dial with ECLOSED, not EAUTH', async () => {
  const port = await faultyListener(1, (socket) => socket.end())
  await rejectsWith(dial(`tls://127.0.0.1:${port}`, options(), new RecordingSink()), 'ECLOSED')
}, 2000)

t.test('Client.connect retries past a listener that resets during TLS', async () => {
  const pool = await WorkerPool.start({ listen: 'tls://127.0.0.1:0', key: 'k', tasks: FIXTURE_TASKS, mode: 'inline' })
  t.cleanup(() => pool.close())
  const port = await faultyListener(2, (socket) => socket.resetAndDestroy(), Number(new URL(pool.address as string).port))
  const client = await Client.connect(`tls://127.0.0.1:${port}`, { key: 'k', connectTimeout: 1500 })
  t.cleanup(() => client.close())
  assert.is(await client.run('add', [4, 7]), 11)
}, 2000)

t.test('a peer past the TLS renegotiation limit is closed with ECLOSED on both sides, not left half dead', async () => {
  const { port, sinks, firstAccepted } = await tlsListener()
  // TLS 1.2 with the documented PSK: TLS 1.3 has no renegotiation
  const psk = createHmac('sha256', new TextEncoder().encode('contract key')).update('troupe-tls-psk-v1').digest()
  const socket: TLSSocket = tlsConnect({
    host: '127.0.0.1', port, ciphers: 'ECDHE-PSK-CHACHA20-POLY1305', maxVersion: 'TLSv1.2',
    pskCallback: () => ({ identity: 'troupe', psk }), checkServerIdentity: () => undefined,
  })
  t.cleanup(() => socket.destroy())
  await withDeadline(new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject)), 1000, 'TLS 1.2')
  socket.on('error', () => {}) // the listener's close may reach us as a reset
  const clientSink = new RecordingSink()
  const transport = await openDialed(new StreamLink(socket, `tls://127.0.0.1:${port}`), options(), clientSink)
  t.cleanup(() => transport.close())
  await withDeadline(firstAccepted, 1000, 'accepted')
  // Node allows 3 client renegotiations in 10 minutes (tls.CLIENT_RENEG_LIMIT); the 4th is an attack
  for (let i = 0; i < 6 && !socket.destroyed; i++) {
    await withDeadline(new Promise<void>((resolve) => {
      if (!socket.renegotiate({}, () => resolve())) resolve()
      socket.once('close', () => resolve())
    }), 1000, `renegotiation ${i}`)
  }
  const why = await (sinks[0] as RecordingSink).whenClosed(1000)
  assert.is(why.code, 'ECLOSED')
  assert.is((why.cause as { code?: unknown }).code, 'ERR_TLS_SESSION_ATTACK')
  assert.is((await clientSink.whenClosed(1000)).code, 'ECLOSED')
}, 2000)

t.run()
