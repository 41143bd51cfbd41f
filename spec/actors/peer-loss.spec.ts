import * as assert from 'uvu/assert'
import { join } from 'node:path'
import { ActorSystem, type TroupeError } from '../../index.js'
import { MAX_CONGESTED_BYTES } from '../../actors/peer.js'
import { exited, startFixture, stopChild } from '../children.js'
import { rejectsWith, settlements, suite, withDeadline } from '../harness.js'

const t = suite('a peer process dies or freezes')

const HEARTBEAT = { interval: 100, misses: 3 }
// The unix socket lives in a temp dir of the test: a SIGKILLed fixture cannot unlink it.
const listenUrls: [string, () => Promise<string>][] = [
  ['tcp', async () => 'tcp://127.0.0.1:0'],
  ['unix', async () => `unix://${join(await t.tempDir('troupe-node-'), 'node.sock')}`],
]

async function connectedToFixture(url: string, heartbeat: { interval?: number; misses?: number } = HEARTBEAT) {
  const fixture = await startFixture<{ address: string; id: string }>('actor-node.ts', [url], { TROUPE_TEST_KEY: 'k' })
  t.cleanup(() => stopChild(fixture.child))
  const system = new ActorSystem({ key: 'k', heartbeat })
  t.cleanup(() => system.close())
  const peer = await system.connect(fixture.hello.address)
  assert.is(peer.id, fixture.hello.id)
  assert.is(await peer.ref('echo').ask('alive'), 'alive')
  return { fixture, system, peer }
}

for (const [scheme, url] of listenUrls) {
  t.test(`${scheme}: SIGKILL of the peer rejects every pending ask with ECLOSED, once`, async () => {
    const { fixture, peer } = await connectedToFixture(await url())
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
    const { fixture, system, peer } = await connectedToFixture(await url())
    const ask = rejectsWith(peer.ref('hang').ask('never answered'), 'ECLOSED')
    const start = performance.now()
    fixture.child.kill('SIGSTOP')
    const err = await ask
    const elapsed = performance.now() - start
    assert.match(String((err.cause as Error | undefined)?.message), /heartbeat/)
    // the first quiet interval sends a ping; `misses` unanswered intervals later it is dropped
    assert.ok(elapsed >= HEARTBEAT.interval * HEARTBEAT.misses, `too early: ${elapsed} ms`)
    assert.ok(elapsed < HEARTBEAT.interval * (HEARTBEAT.misses + 1) + 500, `too late: ${elapsed} ms`)
    assert.is(system.peers.length, 0)
  })

  t.test(`${scheme}: tells to a peer that stops reading are bounded (EMAILBOX), and flow again once it reads`, async () => {
    // default heartbeats: the pause below is shorter
    const { fixture, system, peer } = await connectedToFixture(await url(), {})
    const echo = peer.ref('echo')
    await peer.drained() // nothing waits to be sent
    fixture.child.kill('SIGSTOP')
    const chunk = new Uint8Array(1024 * 1024)
    let sent = 0
    let refused: TroupeError | undefined
    while (refused === undefined && sent < 4 * MAX_CONGESTED_BYTES) {
      try {
        echo.tell(chunk)
        sent += chunk.length
      } catch (err) {
        refused = err as TroupeError
      }
    }
    assert.is(refused?.code, 'EMAILBOX', `${sent} bytes accepted`)
    assert.ok(sent > MAX_CONGESTED_BYTES && sent < 2 * MAX_CONGESTED_BYTES, `${sent} bytes accepted`)
    await rejectsWith(echo.ask('over the bound'), 'EMAILBOX')
    const drained = peer.drained()
    fixture.child.kill('SIGCONT')
    await withDeadline(drained, 10_000, 'the peer to read the backlog')
    echo.tell(chunk)
    assert.is(await echo.ask('after'), 'after')
    await system.close()
    await rejectsWith(peer.drained(), 'ECLOSED')
  })
}

t.run()
