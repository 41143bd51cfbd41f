/**
 * Closing a system while connections are still in their handshake: they belong to no peer yet,
 * so only the system's close can end them, and nothing may be accepted after it.
 */
import { connect as rawConnect } from 'node:net'
import * as assert from 'uvu/assert'
import { ActorSystem } from '../../index.js'
import { Kind, PROTOCOL_VERSION, encodeEnvelope, readEnvelope, type Envelope } from '../../lib/envelope.js'
import { newNonce } from '../../transports/handshake.js'
import { StreamLink } from '../../transports/stream-link.js'
import { deferred, nextEvent, rejectsWith, suite, withDeadline } from '../harness.js'
import { rawServer } from '../raw-server.js'

const t = suite('close while connections are in their handshake')

t.test('system.close() closes an inbound connection still in its handshake; no peer is accepted', async () => {
  const system = new ActorSystem({ name: 'server', key: 'k' })
  t.cleanup(() => system.close())
  const port = Number((await system.listen('tcp://127.0.0.1:0')).split(':').pop())
  let peersAccepted = 0
  system.on('peer', () => peersAccepted++)
  const socket = rawConnect({ host: '127.0.0.1', port })
  t.cleanup(() => socket.destroy())
  await nextEvent(socket, 'connect', 1000)
  // play a dialer that says Hello, then is slow to prove the key
  const link = new StreamLink(socket, 'raw')
  const hello = deferred<Envelope>()
  const linkClosed = deferred()
  link.maxFrameBytes = 1 << 20
  link.events = {
    frame: (buf, start, end) => {
      const env = readEnvelope(buf.slice(start, end))
      if (env.k === Kind.Hello) hello.resolve(env)
    },
    drain() {},
    closed: () => linkClosed.resolve(),
  }
  link.send(encodeEnvelope({ k: Kind.Hello, v: PROTOCOL_VERSION, node: 'slow-peer', nonce: newNonce() }))
  await withDeadline(hello.promise, 1000, "the listener's Hello")
  await withDeadline(system.close(), 1000, 'system.close()')
  await withDeadline(linkClosed.promise, 1000, 'the handshaking connection closed by system.close()')
  assert.is(peersAccepted, 0)
  assert.is(system.peers.length, 0)
})

t.test('system.close() aborts a connect still in its handshake: it rejects ECLOSED and its socket closes', async () => {
  // a listener that accepts TCP and never answers the handshake
  const silent = await rawServer(t)
  const system = new ActorSystem({ name: 'client', key: 'k' })
  t.cleanup(() => system.close())
  const arrived = silent.nextSocket(1000)
  const connecting = system.connect(silent.url, { connectTimeout: 5000 })
  const socket = await arrived
  const socketClosed = nextEvent(socket, 'close', 1000)
  await withDeadline(system.close(), 1000, 'system.close()')
  await withDeadline(rejectsWith(connecting, 'ECLOSED'), 1000, 'connect() settled by close()')
  await socketClosed
  assert.is(system.peers.length, 0)
})

t.run()
