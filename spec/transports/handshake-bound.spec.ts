/**
 * A listener holds at most `maxHandshaking` connections in their handshake (and, over tls://,
 * as many in TLS): one more is turned away with ECLOSED, which dialers retry, and a slot frees
 * once a held connection authenticates.
 */
import { createConnection, type Socket } from 'node:net'
import * as assert from 'uvu/assert'
import { Kind, type Envelope } from '../../lib/envelope.js'
import { dial, listen, type ListenOptions, type Transport } from '../../transports/index.js'
import { deferred, rejectsWith, suite, withDeadline } from '../harness.js'
import { RawPeer, RecordingSink, options } from '../transport-contract.js'
import { memoryUrl, tcpUrl, tlsUrl, unixUrl, urlDriver } from './drivers.js'

const t = suite('transports: bound on connections in their handshake')
const KEY = new TextEncoder().encode('contract key')

for (const [scheme, url] of [['mem', memoryUrl], ['tcp', tcpUrl], ['unix', unixUrl], ['tls', tlsUrl]] as const) {
  t.test(`${scheme}: past maxHandshaking a connection is turned away with ECLOSED until a held one authenticates`, async () => {
    const accepted: Transport[] = []
    const [first, second] = [deferred(), deferred()] // resolved as the first and second are accepted
    const endpoint = await urlDriver(url).listen(options({ maxHandshaking: 2 }), (transport) => {
      ;(accepted.push(transport) === 1 ? first : second).resolve()
      t.cleanup(() => transport.close())
      return new RecordingSink()
    })
    t.cleanup(() => endpoint.close())
    const raw = async (): Promise<RawPeer> => {
      const peer = new RawPeer(await endpoint.raw())
      t.cleanup(() => peer.destroy())
      return peer
    }
    const holders = [await raw(), await raw()]
    for (const holder of holders) await holder.expect(Kind.Hello) // each holds a slot

    const turnedAway = await raw()
    const bye = (await turnedAway.expect(Kind.Bye)) as Extract<Envelope, { k: 4 }>
    assert.is(bye.err.code, 'ECLOSED')
    assert.not.ok(turnedAway.received.some((e) => e.k === Kind.Hello), 'no handshake was started for it')
    await withDeadline(turnedAway.closed.promise, 5000, 'the turned-away link closed')
    // a real dialer hears ECLOSED, the code it retries; over tls:// not EAUTH, though TLS went through
    await rejectsWith(endpoint.dial(options(), new RecordingSink()), 'ECLOSED')

    await (holders[0] as RawPeer).handshake(KEY)
    await withDeadline(first.promise, 5000, 'the held connection accepted')
    const client = await endpoint.dial(options(), new RecordingSink())
    t.cleanup(() => client.close())
    await withDeadline(second.promise, 5000, 'the new dialer accepted')
  })
}

t.test('tls: past maxHandshaking a connection still in TLS is dropped; the dialer sees ECLOSED and a slot frees when one closes', async () => {
  const listenOptions: ListenOptions = options({ maxHandshaking: 1 })
  const listener = await listen(tlsUrl(), listenOptions, () => new RecordingSink())
  t.cleanup(() => listener.close())
  const port = Number(listener.address.split(':').pop())
  const plain = async (): Promise<Socket> => {
    const socket = createConnection({ host: '127.0.0.1', port })
    t.cleanup(() => socket.destroy())
    await withDeadline(new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject)), 5000, 'plain connect')
    return socket
  }
  const holder = await plain() // accepted first, it never starts TLS and holds the only slot
  const dropped = await plain()
  dropped.on('error', () => {}) // a reset, depending on timing
  await withDeadline(new Promise((resolve) => dropped.once('close', resolve)), 5000, 'the second plain socket dropped')
  assert.not.ok(holder.destroyed, 'the first keeps its slot')
  await rejectsWith(dial(listener.address, options(), new RecordingSink()), 'ECLOSED')

  holder.destroy()
  // the listener frees the slot when it sees the close; until then a dial is turned away as above
  const deadline = Date.now() + 5000
  for (;;) {
    const done = deferred<Transport | undefined>()
    dial(listener.address, options(), new RecordingSink()).then(done.resolve, (err: { code?: string }) => {
      assert.is(err.code, 'ECLOSED')
      done.resolve(undefined)
    })
    const client = await done.promise
    if (client !== undefined) {
      await client.close()
      break
    }
    assert.ok(Date.now() < deadline, 'a dial got through within 5 s of the holder closing')
  }
})

t.run()
