import * as assert from 'uvu/assert'
import { RingBuffer } from '../../lib/ring.js'
import { suite } from '../harness.js'

const t = suite('RingBuffer')

t.test('keeps FIFO order across growth, at the capacity edges', () => {
  for (const n of [15, 16, 17, 2047, 2048, 2049]) {
    const ring = new RingBuffer<number>(16)
    for (let i = 0; i < n; i++) ring.push(i)
    assert.is(ring.length, n)
    for (let i = 0; i < n; i++) assert.is(ring.shift(), i)
    assert.is(ring.shift(), undefined)
    assert.is(ring.length, 0)
  }
})

t.test('wraps around when head moves past the end', () => {
  const ring = new RingBuffer<number>(4)
  for (let round = 0; round < 100; round++) {
    ring.push(round * 2)
    ring.push(round * 2 + 1)
    assert.is(ring.shift(), round * 2)
    assert.is(ring.shift(), round * 2 + 1)
  }
  assert.is(ring.length, 0)
})

t.test('unshift puts an item first, also when full and growing', () => {
  const ring = new RingBuffer<string>(2)
  ring.push('b')
  ring.push('c')
  ring.unshift('a')
  assert.is(ring.peek(), 'a')
  assert.equal(ring.drain(), ['a', 'b', 'c'])
  assert.is(ring.peek(), undefined)
})

t.test('retain keeps the accepted items in order, across the wrap, and the ring still works', () => {
  const ring = new RingBuffer<number>(8)
  for (let i = 0; i < 6; i++) ring.push(i)
  ring.shift()
  ring.shift()
  for (let i = 6; i < 10; i++) ring.push(i) // wraps around the end of the array
  ring.retain((n) => n % 3 !== 0)
  assert.is(ring.length, 5)
  ring.push(10)
  ring.unshift(1)
  assert.equal(ring.drain(), [1, 2, 4, 5, 7, 8, 10])
})

t.run()
