/**
 * tls:// beyond the transport contract: the documented PSK derivation, which TLS versions and
 * suites are accepted, certificates (server-only and mutual), and the refusals (EAUTH/ECONFIG).
 */
import { execFile } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls'
import { promisify } from 'node:util'
import * as assert from 'uvu/assert'
import { ActorSystem, Client, Manager, WorkerPool } from '../../index.js'
import { dial, listen, openDialed, type Transport } from '../../transports/index.js'
import { StreamLink } from '../../transports/stream-link.js'
import type { TlsCredentials } from '../../transports/transport.js'
import { deferred, rejectsWith, suite, withDeadline } from '../harness.js'
import { RecordingSink, options } from '../transport-contract.js'
import { FIXTURE_TASKS, poolsJoined } from '../grid/grid.js'

const t = suite('tls:// keys and certificates')
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const KEY = bytes('contract key') // what options() uses

interface Pem {
  cert: string
  key: string
}

/**
 * A fresh self-signed certificate for 127.0.0.1, made with the openssl CLI. It is its own CA,
 * so `ca: cert` trusts exactly it.
 */
async function selfSigned(name: string): Promise<Pem> {
  const dir = await mkdtemp(join(tmpdir(), 'troupe-tls-'))
  try {
    const [keyFile, certFile] = [join(dir, 'key.pem'), join(dir, 'cert.pem')]
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`,
      '-addext', 'subjectAltName=IP:127.0.0.1',
    ])
    return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const certs = Promise.all([selfSigned('troupe-test-a'), selfSigned('troupe-test-b')])

/**
 * A tls:// listener on loopback port 0 that counts the peers it accepts. It accepts a peer once
 * that peer's proof arrives, which may be just after the dialer's own dial() resolved: wait on
 * `whenAccepted(n)`.
 */
async function listener(over: Parameters<typeof options>[0] = {}) {
  const accepted: Transport[] = []
  let waiter: { n: number; resolve: () => void } | undefined
  const l = await listen('tls://127.0.0.1:0', options(over), (transport) => {
    accepted.push(transport)
    t.cleanup(() => transport.close())
    if (waiter !== undefined && accepted.length >= waiter.n) waiter.resolve()
    return new RecordingSink()
  })
  t.cleanup(() => l.close())
  const whenAccepted = (n: number): Promise<void> => {
    if (accepted.length >= n) return Promise.resolve()
    const d = deferred()
    waiter = { n, resolve: d.resolve }
    return withDeadline(d.promise, 5000, `${n} accepted (have ${accepted.length})`)
  }
  return { address: l.address, accepted, whenAccepted }
}

async function dialed(address: string, over: Parameters<typeof options>[0] = {}): Promise<Transport> {
  const transport = await dial(address, options(over), new RecordingSink())
  t.cleanup(() => transport.close())
  return transport
}

/** Opens TLS by hand with node:tls, as a peer written against docs/PROTOCOL.md would. */
function handTls(address: string, extra: ConnectionOptions): Promise<TLSSocket> {
  const { hostname, port } = new URL(address)
  const socket = connect({ host: hostname, port: Number(port), ...extra })
  t.cleanup(() => socket.destroy())
  const ready = new Promise<TLSSocket>((resolve, reject) => socket.once('secureConnect', () => resolve(socket)).once('error', reject))
  return withDeadline(ready, 5000, 'TLS by hand')
}

const documentedPsk = {
  pskCallback: () => ({ identity: 'troupe', psk: createHmac('sha256', KEY).update('troupe-tls-psk-v1').digest() }),
  checkServerIdentity: () => undefined,
}

t.test('the listener address carries the real port', async () => {
  const { address } = await listener()
  assert.match(address, /^tls:\/\/127\.0\.0\.1:\d+$/)
  assert.is.not(address, 'tls://127.0.0.1:0')
})

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`the documented PSK (HMAC-SHA256 of the key, identity "troupe") opens ${version}, then the usual handshake`, async () => {
    const { address, whenAccepted } = await listener()
    const ciphers = version === 'TLSv1.3' ? 'TLS_AES_128_GCM_SHA256' : 'ECDHE-PSK-CHACHA20-POLY1305'
    const socket = await handTls(address, { ...documentedPsk, ciphers, minVersion: version, maxVersion: version })
    assert.is(socket.getProtocol(), version)
    const transport = await openDialed(new StreamLink(socket, address), options(), new RecordingSink())
    t.cleanup(() => transport.close())
    assert.is(transport.peerNode.length > 0, true)
    await whenAccepted(1)
  })
}

t.test('TLS 1.2 plain-PSK suites (no forward secrecy) are refused', async () => {
  const { address, accepted } = await listener()
  await handTls(address, { ...documentedPsk, ciphers: 'PSK-AES256-GCM-SHA384', maxVersion: 'TLSv1.2' }).then(
    () => assert.unreachable('a plain-PSK suite was accepted'),
    (err: Error) => assert.ok(!/deadline/.test(err.message), err.message),
  )
  assert.is(accepted.length, 0)
})

t.test('a wrong key fails the dial with EAUTH in TLS, and the listener handles nothing', async () => {
  const { address, accepted, whenAccepted } = await listener()
  const err = await rejectsWith(dialed(address, { key: bytes('wrong key') }), 'EAUTH')
  assert.match(err.message, /TLS/)
  assert.is(accepted.length, 0)
  await dialed(address)
  await whenAccepted(1) // the listener still serves the right key
})

t.test('without a key or certificates tls:// refuses to listen and to dial with EAUTH', async () => {
  const { address } = await listener()
  await rejectsWith(listen('tls://127.0.0.1:0', options({ key: new Uint8Array(0) }), () => new RecordingSink()), 'EAUTH')
  await rejectsWith(dialed(address, { key: new Uint8Array(0) }), 'EAUTH')
  await rejectsWith(dialed(address, { key: new Uint8Array(0), tls: {} }), 'EAUTH')
})

t.test('off loopback, certificates without a key are refused unless insecure', async () => {
  const [a] = await certs
  // refused before binding; a TEST-NET address, so a regression could not listen off loopback either
  await rejectsWith(listen('tls://192.0.2.1:0', options({ key: new Uint8Array(0), tls: a }), () => new RecordingSink()), 'EAUTH')
})

t.test('an unreachable tls:// address is ECLOSED, not EAUTH', async () => {
  await rejectsWith(dial('tls://127.0.0.1:1', options(), new RecordingSink()), 'ECLOSED')
})

t.test('certificates: the dialer trusts the listener through ca, and the shared key is still checked inside', async () => {
  const [a, b] = await certs
  const { address, accepted, whenAccepted } = await listener({ tls: a })
  const transport = await dialed(address, { tls: { ca: a.cert } })
  assert.is(transport.peerNode.length > 0, true)
  await whenAccepted(1)
  await rejectsWith(dialed(address, { tls: { ca: a.cert }, key: bytes('wrong key') }), 'EAUTH')
  await rejectsWith(dialed(address, { tls: { ca: b.cert } }), 'EAUTH') // untrusted certificate
  await rejectsWith(dialed(address), 'EAUTH') // a PSK dialer meets a certificate listener
  assert.is(accepted.length, 1)
})

t.test('certificates without a shared key: TLS alone authenticates, the inner handshake uses the empty key', async () => {
  const [a] = await certs
  const none = new Uint8Array(0)
  const { address, whenAccepted } = await listener({ tls: a, key: none })
  await dialed(address, { tls: { ca: a.cert }, key: none })
  await whenAccepted(1)
})

t.test('mutual TLS: a listener with ca requires a client certificate it trusts', async () => {
  const [a, b] = await certs
  const { address, accepted, whenAccepted } = await listener({ tls: { ...a, ca: a.cert } })
  await dialed(address, { tls: { ...a, ca: a.cert } })
  await whenAccepted(1)
  await rejectsWith(dialed(address, { tls: { ca: a.cert } }), 'EAUTH') // no client certificate
  await rejectsWith(dialed(address, { tls: { ...b, ca: a.cert } }), 'EAUTH') // one it does not trust
  assert.is(accepted.length, 1)
})

t.test('incomplete certificate options fail with ECONFIG', async () => {
  const [a] = await certs
  const { address } = await listener()
  const cases: TlsCredentials[] = [{ ca: a.cert }, { cert: a.cert }, { key: a.key }]
  for (const tls of cases) {
    await rejectsWith(listen('tls://127.0.0.1:0', options({ tls }), () => new RecordingSink()), 'ECONFIG')
  }
  await rejectsWith(dialed(address, { tls: { cert: a.cert, ca: a.cert } }), 'ECONFIG')
})

t.test('the network option "tls" is checked and passed through by ActorSystem', async () => {
  const [a] = await certs
  const server = new ActorSystem({ key: 'secret', tls: a })
  const client = new ActorSystem({ key: 'secret' })
  t.cleanup(() => Promise.all([client.close(), server.close()]))
  server.spawn('echo', (m: unknown) => m)
  const address = await server.listen('tls://127.0.0.1:0')
  const peer = await client.connect(address, { tls: { ca: Buffer.from(a.cert) } })
  assert.is(await peer.ref('echo').ask('over tls'), 'over tls')
  await rejectsWith(client.connect(address, { tls: 5 as never }), 'ECONFIG')
  await rejectsWith(client.connect(address, { tls: { ca: 5 } as never }), 'ECONFIG')
})

t.test('a grid runs over tls:// keyed from its shared key: Manager, WorkerPool and Client', async () => {
  const key = 'grid secret'
  const manager = await Manager.start({ listen: 'tls://127.0.0.1:0', key })
  t.cleanup(() => manager.close())
  assert.match(manager.address, /^tls:\/\/127\.0\.0\.1:\d+$/)
  const pool = await WorkerPool.start({ manager: manager.address, key, tasks: FIXTURE_TASKS, mode: 'inline' })
  t.cleanup(() => pool.close())
  await withDeadline(poolsJoined(manager, 1), 5000, 'the pool joined')
  const client = await Client.connect(manager.address, { key })
  t.cleanup(() => client.close())
  assert.is(await client.run('add', [4, 7]), 11)
})

t.run()
