/**
 * The README's examples, run the way a user runs them. In README.md, a ```ts block right after
 * `<!-- test: NAME.ts -->` is a program and one after `<!-- file: NAME.ts -->` a module the
 * programs import. Each test writes all of them to a fresh temp dir (a package.json of type
 * module, node_modules linked to this repo's), with `from 'troupe'` pointing at this repo's
 * index.ts, and runs programs with `node --import tsx`. Loopback only: `tcp://0.0.0.0:8000`
 * becomes `tcp://127.0.0.1:0`, and `tcp://hostA:8000` the address the manager printed.
 * A first test typechecks every block with this repo's compiler options.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import * as assert from 'uvu/assert'
import { exited, stopChild } from './children.js'
import { suite, withDeadline } from './harness.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const README = join(ROOT, 'README.md')
const INDEX = join(ROOT, 'index.js') // tsx and tsc both map it to index.ts

interface Block {
  kind: 'test' | 'file'
  name: string
  code: string
}

/** Every marked ```ts block of the README, in order. */
async function readmeBlocks(): Promise<Block[]> {
  const text = await readFile(README, 'utf8')
  const blocks: Block[] = []
  const marked = /<!-- (test|file): ([\w.-]+\.ts) -->\n```ts\n([\s\S]*?)\n```/g
  for (const m of text.matchAll(marked)) blocks.push({ kind: m[1] as Block['kind'], name: m[2] as string, code: m[3] as string })
  return blocks
}

/** The README's code as it runs here: this repo for 'troupe', loopback for the hosts. */
function localised(code: string, managerAddress = 'tcp://127.0.0.1:1'): string {
  return code
    .replaceAll(`from 'troupe'`, `from ${JSON.stringify(INDEX)}`)
    .replaceAll('tcp://0.0.0.0:8000', 'tcp://127.0.0.1:0')
    .replaceAll('tcp://hostA:8000', managerAddress)
}

const t = suite('README examples')

/** A temp dir holding every marked block, removed after the test. */
async function workspace(managerAddress?: string): Promise<{ dir: string; blocks: Block[] }> {
  const dir = await t.tempDir('troupe-readme-')
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
  await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }))
  await writeFile(join(dir, 'grid.key'), 'a key for the README examples\n', { mode: 0o600 })
  const blocks = await readmeBlocks()
  for (const b of blocks) await writeFile(join(dir, b.name), localised(b.code, managerAddress))
  return { dir, blocks }
}

interface Program {
  child: ChildProcess
  /** Everything printed so far (stdout and stderr). */
  output(): string
  /** Resolves with the first stdout line matching `pattern`. */
  line(pattern: RegExp): Promise<string>
  /** Resolves with the exit code once the process ends. */
  exit: Promise<number | null>
}

/** Starts `node --import tsx NAME` in `dir`; it is stopped after the test if still running. */
function start(dir: string, name: string): Program {
  const { FORCE_COLOR: _, ...env } = process.env // plain output, as in a pipe
  const child = spawn(process.execPath, ['--import', 'tsx', name], { cwd: dir, env: { ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.cleanup(() => stopChild(child, 'SIGKILL'))
  let text = ''
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()))
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  const waiters: { pattern: RegExp; resolve(line: string): void }[] = []
  lines.on('line', (line) => {
    text += line + '\n'
    for (const w of waiters.filter((one) => one.pattern.test(line))) {
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve(line)
    }
  })
  const closed = new Promise<void>((resolve) => lines.once('close', resolve))
  return {
    child,
    output: () => text,
    line: (pattern) => {
      const found = text.split('\n').find((l) => pattern.test(l))
      if (found !== undefined) return Promise.resolve(found)
      return new Promise((resolve) => waiters.push({ pattern, resolve }))
    },
    exit: Promise.all([exited(child), closed]).then(([{ code }]) => code),
  }
}

/** Runs a program to its end; asserts exit code 0 and returns its output. */
async function runToEnd(dir: string, name: string, deadlineMs: number): Promise<string> {
  const program = start(dir, name)
  const code = await withDeadline(program.exit, deadlineMs, `${name} to exit`)
  assert.is(code, 0, `${name} exited with ${code}:\n${program.output()}`)
  return program.output()
}

t.test('every marked block is known here, and typechecks', async () => {
  const { dir, blocks } = await workspace()
  assert.equal(blocks.map((b) => `${b.kind}:${b.name}`).sort(), [
    'file:survey.ts', 'file:tasks.ts', 'test:actors.ts', 'test:add.test.ts', 'test:app.ts', 'test:client.ts',
    'test:manager.ts', 'test:pool.ts', 'test:survey-run.ts',
  ])
  const { compilerOptions } = JSON.parse(await readFile(join(ROOT, 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> }
  delete compilerOptions.rootDir
  delete compilerOptions.outDir
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...compilerOptions, noEmit: true }, files: blocks.map((b) => b.name) }))
  const tsc = spawn(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  t.cleanup(() => stopChild(tsc, 'SIGKILL'))
  let out = ''
  tsc.stdout?.on('data', (c: Buffer) => (out += c.toString()))
  tsc.stderr?.on('data', (c: Buffer) => (out += c.toString()))
  const { code } = await withDeadline(exited(tsc), 60_000, 'tsc')
  assert.is(code, 0, out)
}, 70_000)

