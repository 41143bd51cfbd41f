/** docs/PROTOCOL.md must describe what the code does: its example frame and its kind tables. */
import { readFileSync } from 'node:fs'
import * as assert from 'uvu/assert'
import { encodeValue } from '../lib/codec.js'
import { Kind, PROTOCOL_VERSION, encodeEnvelope } from '../lib/envelope.js'
import { frameBytes } from '../transports/framing.js'
import { suite } from './harness.js'

const t = suite('docs/PROTOCOL.md')
const doc = readFileSync(new URL('../docs/PROTOCOL.md', import.meta.url), 'utf8')

t.test('the example frame is byte for byte what the encoder writes', () => {
  const block = /```\n(00 00 00 0d[\s\S]*?)```/.exec(doc)?.[1] ?? ''
  const hex = block
    .split('\n')
    .map((line) => line.trim().split(/\s{2,}/)[0] ?? '')
    .join('')
    .replace(/\s/g, '')
  const frame = frameBytes(encodeEnvelope({ k: Kind.Ask, id: 300, to: 'add', body: encodeValue([4, 7]) }))
  assert.is(hex, Buffer.from(frame).toString('hex'))
})

t.test('every kind is in a table with its number and name', () => {
  for (const [name, kind] of Object.entries(Kind)) {
    assert.match(doc, new RegExp(`\\| ${kind} \\| ${name} \\|`), `${name} (${kind})`)
  }
  assert.match(doc, new RegExp(`version ${PROTOCOL_VERSION}`))
})

t.run()
