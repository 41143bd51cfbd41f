/**
 * A pool in an app started with `node -e`: its children must run the worker entry, not the
 * app's own code again (each child would start a pool of its own, and so on).
 */
import { spawn } from 'node:child_process'
import * as assert from 'uvu/assert'
import { childExecArgv } from '../../transports/ipc.js'
import { closed, stopChild } from '../children.js'
import { suite, withDeadline } from '../harness.js'
import { FIXTURE_TASKS } from './grid.js'

const t = suite('a pool started from node -e')
const INDEX = new URL('../../index.ts', import.meta.url).href

for (const mode of ['process', 'thread'] as const) {
  t.test(`${mode} mode: the children run tasks, and the app's code runs once`, async () => {
    const app = `
      console.log('app started')
      const { Client, WorkerPool } = await import(${JSON.stringify(INDEX)})
      const pool = await WorkerPool.start({ listen: 'mem://eval-parent', tasks: ${JSON.stringify(FIXTURE_TASKS.href)}, mode: '${mode}', workers: 2 })
      const client = await Client.connect(pool.address)
      const pids = await Promise.all([1, 2, 3, 4].map(() => client.run('pid')))
      console.log(JSON.stringify({ pids }))
      await client.close()
      await pool.close()`
    const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', app], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
      const { code } = await withDeadline(closed(child), 15_000, 'the app to exit')
      assert.is(code, 0, out)
      const lines = out.trim().split('\n')
      assert.is(lines.filter((l) => l === 'app started').length, 1, out)
      const { pids } = JSON.parse(lines.at(-1) as string) as { pids: number[] }
      assert.is(pids.length, 4)
      if (mode === 'process') assert.not.ok(pids.includes(child.pid as number), 'tasks ran in child processes')
    } finally {
      await stopChild(child)
    }
  })
}

t.test('what a child inherits: neither eval code nor an inspector, test runner or watch flag', () => {
  const argv = ['--import', 'tsx', '-e', 'code()', '--input-type=module', '--input-type', 'module', '--eval=more()', '-p', 'x', '--inspect=9229', '--inspect-port', '9230',
    '--test', '--test-reporter', 'spec', '--watch', '--max-old-space-size=512', '--enable-source-maps']
  assert.equal(childExecArgv(argv), ['--import', 'tsx', '--max-old-space-size=512', '--enable-source-maps'])
})

t.run()
