import { getEventListeners } from 'node:events'
import * as assert from 'uvu/assert'
import { AbortWatch } from '../../lib/abort-watch.js'
import { suite } from '../harness.js'

const t = suite('AbortWatch')

const listeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length

t.test('many items on one signal share one listener, and each is told once on abort', () => {
  const told: [number, unknown][] = []
  const watch = new AbortWatch<number>((item, signal) => told.push([item, signal.reason]))
  const controller = new AbortController()
  for (let i = 0; i < 100; i++) watch.add(controller.signal, i)
  assert.is(listeners(controller.signal), 1)
  watch.delete(controller.signal, 7)
  controller.abort('stop')
  assert.is(told.length, 99)
  assert.ok(told.every(([item, reason]) => item !== 7 && reason === 'stop'))
  assert.is(listeners(controller.signal), 0)
})

t.test('the listener goes with the last item, and a later add watches again', () => {
  const told: string[] = []
  const watch = new AbortWatch<string>((item) => told.push(item))
  const controller = new AbortController()
  watch.add(controller.signal, 'a')
  watch.add(controller.signal, 'b')
  watch.delete(controller.signal, 'a')
  assert.is(listeners(controller.signal), 1)
  watch.delete(controller.signal, 'b')
  watch.delete(controller.signal, 'b') // twice, and for an unknown signal: no effect
  watch.delete(new AbortController().signal, 'x')
  assert.is(listeners(controller.signal), 0)
  watch.add(controller.signal, 'c')
  controller.abort()
  assert.equal(told, ['c'])
})

t.test('an item that ends while the others are told is still told once', () => {
  const told: number[] = []
  const controller = new AbortController()
  const watch: AbortWatch<number> = new AbortWatch<number>((item, signal) => {
    told.push(item)
    watch.delete(signal, item) // what a settle does
    watch.delete(signal, item + 1) // a neighbour that settled by itself meanwhile
  })
  for (let i = 0; i < 4; i++) watch.add(controller.signal, i)
  controller.abort()
  assert.equal(told, [0, 1, 2, 3])
})

t.run()
