import * as assert from 'uvu/assert'
import { MAX_BIGNUM_BYTES, decodeValue, encodeValue } from '../../lib/codec.js'
import { TroupeError } from '../../lib/errors.js'
import { suite } from '../harness.js'

const t = suite('codec')

const roundTrip = (v: unknown): unknown => decodeValue(encodeValue(v).slice())

t.test('Dates, Maps, Sets, typed arrays, bigints and undefined round-trip', () => {
  const value = {
    date: new Date(1_700_000_000_123),
    map: new Map<unknown, unknown>([['a', 1], [2, { b: [3] }]]),
    set: new Set(['x', 'y']),
    bytes: Uint8Array.of(1, 2, 3),
    floats: Float64Array.of(1.5, -2.25),
    ints: Int32Array.of(-1, 7),
    big: 2n ** 70n,
    small: -5n,
    nothing: undefined,
    nested: [null, true, 'ü', 1.25],
  }
  const back = roundTrip(value) as typeof value
  assert.equal(back, value)
  assert.instance(back.date, Date)
  assert.instance(back.map, Map)
  assert.instance(back.set, Set)
  assert.instance(back.floats, Float64Array)
  assert.is(back.big, 2n ** 70n)
  assert.ok('nothing' in back)
  assert.is(roundTrip(undefined), undefined)
})

t.test('__proto__ keys do not pollute prototypes', () => {
  const evil = decodeValue(Uint8Array.from([0xa1, 0x69, ...Buffer.from('__proto__'), 0xa1, 0x61, 0x78, 0x01])) as Record<string, unknown>
  assert.is(({} as Record<string, unknown>).x, undefined)
  assert.is(Object.getPrototypeOf(evil), Object.prototype)
})

t.test('malformed, truncated and trailing bytes fail with EPROTO', () => {
  for (const bad of [Uint8Array.of(0x82, 0x01), Uint8Array.of(0x01, 0x02), Uint8Array.of(0x1c), new Uint8Array(0)]) {
    try {
      decodeValue(bad)
      assert.unreachable(`decoded ${Buffer.from(bad).toString('hex')}`)
    } catch (err) {
      assert.instance(err, TroupeError)
      assert.is((err as TroupeError).code, 'EPROTO')
    }
  }
})

t.test('a value that cannot be encoded fails with EPROTO', () => {
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  try {
    encodeValue(cyclic)
    assert.unreachable('encoded a cycle')
  } catch (err) {
    assert.is((err as TroupeError).code, 'EPROTO')
  }
})

function rejectsAsMalformed(bytes: Uint8Array): void {
  try {
    decodeValue(bytes)
    assert.unreachable(`decoded ${bytes.length} bytes`)
  } catch (err) {
    assert.instance(err, TroupeError)
    assert.is((err as TroupeError).code, 'EPROTO')
  }
}

t.test('bignums round-trip up to MAX_BIGNUM_BYTES of magnitude; a longer one is EPROTO', () => {
  const largest = 2n ** BigInt(8 * MAX_BIGNUM_BYTES) - 1n
  for (const fits of [largest, -largest - 1n, 2n ** 64n, -(2n ** 64n) - 1n]) assert.is(roundTrip(fits), fits)
  assert.is(decodeValue(Uint8Array.of(0xc2, 0x40)), 0n, 'an empty magnitude is zero')
  for (const over of [largest + 1n, -largest - 2n]) rejectsAsMalformed(encodeValue(over).slice())
  rejectsAsMalformed(Uint8Array.of(0xc2, 0x61, 0x31)) // a tag 2 around text
})

t.test('a long bignum from a peer is refused before it is converted (cbor-x takes quadratic time)', () => {
  const n = 64 * 1024 // cbor-x alone: ~0.5 s; 1 MiB: over a minute
  const bytes = new Uint8Array(6 + n).fill(0xff)
  bytes.set([0xc3, 0x5a, 0, 1, 0, 0]) // tag 3, a byte string of 2^16 bytes
  rejectsAsMalformed(bytes)
})

t.run()
