/** docs/PROTOCOL.md must describe what the code does: its example frame and its kind tables. */
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import * as assert from 'uvu/assert'
import { encodeValue } from '../lib/codec.js'
import { Kind, PROTOCOL_VERSION, encodeEnvelope } from '../lib/envelope.js'
import { frameBytes } from '../transports/framing.js'
import { PSK_IDENTITY, tlsPsk } from '../transports/tls.js'
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

t.test('the tls:// PSK derivation and identity are the ones the code uses', () => {
  const label = /`psk = HMAC-SHA256\(key, "([^"]+)"\)`/.exec(doc)?.[1]
  assert.type(label, 'string')
  const key = Buffer.from('any grid key')
  assert.equal(createHmac('sha256', key).update(label as string).digest(), tlsPsk(key))
  assert.match(doc, new RegExp(`PSK identity: the ASCII text \`${PSK_IDENTITY}\``))
})

t.run()
