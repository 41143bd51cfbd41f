import { randomBytes } from 'node:crypto'
import { decode as cborxDecode, encode as cborxEncode } from 'cbor-x'
import * as assert from 'uvu/assert'
import { decodeValue, encodeTransient, encodeValue } from '../../lib/codec.js'
import { EnvelopeError, Kind, encodeAsk, encodeEnvelope, encodeEnvelopeRange, encodeReply, encodeTell, peekKind, readEnvelope, type Envelope } from '../../lib/envelope.js'
import { TroupeError } from '../../lib/errors.js'
import { suite } from '../harness.js'

const t = suite('envelope')

const body = encodeValue({ hello: ['world', 1] })
/** One example of every kind, with optional fields both present and absent. */
export const EXAMPLES: Envelope[] = [
  { k: Kind.Hello, v: 1, node: 'node-ü', nonce: new Uint8Array(16).fill(7) },
  { k: Kind.Auth, proof: new Uint8Array(32).fill(1) },
  { k: Kind.Ping },
  { k: Kind.Pong },
  { k: Kind.Bye, err: { code: 'EFRAME', message: 'too big' } },
  { k: Kind.Ask, id: 2 ** 40, to: 'counter', body },
  { k: Kind.Tell, to: 'x'.repeat(300), body: new Uint8Array(70_000).fill(3) },
  { k: Kind.Reply, id: 65_536, body },
  { k: Kind.Fail, id: 0, err: { code: 'ETASK', message: 'boom', name: 'TypeError', stack: 'at x', remoteCode: 'E1', data: body } },
  { k: Kind.Cancel, id: 23 },
  { k: Kind.Submit, id: 1, name: 'add', body, priority: -2.5, runTimeoutMs: 100, assignTimeoutMs: 50, key: 'k' },
  { k: Kind.Submit, id: 2, name: 'add', body, priority: 0 },
  { k: Kind.Withdraw, id: 3 },
  { k: Kind.Assign, id: 4, name: 'resize', body, priority: 7, attempt: 2, runTimeoutMs: 1000 },
  { k: Kind.Revoke, id: 5 },
  { k: Kind.Revoke, id: 5, reason: { code: 'ETO', message: 'ran longer than its runTimeout of 10 ms' } },
  { k: Kind.Done, id: 6, body, ms: 12.75 },
  { k: Kind.Failed, id: 7, err: { code: 'EWORKERLOST', message: 'gone' } },
  { k: Kind.Progress, id: 8, value: 0.5 },
  { k: Kind.PoolState, capacity: 16, draining: true },
  { k: Kind.Cast, id: 4, name: 'Survey.__count', body: encodeValue(['a']), timeoutMs: 30_000 },
  { k: Kind.CastDone, id: 4, body: encodeValue(1), ms: 0.25 },
  { k: Kind.CastFailed, id: 4, err: { code: 'EWORKERLOST', message: 'gone' } },
  { k: Kind.Barrier, id: 4, name: 'mid' },
  { k: Kind.Release, id: 4, name: 'mid' },
  { k: Kind.Broadcast, id: 9, name: '__hello', body: encodeValue('ann'), timeoutMs: 500, min: 1 },
  {
    k: Kind.BroadcastDone, id: 9, outcomes: [
      { worker: 'p1', ok: true, body: encodeValue('hi'), ms: 1.5 },
      { worker: 'p2', ok: false, err: { code: 'ETO', message: 'late' } },
    ],
  },
  { k: Kind.BroadcastDone, id: 10, outcomes: [] },
  { k: Kind.BroadcastFailed, id: 9, err: { code: 'EATO', message: 'no pools' } },
  { k: Kind.BroadcastWithdraw, id: 9 },
  { k: Kind.CastRevoke, id: 4 },
  // the pool field of pools sharing a connection: after absent optional fields, and at its largest
  { k: Kind.Assign, id: 4, name: 'resize', body, priority: 7, attempt: 1, pool: 3 },
  { k: Kind.Revoke, id: 5, pool: 2 },
  { k: Kind.Done, id: 6, body, ms: 1, pool: 1 },
  { k: Kind.Failed, id: 7, err: { code: 'EWORKERLOST', message: 'gone' }, pool: 1 },
  { k: Kind.Progress, id: 8, value: 1, pool: 1 },
  { k: Kind.PoolState, capacity: 0, draining: false, pool: 2 ** 31 },
  { k: Kind.Cast, id: 4, name: '__x', body, timeoutMs: 1, pool: 1 },
  { k: Kind.CastDone, id: 4, body, ms: 0, pool: 1 },
  { k: Kind.CastFailed, id: 4, err: { code: 'ETO', message: 'late' }, pool: 1 },
  { k: Kind.Barrier, id: 4, name: 'mid', pool: 1 },
  { k: Kind.Release, id: 4, name: 'mid', pool: 1 },
  { k: Kind.CastRevoke, id: 4, pool: 1 },
]

