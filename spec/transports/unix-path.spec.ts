import { writeFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { ActorSystem } from '../../index.js'
import { startFixture, stopChild } from '../children.js'
import { rejectsWith, suite } from '../harness.js'

const t = suite('unix:// socket paths')

t.test('a socket file left by a killed process is reused; one in use is refused', async () => {
  const path = join(await t.tempDir('troupe-unix-'), 'node.sock')
  const first = await startFixture<{ address: string }>('actor-node.ts', [`unix://${path}`])
  t.cleanup(() => stopChild(first.child))
  const system = new ActorSystem()
  t.cleanup(() => system.close())
  await rejectsWith(system.listen(`unix://${path}`), 'ECONFIG')
  first.child.kill('SIGKILL')
  await stopChild(first.child)
  system.spawn('echo', (m: unknown) => m)
  assert.is(await system.listen(`unix://${path}`), `unix://${path}`)
  const client = new ActorSystem()
  t.cleanup(() => client.close())
  assert.is(await (await client.connect(`unix://${path}`)).ref('echo').ask('reused'), 'reused')
})

t.test('a path holding a regular file is refused and the file is left alone', async () => {
  const path = join(await t.tempDir('troupe-unix-'), 'not-a-socket')
  await writeFile(path, 'precious')
  const system = new ActorSystem()
  t.cleanup(() => system.close())
  await rejectsWith(system.listen(`unix://${path}`), 'ECONFIG')
  assert.is(await readFile(path, 'utf8'), 'precious')
})

t.run()
