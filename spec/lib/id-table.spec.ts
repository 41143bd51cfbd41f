import * as assert from 'uvu/assert'
import { IdTable } from '../../lib/id-table.js'
import { suite } from '../harness.js'

const t = suite('IdTable')

t.test('sequential ids in flight: set, get, take, around growth edges', () => {
  for (const n of [31, 32, 33, 63, 64, 65, 1000]) {
    const table = new IdTable<string>(64)
    for (let id = 1; id <= n; id++) table.set(id, `v${id}`)
    assert.is(table.size, n)
    for (let id = 1; id <= n; id++) assert.is(table.get(id), `v${id}`)
    assert.is(table.get(n + 1), undefined)
    for (let id = 1; id <= n; id++) assert.is(table.take(id), `v${id}`)
    assert.is(table.size, 0)
    assert.is(table.take(1), undefined)
  }
})

t.test('a long-lived id does not block the ids that wrap onto its slot', () => {
  const table = new IdTable<number>(4)
  table.set(1, 1) // stays while many later ids come and go
  for (let id = 2; id < 1000; id++) {
    table.set(id, id)
    assert.is(table.get(id), id)
    assert.ok(table.has(id))
    assert.is(table.take(id), id)
  }
  assert.is(table.size, 1)
  assert.is(table.take(1), 1)
  assert.is(table.size, 0)
})

t.test('colliding ids (any pattern) all stay reachable, also across growth', () => {
  const table = new IdTable<number>(4)
  const ids = Array.from({ length: 50 }, (_, i) => i * 1024 + 7) // same slot in every table size here
  ids.push(0, 2 ** 40 + 3, 2 ** 32 + 7)
  for (const id of ids) table.set(id, id + 1)
  assert.is(table.size, ids.length)
  for (const id of ids) assert.is(table.get(id), id + 1)
  assert.equal(table.ids().sort((a, b) => a - b), [...ids].sort((a, b) => a - b))
  for (const id of ids.slice(0, 25)) assert.is(table.take(id), id + 1)
  for (const id of ids.slice(0, 25)) assert.is(table.get(id), undefined)
  assert.is(table.size, ids.length - 25)
  assert.equal(table.drain().sort((a, b) => a - b), ids.slice(25).map((id) => id + 1).sort((a, b) => a - b))
  assert.is(table.size, 0)
})

t.test('set replaces the value of an id already present, in a slot or in overflow', () => {
  const table = new IdTable<string>(4)
  table.set(1, 'a')
  table.set(1, 'b')
  table.set(5, 'c') // slot of 1 in a 4-slot table
  table.set(5, 'd')
  assert.is(table.size, 2)
  assert.is(table.get(1), 'b')
  assert.is(table.get(5), 'd')
})

t.test('growing moves overflowed ids into their new slots', () => {
  const table = new IdTable<number>(4)
  table.set(1, 1)
  table.set(5, 5) // slot 1 is taken: overflow
  table.set(2, 2)
  table.set(3, 3) // three of four slots: the table doubles, and 5 gets its own slot
  for (const id of [1, 2, 3, 5]) assert.is(table.get(id), id)
  assert.is(table.size, 4)
  for (const id of [5, 3, 2, 1]) assert.is(table.take(id), id)
  assert.is(table.size, 0)
})

t.run()
