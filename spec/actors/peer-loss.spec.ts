import * as assert from 'uvu/assert'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ActorSystem } from '../../index.js'
import { exited, startFixture, stopChild } from '../children.js'
import { rejectsWith, settlements, suite, unique } from '../harness.js'

const t = suite('a peer process dies or freezes')

const HEARTBEAT = { interval: 100, misses: 3 }
const listenUrls: [string, () => string][] = [
  ['tcp', () => 'tcp://127.0.0.1:0'],
  ['unix', () => `unix://${join(tmpdir(), `${unique('troupe-node')}.sock`)}`],
]

async function connectedToFixture(url: string) {
  const fixture = await startFixture<{ address: string; id: string }>('actor-node.ts', [url], { TROUPE_TEST_KEY: 'k' })
  t.cleanup(() => stopChild(fixture.child))
  const system = new ActorSystem({ key: 'k', heartbeat: HEARTBEAT })
  t.cleanup(() => system.close())
  const peer = await system.connect(fixture.hello.address)
  assert.is(peer.id, fixture.hello.id)
  assert.is(await peer.ref('echo').ask('alive'), 'alive')
  return { fixture, system, peer }
}

for (const [scheme, url] of listenUrls) {
  t.test(`${scheme}: SIGKILL of the peer rejects every pending ask with ECLOSED, once`, async () => {
    const { fixture, peer } = await connectedToFixture(url())
    const asks = Array.from({ length: 20 }, (_, i) => peer.ref('hang').ask(i))
    const counted = asks.map((a) => settlements(a))
    const failures = asks.map((a) => rejectsWith(a, 'ECLOSED'))
    const start = performance.now()
    fixture.child.kill('SIGKILL')
    await Promise.all(failures)
    await Promise.all(counted.map((c) => c.done))
    for (const c of counted) assert.is(c.count, 1)
    assert.ok(performance.now() - start < HEARTBEAT.interval * HEARTBEAT.misses + 1000)
    await exited(fixture.child)
  })

  t.test(`${scheme}: a frozen peer (SIGSTOP) is dropped by heartbeats; its asks reject ECLOSED in the window`, async () => {
    const { fixture, system, peer } = await connectedToFixture(url())
    const ask = rejectsWith(peer.ref('hang').ask('never answered'), 'ECLOSED')
    const start = performance.now()
    fixture.child.kill('SIGSTOP')
    const err = await ask
    const elapsed = performance.now() - start
    assert.match(String((err.cause as Error | undefined)?.message), /heartbeat/)
    // silence is noticed after `misses` intervals (plus at most one interval of phase)
    assert.ok(elapsed >= HEARTBEAT.interval * (HEARTBEAT.misses - 1), `too early: ${elapsed} ms`)
    assert.ok(elapsed < HEARTBEAT.interval * (HEARTBEAT.misses + 1) + 500, `too late: ${elapsed} ms`)
    assert.is(system.peers.length, 0)
  })
}

t.run()