t.test('1. embedded: app.ts with a process pool', async () => {
  const { dir } = await workspace()
  const out = await runToEnd(dir, 'app.ts', 30_000)
  assert.equal(out.trim().split('\n'), ['11', '[ 55, 6765, 75025 ]', '0 %', '25 %', '50 %', '75 %', 'liftoff'])
}, 40_000)

t.test('2. unit test: add.test.ts over mem://', async () => {
  const { dir } = await workspace()
  const out = await runToEnd(dir, 'add.test.ts', 30_000)
  assert.match(out, /pass 1\b/)
  assert.match(out, /fail 0\b/)
}, 40_000)

t.test('3. over TCP: manager.ts, pool.ts and client.ts as three processes, stopped with SIGTERM', async () => {
  const first = await workspace()
  const manager = start(first.dir, 'manager.ts')
  const announced = await withDeadline(manager.line(/^manager listening on /), 30_000, 'the manager to listen')
  const address = /tcp:\/\/127\.0\.0\.1:\d+/.exec(announced)?.[0]
  assert.ok(address !== undefined, announced)
  // the pool and the client as they run on other hosts: the manager's address in place of hostA
  for (const name of ['pool.ts', 'client.ts']) {
    const block = first.blocks.find((b) => b.name === name) as Block
    await writeFile(join(first.dir, name), localised(block.code, address))
  }
  const pool = start(first.dir, 'pool.ts')
  const out = await runToEnd(first.dir, 'client.ts', 30_000)
  const lines = out.trim().split('\n')
  assert.equal(lines.slice(0, 2), ['11', '[ 6765, 75025, 832040 ]'])
  assert.match(out, /workers: 1,/)
  assert.match(out, /done: 4,/)
  await withDeadline(pool.line(/^pool \S+ joined$/), 30_000, 'the pool to join')
  for (const program of [pool, manager]) {
    program.child.kill('SIGTERM')
    const code = await withDeadline(program.exit, 15_000, 'a drained exit')
    assert.is(code, 0, program.output())
  }
}, 90_000)

t.test('broadcast: survey-run.ts on three process pools', async () => {
  const { dir } = await workspace()
  const out = await runToEnd(dir, 'survey-run.ts', 40_000)
  const lines = out.trim().split('\n')
  assert.is(lines[0], '2 broadcasts, 3 of 3 pools measured')
  assert.is(lines.filter((l) => /^\S+: up \d+\.\d s$/.test(l)).length, 3)
  const reports = lines.filter((l) => /^\d{4}-\d\d-\d\dT/.test(l))
  assert.is(reports.length, 6)
  const times = reports.map((l) => Date.parse(l.slice(0, l.indexOf(' '))))
  assert.equal(times, [...times].sort((a, b) => a - b))
  // the barrier holds: no pool went on before every pool had measured
  const measured = times.filter((_, i) => /round 1: \d+ MiB free$/.test(reports[i] as string))
  const after = times.filter((_, i) => (reports[i] as string).endsWith(' every pool has measured'))
  assert.is(measured.length, 3, out)
  assert.is(after.length, 3, out)
  assert.ok(Math.min(...after) >= Math.max(...measured), out)
}, 50_000)

t.test('the actor core: actors.ts', async () => {
  const { dir } = await workspace()
  const out = await runToEnd(dir, 'actors.ts', 30_000)
  assert.equal(out.trim().split('\n'), ['3', '4'])
}, 40_000)

t.run()
