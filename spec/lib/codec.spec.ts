import * as assert from 'uvu/assert'
import { decodeValue, encodeValue } from '../../lib/codec.js'
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

t.run()
