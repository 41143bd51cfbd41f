import * as assert from 'uvu/assert'
import { ByteRing } from '../../lib/byte-ring.js'
import { suite } from '../harness.js'

const t = suite('ByteRing')

/** Distinct bytes for entry `i`: its length and contents both depend on i. */
const entry = (i: number): Uint8Array => Uint8Array.from({ length: i % 37 }, (_, j) => (i * 31 + j) & 0xff)

t.test('gives back copies in FIFO order across growth and wrap-around, absent entries in place', () => {
  const ring = new ByteRing()
  let next = 0
  let expected = 0
  // push three, take two: the head keeps moving, so entries wrap past the buffer's end as it grows
  for (let round = 0; round < 2000; round++) {
    for (let k = 0; k < 3; k++, next++) ring.push(next % 5 === 0 ? undefined : entry(next))
    for (let k = 0; k < 2; k++, expected++) {
      const out = ring.shift()
      if (expected % 5 === 0) assert.is(out, undefined)
      else assert.equal(out, entry(expected), `entry ${expected}`)
    }
  }
  assert.is(ring.length, next - expected)
  for (; expected < next; expected++) assert.equal(ring.shift(), expected % 5 === 0 ? undefined : entry(expected))
  assert.is(ring.length, 0)
  assert.is(ring.shift(), undefined)
})

t.test('holds copies: changing the source after push changes nothing', () => {
  const ring = new ByteRing()
  const source = Uint8Array.of(1, 2, 3)
  ring.push(source)
  source.fill(9)
  assert.equal(ring.shift(), Uint8Array.of(1, 2, 3))
})

t.test('unshift puts an entry first, also across the buffer start and when growing', () => {
  const ring = new ByteRing()
  for (let i = 0; i < 100; i++) ring.unshift(entry(i))
  ring.push(Uint8Array.of(7))
  ring.unshift(undefined)
  assert.is(ring.shift(), undefined)
  for (let i = 99; i >= 0; i--) assert.equal(ring.shift(), entry(i))
  assert.equal(ring.shift(), Uint8Array.of(7))
})

t.test('dropHead drops the head entry, absent or not, and is harmless when empty', () => {
  const ring = new ByteRing()
  ring.dropHead()
  ring.push(entry(5))
  ring.push(undefined)
  ring.push(Uint8Array.of(4, 2))
  ring.dropHead()
  ring.dropHead()
  assert.is(ring.length, 1)
  assert.equal(ring.shift(), Uint8Array.of(4, 2))
})

t.test('an empty entry is present, and the largest entry fits while a larger one is refused', () => {
  const ring = new ByteRing()
  ring.push(new Uint8Array(0))
  const largest = new Uint8Array(ByteRing.MAX_ENTRY).fill(0xab)
  ring.push(largest)
  assert.throws(() => ring.push(new Uint8Array(ByteRing.MAX_ENTRY + 1)), RangeError)
  assert.is(ring.length, 2)
  assert.equal(ring.shift(), new Uint8Array(0))
  assert.equal(ring.shift(), largest)
})

t.run()
