import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import * as assert from 'uvu/assert'
import { closed, stopChild } from '../children.js'
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
  return withDeadline(closed(child), 15_000, `troupe ${args.join(' ')}`).then(({ code }) => ({ code, out, err }))
}

t.test('demo (npm start) prints every step over mem:// and tcp:// and exits 0', async () => {
  const { code, out } = await run(['demo'])
  assert.is(code, 0)
  for (const step of ['1. mem://troupe-demo', '2. tcp://127.0.0.1:', '3. closed']) assert.ok(out.includes(step), `missing "${step}" in:\n${out}`)
  // each tour shows routing over both pools, the priority, the timeout, the broadcast and the key
  for (const pattern of [/routing: .*pool A.*pool B|routing: .*pool B.*pool A/g, /finished high then low/g, /runTimeout 100 → ETO/g, /pool A here/g, /pool B here/g, /wrong key → EAUTH/g]) {
    assert.is(out.match(pattern)?.length, 2, `${pattern} twice in:\n${out}`)
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
