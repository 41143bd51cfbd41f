/**
 * Faults of the actor core that once took the whole process down or left a caller waiting:
 * handlers that throw odd values, errors that cannot travel, signals and asks left behind.
 * "The process survives" is checked in-process: the same system answers another ask afterwards.
 */
import * as assert from 'uvu/assert'
import { ActorSystem } from '../../index.js'
import { nextEvent, rejectsWith, suite } from '../harness.js'

const t = suite('actor core: faults')
const DEADLINE_MS = 2000

function system(options: ConstructorParameters<typeof ActorSystem>[0] = {}): ActorSystem {
  const s = new ActorSystem(options)
  t.cleanup(() => s.close())
  return s
}

t.test('a handler that throws a value with no text answers ETASK, sync or async, and the actor goes on', async () => {
  const s = system()
  const untextable = [Object.create(null), { toString: () => { throw new Error('no text') } }]
  const actor = s.spawn('odd', async (m: { index: number; async: boolean } | 'ok') => {
    if (m === 'ok') return 'ok'
    if (m.async) await null
    throw untextable[m.index]
  })
  for (const async of [false, true]) {
    for (const index of [0, 1]) await rejectsWith(actor.ask({ index, async }), 'ETASK')
  }
  const unheard = nextEvent<[unknown, string]>(s, 'error')
  actor.tell({ index: 0, async: false })
  const [thrown, name] = await unheard
  assert.is(thrown, untextable[0], 'a throw on a tell reaches the error event as thrown')
  assert.is(name, 'odd')
  assert.is(await actor.ask('ok'), 'ok')
}, DEADLINE_MS)

t.test('a thrown plain object keeps its message, code and data', async () => {
  const s = system()
  const actor = s.spawn('plain', () => {
    throw { message: 'not found', name: 'LookupError', code: 'E_NOTFOUND', data: { id: 7 } }
  })
  const err = await rejectsWith(actor.ask(1), 'ETASK')
  assert.is(err.message, 'not found')
  assert.is(err.remoteName, 'LookupError')
  assert.is(err.remoteCode, 'E_NOTFOUND')
  assert.equal(err.data, { id: 7 })
}, DEADLINE_MS)

t.test('throwing undefined reads the same from a sync and an async handler', async () => {
  const s = system()
  const sync = s.spawn('sync', () => {
    throw undefined
  })
  const async = s.spawn('async', () => Promise.reject(undefined))
  const [a, b] = await Promise.all([rejectsWith(sync.ask(1), 'ETASK'), rejectsWith(async.ask(1), 'ETASK')])
  assert.is(b.message, a.message)
  assert.is(b.remoteName, a.remoteName)
}, DEADLINE_MS)

t.run()
