import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import * as assert from 'uvu/assert'
import { exited, stopChild } from '../children.js'
import { suite, withDeadline } from '../harness.js'

const t = suite('troupe demo')
const cli = fileURLToPath(new URL('../../cli/main.ts', import.meta.url))

function run(args: string[]) {
  const child = spawn(process.execPath, [...process.execArgv, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.cleanup(() => stopChild(child))
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => (out += c))
  child.stderr.on('data', (c: Buffer) => (err += c))
  return withDeadline(exited(child), 15_000, `troupe ${args.join(' ')}`).then(({ code }) => ({ code, out, err }))
}

t.test('demo prints every step and exits 0', async () => {
  const { code, out } = await run(['demo'])
  assert.is(code, 0)
  for (const step of ['1. in-process', '2. mem://troupe-demo', '3. tcp://127.0.0.1:', 'ECSTO', 'ETASK (E_MANNERS)', 'EAUTH', '4. closed']) {
    assert.ok(out.includes(step), `missing "${step}" in:\n${out}`)
  }
})

t.test('no command prints usage and exits 2; an unknown one too', async () => {
  assert.is((await run([])).code, 2)
  const unknown = await run(['frobnicate'])
  assert.is(unknown.code, 2)
  assert.match(unknown.err, /unknown command "frobnicate"/)
  const help = await run(['--help'])
  assert.is(help.code, 0)
  assert.match(help.out, /usage: troupe/)
})

t.run()