/** Byte strings as hex and absent fields dropped, so Buffer and Uint8Array views compare equal. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex')
  if (typeof v !== 'object' || v === null) return v
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, plain(x)]))
}

t.test('every kind round-trips', () => {
  const kinds = new Set(EXAMPLES.map((e) => e.k))
  assert.equal([...kinds].sort((a, b) => a - b), Object.values(Kind).sort((a, b) => a - b), 'an example for every kind')
  for (const env of EXAMPLES) {
    const frame = encodeEnvelope(env).slice()
    assert.equal(plain(readEnvelope(frame)), plain(env), `kind ${env.k}`)
    assert.is(peekKind(frame), env.k, `peekKind of kind ${env.k}`)
  }
})

t.test('pool 0 is left out: a connection with one pool sends the bytes it sent before pools shared one', () => {
  const done = { k: Kind.Done, id: 6, body, ms: 1 } as const
  assert.equal(encodeEnvelope({ ...done, pool: 0 }).slice(), encodeEnvelope(done).slice())
  assert.is(encodeEnvelope({ ...done, pool: 1 }).length, encodeEnvelope(done).length + 1)
})

t.test('envelopes are plain CBOR arrays any decoder reads, and we read what cbor-x writes', () => {
  const frame = encodeEnvelope({ k: Kind.Ask, id: 300, to: 'add', body })
  const decoded = cborxDecode(frame) as unknown[]
  assert.is(decoded[0], Kind.Ask)
  assert.is(decoded[1], 300)
  assert.is(decoded[2], 'add')
  assert.equal(decodeValue(decoded[3] as Uint8Array), { hello: ['world', 1] })
  const foreign = cborxEncode([Kind.Reply, 9, Buffer.from(body)])
  const env = readEnvelope(foreign)
  assert.is(env.k, Kind.Reply)
  assert.is((env as { id: number }).id, 9)
})

t.test('asks, tells and replies encoded from parts are the same bytes, read back from any range', () => {
  const message = { hello: ['world', 1] }
  const big = new Uint8Array(70_000).fill(3)
  const cases: [() => { buf: Uint8Array; start: number; end: number }, Envelope][] = [
    [() => encodeAsk(2 ** 40, 'counter', encodeTransient(message)), { k: Kind.Ask, id: 2 ** 40, to: 'counter', body }],
    [() => encodeTell('x'.repeat(300), encodeTransient(big)), { k: Kind.Tell, to: 'x'.repeat(300), body: encodeValue(big) }],
    [() => encodeReply(65_536, encodeTransient(undefined)), { k: Kind.Reply, id: 65_536, body: encodeValue(undefined) }],
  ]
  for (const [encode, env] of cases) {
    const { buf, start, end } = encode()
    const bytes = buf.slice(start, end)
    assert.equal(bytes, encodeEnvelope(env).slice(), `kind ${env.k}`)
    const padded = new Uint8Array(bytes.length + 10)
    padded.set(bytes, 7)
    assert.is(peekKind(padded, 7, 7 + bytes.length), env.k)
    assert.equal(plain(readEnvelope(padded, 7, 7 + bytes.length)), plain(env), `kind ${env.k} from a range`)
  }
})

t.test('every kind encoded as a range is the same bytes as its view, and stays put after later encodes', () => {
  const ranges = EXAMPLES.map((env) => {
    const { buf, start, end } = encodeEnvelopeRange(env)
    return { buf, start, end } // the writer moves on; the range read now must keep its bytes
  })
  EXAMPLES.forEach((env, i) => {
    const { buf, start, end } = ranges[i]!
    assert.equal(buf.slice(start, end), encodeEnvelope(env).slice(), `kind ${env.k}`)
  })
})

t.test('views handed out are never overwritten by later encodes', () => {
  const first = encodeEnvelope({ k: Kind.Cancel, id: 1 })
  const copy = first.slice()
  for (let i = 0; i < 10_000; i++) encodeEnvelope({ k: Kind.Tell, to: 'a', body: new Uint8Array(100) })
  assert.equal(first, copy)
})

t.test('fields a newer peer appended are skipped; optional fields an older peer left out read as absent', () => {
  const newer = cborxEncode([Kind.Cancel, 5, 'extra', { nested: [1, 2] }, 3.5])
  assert.equal(readEnvelope(newer), { k: Kind.Cancel, id: 5 })
  const olderError = cborxEncode([Kind.Fail, 1, ['ETASK', 'short']])
  assert.equal(readEnvelope(olderError), { k: Kind.Fail, id: 1, err: { code: 'ETASK', message: 'short' } })
})

t.test('an unknown error code from a peer becomes EPROTO', () => {
  const env = readEnvelope(cborxEncode([Kind.Fail, 1, ['EWHAT', 'x']])) as { err: { code: string } }
  assert.is(env.err.code, 'EPROTO')
})

t.test('an unknown kind with an id is reported with that id, so it can be answered', () => {
  try {
    readEnvelope(cborxEncode([99, 77, 'x']))
    assert.unreachable()
  } catch (err) {
    assert.instance(err, EnvelopeError)
    assert.is((err as EnvelopeError).code, 'EPROTO')
    assert.is((err as EnvelopeError).requestId, 77)
  }
})

t.test('wrong types, missing fields and trailing bytes are EPROTO', () => {
  const bad = [
    cborxEncode([Kind.Ask, 'not-an-id', 'to', Buffer.alloc(1)]),
    cborxEncode([Kind.Ask, 1, 'to']),
    cborxEncode([Kind.Cancel, -1]),
    cborxEncode([Kind.Cancel, 1.5]),
    cborxEncode({ k: 1 }),
    cborxEncode([]),
    Buffer.concat([cborxEncode([Kind.Cancel, 1]), Buffer.from([0])]),
    Buffer.from([0x82, 0x09, 0x1f]),
    Buffer.from([0x84, 0x05, 0x01, 0x63, 0xff, 0xfe, 0xfd, 0x40]),
  ]
  for (const frame of bad) {
    try {
      readEnvelope(frame)
      assert.unreachable(Buffer.from(frame).toString('hex'))
    } catch (err) {
      assert.instance(err, EnvelopeError, Buffer.from(frame).toString('hex'))
    }
  }
})

t.test('short names come from a small cache: every distinct name still reads back right', () => {
  const name = (id: number, n: string) => (readEnvelope(encodeEnvelope({ k: Kind.Submit, id, name: n, body, priority: 0 })) as { name: string }).name
  // a thousand names share 256 cache slots: collisions must give the right string, never a neighbour
  const names = Array.from({ length: 1000 }, (_, i) => `task-${i}`)
  for (const n of [...names, ...names]) assert.is(name(1, n), n)
  assert.is(name(1, 'x'.repeat(32)), 'x'.repeat(32))
  assert.is(name(1, 'x'.repeat(33)), 'x'.repeat(33))
  assert.is(name(1, 'größe'), 'größe')
  assert.is(name(1, ''), '')
})

t.test('peekKind reads the kind without decoding, and -1 for what is not an envelope', () => {
  assert.is(peekKind(encodeEnvelope({ k: Kind.Ping })), Kind.Ping)
  assert.is(peekKind(Uint8Array.of(0x01)), -1)
  assert.is(peekKind(new Uint8Array(0)), -1)
  assert.is(peekKind(Uint8Array.of(0x81, 0x02, 0x81, 0x03), 2, 3), -1, 'the range ends after the array head')
})

t.test('10 000 random byte strings: decoding only ever fails with EPROTO', () => {
  let decoded = 0
  for (let i = 0; i < 10_000; i++) {
    const length = i % 64
    const frame = randomBytes(length)
    // bias towards array heads and small kinds so the decoder gets past the first byte
    if (length > 1 && i % 2 === 0) {
      frame[0] = 0x80 | (i % 8)
      frame[1] = i % 12
    }
    try {
      readEnvelope(frame)
      decoded++
    } catch (err) {
      assert.instance(err, EnvelopeError)
    }
    try {
      decodeValue(frame)
    } catch (err) {
      assert.instance(err, TroupeError)
      assert.is((err as TroupeError).code, 'EPROTO')
    }
  }
  assert.ok(decoded < 10_000)
})

t.run()
