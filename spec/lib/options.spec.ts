import * as assert from 'uvu/assert'
import { TroupeError } from '../../lib/errors.js'
import { knownOptions, pickOptions } from '../../lib/options.js'
import { suite } from '../harness.js'

const t = suite('options')
const KNOWN = new Set(['queueSize', 'timeout', 'maxAttempts', 'key'])

function refusal(value: object): TroupeError {
  try {
    knownOptions('Thing.start()', value, KNOWN)
  } catch (err) {
    assert.instance(err, TroupeError)
    return err as TroupeError
  }
  throw new Error(`${JSON.stringify(value)} was taken`)
}

t.test('known names pass, absent options are {}, an own undefined value is still a name', () => {
  const given = { queueSize: 1, key: undefined }
  assert.is(knownOptions('Thing.start()', given, KNOWN), given)
  assert.equal(knownOptions('Thing.start()', undefined, KNOWN), {})
  assert.is(refusal({ queueSize: 1, extra: undefined }).code, 'ECONFIG')
})

t.test('an unknown name is ECONFIG naming the call, the option and the nearest known one', () => {
  const err = refusal({ queSize: 1 })
  assert.is(err.code, 'ECONFIG')
  assert.ok(err.message.includes('Thing.start()') && err.message.includes('"queSize"') && err.message.includes('did you mean "queueSize"'), err.message)
  assert.equal(err.data, { option: 'queSize' })
  assert.ok(refusal({ TimeOut: 1 }).message.includes('did you mean "timeout"'), 'case is not an edit')
  assert.ok(refusal({ maxAtempts: 1 }).message.includes('did you mean "maxAttempts"'))
  assert.ok(refusal({ tiemout: 1 }).message.includes('did you mean "timeout"'), 'two letters swapped are one edit')
})

t.test('a name far from every known one gets no suggestion', () => {
  const err = refusal({ colour: 'red' })
  assert.not.ok(err.message.includes('did you mean'), err.message)
  assert.not.ok(refusal({ k: 1 }).message.includes('did you mean'), 'a one-letter name is not near "key"')
})

t.test('inherited names are not options; a non-object is ECONFIG', () => {
  const inherited = Object.create({ bogus: 1 }) as object
  assert.equal(knownOptions('Thing.start()', inherited, KNOWN), inherited)
  for (const bad of [null, 5, 'x', []]) {
    assert.throws(() => knownOptions('Thing.start()', bad as never, KNOWN), (e: TroupeError) => e.code === 'ECONFIG')
  }
})

t.test('pickOptions keeps only the listed names', () => {
  assert.equal(pickOptions({ queueSize: 1, tasks: 'x', key: undefined }, KNOWN), { queueSize: 1, key: undefined })
})

t.run()
