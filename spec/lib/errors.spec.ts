import * as assert from 'uvu/assert'
import { CborWriter } from '../../lib/cbor-lite.js'
import { encodeValue } from '../../lib/codec.js'
import { ErrorCodes, TroupeError, asError, configError, isErrorCode } from '../../lib/errors.js'
import { Kind, encodeEnvelope, fromWireError, readEnvelope, thrownToWire, toWireError } from '../../lib/envelope.js'
import { suite } from '../harness.js'

const t = suite('errors')

t.test('TroupeError carries code, cause and data, and is an Error', () => {
  const cause = new Error('root')
  const err = new TroupeError('ETO', 'too slow', { cause, data: { ms: 5 } })
  assert.instance(err, Error)
  assert.is(err.name, 'TroupeError')
  assert.is(err.code, 'ETO')
  assert.is(err.cause, cause)
  assert.equal(err.data, { ms: 5 })
})

t.test('every API code is known; others are not', () => {
  assert.is(ErrorCodes.length, 15)
  for (const code of ErrorCodes) assert.ok(isErrorCode(code))
  assert.not.ok(isErrorCode('ENOPE'))
  assert.not.ok(isErrorCode(7))
})

t.test('a thrown error travels as ETASK with name, message, stack, code and data', () => {
  const thrown = Object.assign(new RangeError('out of range'), { code: 'E_RANGE', data: new Map([[1, 'x']]) })
  const back = fromWireError(thrownToWire(thrown))
  assert.is(back.code, 'ETASK')
  assert.is(back.message, 'out of range')
  assert.is(back.remoteName, 'RangeError')
  assert.is(back.remoteCode, 'E_RANGE')
  assert.ok(back.remoteStack?.includes('errors.spec'))
  assert.equal(back.data, new Map([[1, 'x']]))
})

t.test('a thrown non-Error becomes an Error with its text', () => {
  assert.is(asError('plain').message, 'plain')
  assert.is(fromWireError(thrownToWire(42)).message, '42')
})

t.test('asError never throws: values without text are described, plain objects keep their fields', () => {
  const throwingGetter = { get message(): string { throw new Error('getter') } }
  for (const untextable of [Object.create(null), { toString: () => { throw new Error('no') } }, throwingGetter]) {
    const err = asError(untextable)
    assert.instance(err, Error)
    assert.type(err.message, 'string')
  }
  const plain = asError({ message: 'm', name: 'N', code: 'E_X', data: [1] }) as Error & { code: unknown; data: unknown }
  assert.equal([plain.message, plain.name, plain.code, plain.data], ['m', 'N', 'E_X', [1]])
  assert.is(asError({ a: 1 }).message, '[object Object]')
})

t.test('an error field of the wrong type fails its own frame only; the writer is intact for the next', () => {
  const writer = new CborWriter()
  writer.begin()
  assert.throws(() => writer.text(7 as never))
  assert.throws(() => writer.bytes({} as never))
  assert.is(writer.end, writer.start, 'nothing written; the position is still a number')
  assert.throws(() => encodeEnvelope({ k: Kind.Fail, id: 1, err: { code: 'ETASK', message: 7 as never } }))
  const fail = { k: Kind.Fail, id: 2, err: { code: 'ETASK', message: 'fine' } } as const
  const back = readEnvelope(encodeEnvelope(fail))
  assert.equal(back, { k: Kind.Fail, id: 2, err: { code: 'ETASK', message: 'fine' } })
})

t.test('the fields of a thrown error that are not strings travel as text, or not at all', () => {
  const odd = new Error('boom')
  Object.defineProperty(odd, 'stack', { value: null })
  Object.defineProperty(odd, 'name', { value: 42 })
  Object.defineProperty(odd, 'message', { value: { not: 'text' } })
  const wire = thrownToWire(odd)
  assert.equal(wire, { code: 'ETASK', message: '', name: '42' })
})

t.test('a Troupe error keeps its own code on the wire; unencodable data is dropped, not fatal', () => {
  const back = fromWireError(toWireError(new TroupeError('EREJECTED', 'full', { data: () => 1 })))
  assert.is(back.code, 'EREJECTED')
  assert.is(back.data, undefined)
  assert.is(fromWireError({ code: 'ETASK', message: 'm', data: Uint8Array.of(0xff) }).data, undefined)
  assert.is(fromWireError({ code: 'ETASK', message: 'm', data: encodeValue('d') }).data, 'd')
})

t.test('configError names the option, the expectation and what arrived', () => {
  const err = configError('workers', 'an integer from 1 to 64', 'x'.repeat(50))
  assert.is(err.code, 'ECONFIG')
  assert.match(err.message, /"workers" must be an integer from 1 to 64; received "x{40}…"/)
  assert.match(configError('a', 'b', () => 1).message, /a function/)
  assert.match(configError('a', 'b', new Date(0)).message, /an instance of Date/)
  assert.match(configError('a', 'b', null).message, /received null/)
})

t.run()
