import * as assert from 'uvu/assert'
import { newNodeId } from '../../lib/ids.js'
import { suite } from '../harness.js'

const t = suite('ids')

t.test('node ids are distinct letters and digits, never read as a command-line option', () => {
  const ids = Array.from({ length: 10_000 }, newNodeId)
  for (const id of ids) assert.match(id, /^[A-Za-z0-9]{22}$/)
  assert.is(new Set(ids).size, ids.length)
})

t.run()
