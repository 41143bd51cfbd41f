/** The real `troupe` CLI, spawned as child processes on 127.0.0.1 (API.md §7, issue: CLI). */
import { spawn, type ChildProcess } from 'node:child_process'
import { chmod, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as assert from 'uvu/assert'
import { Client, TroupeError } from '../../index.js'
import { DEFAULT_MANAGER, explained, managerUrl, parse, stdio } from '../../cli/common.js'
import { closed, stopChild } from '../children.js'
import { deferred, suite, withDeadline } from '../harness.js'
import { rawServer } from '../raw-server.js'

const t = suite('troupe CLI')
const cli = fileURLToPath(new URL('../../cli/main.ts', import.meta.url))
const TASKS = fileURLToPath(new URL('../fixtures/tasks.ts', import.meta.url))
const JOBS = fileURLToPath(new URL('../fixtures/jobs.ts', import.meta.url))

/** A running CLI process whose output can be awaited line by line. */
class Cli {
  readonly child: ChildProcess
  out = ''
  err = ''
  readonly #waiters = new Set<() => void>()
  // resolves once the process has exited and all its output is in
  readonly #closed: Promise<{ code: number | null }>
  #over = false

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [...process.execArgv, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TROUPE_KEY_FILE: '', ...env } })
    t.cleanup(() => stopChild(this.child, 'SIGKILL'))
    this.child.stdout?.on('data', (c: Buffer) => this.#grew(() => (this.out += c)))
    this.child.stderr?.on('data', (c: Buffer) => this.#grew(() => (this.err += c)))
    this.#closed = closed(this.child)
    void this.#closed.then(() => this.#grew(() => (this.#over = true)))
  }

  #grew(append: () => void): void {
    append()
    for (const check of this.#waiters) check()
  }

  /** Resolves with the first match of `pattern` in stdout; rejects if the process exits first. */
  line(pattern: RegExp, ms = 15_000): Promise<RegExpMatchArray> {
    const found = new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = (): void => {
        const m = pattern.exec(this.out)
        if (m !== null) {
          this.#waiters.delete(check)
          resolve(m)
        } else if (this.#over) {
          this.#waiters.delete(check)
          reject(new Error(`troupe exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${pattern}:\n${this.out}${this.err}`))
        }
      }
      this.#waiters.add(check)
      check()
    })
    return withDeadline(found, ms, `${pattern} in the output of troupe`)
  }

  async done(ms = 20_000): Promise<{ code: number | null; out: string; err: string }> {
    const { code } = await withDeadline(this.#closed, ms, 'troupe to exit')
    return { code, out: this.out, err: this.err }
  }
}

const troupe = (args: string[], env?: NodeJS.ProcessEnv): Cli => new Cli(args, env)

async function keyFile(dir: string, name: string, mode = 0o600): Promise<string> {
  const file = join(dir, name)
  await writeFile(file, `${name}-secret\n`)
  await chmod(file, mode)
  return file
}

/** A manager and one inline pool from the CLI; resolves with the manager's address. */
async function grid(extra: { manager?: string[]; worker?: string[] } = {}): Promise<{ address: string; manager: Cli; managerId: string; worker: Cli; poolId: string }> {
  const manager = troupe(['manager', '--listen', 'tcp://127.0.0.1:0', ...(extra.manager ?? [])])
  const [, managerId = '', address = ''] = await manager.line(/manager (\S+) listening on (\S+)/)
  const worker = troupe(['worker', '--manager', address, '--tasks', TASKS, '--mode', 'inline', ...(extra.worker ?? [])])
  const poolId = (await worker.line(/pool (\S+) working for/))[1] as string
  await manager.line(new RegExp(`pool ${poolId} joined`))
  return { address, manager, managerId, worker, poolId }
}

/**
 * An address where nobody serves: it counts the connections it gets and closes them, so a
 * command that should fail before connecting fails fast, and visibly, if it connects.
 */
async function nobody(): Promise<{ address: string; connections: () => number }> {
  const server = await rawServer(t, (socket) => socket.destroy())
  return { address: server.url, connections: () => server.sockets.length }
}

t.test("manager + worker + run add '[4,7]' prints 11; --verbose shows the debug log", async () => {
  const { address, manager } = await grid({ manager: ['--verbose'] })
  assert.match(manager.err, /TROUPE \d+: manager \S+ listening on/)
  const run = await troupe(['run', 'add', '[4,7]', '--manager', address]).done()
  assert.is(run.code, 0, run.err)
  assert.is(run.out, '11\n')
  const low = await troupe(['run', 'add', '[4,7]', '--priority', '-1', '--manager', address]).done()
  assert.is(low.code, 0, low.err)
  assert.is(low.out, '11\n')
})

t.test('a negative number after a flag that takes a value is its value; elsewhere it is not', () => {
  const flags = { priority: { type: 'string' }, verbose: { type: 'boolean' } } as const
  assert.equal({ ...parse(['--priority', '-1.5', 'x'], flags, 'usage', stdio, 1)?.values }, { priority: '-1.5' })
  assert.equal(parse(['--', '--priority', '-1'], flags, 'usage', stdio, 2)?.positionals, ['--priority', '-1'])
  assert.throws(() => parse(['--verbose', '-1'], flags, 'usage', stdio, 1), /-1/)
})

t.test('the unreachable-manager hint is not given when a running manager turned the caller away', async () => {
  const unreachable = new TroupeError('ECLOSED', 'cannot connect to tcp://127.0.0.1:1: connect ECONNREFUSED')
  const refused = new TroupeError('ECLOSED', '128 connections are already in their handshake here; try again', { remoteName: 'TroupeError' })
  const hint = /is a manager running at tcp:\/\/127\.0\.0\.1:1\?/
  assert.match((await explained(Promise.reject(unreachable), {}, 'tcp://127.0.0.1:1').catch((e: Error) => e)).message, hint)
  const told = await explained(Promise.reject(refused), {}, 'tcp://127.0.0.1:1').catch((e: Error) => e)
  assert.is(told, refused, 'passed on as the manager said it')
})

t.test('run: --out and --concurrency without --each are usage errors, before connecting', async () => {
  const { address, connections } = await nobody()
  for (const flag of ['--out', '--concurrency']) {
    const r = await troupe(['run', 'add', '[1,2]', flag, '2', '--manager', address]).done()
    assert.is(r.code, 2, r.err)
    assert.ok(r.err.includes(`${flag} goes with --each`), r.err)
  }
  assert.is(connections(), 0)
})

t.test('a manager nobody answers for: run and worker fail after --connect-timeout, asking whether one runs there', async () => {
  const { address, connections } = await nobody()
  const started = performance.now()
  const [run, worker] = await Promise.all([
    troupe(['run', 'add', '[1,2]', '--manager', address, '--connect-timeout', '300']).done(),
    troupe(['worker', '--manager', address, '--tasks', TASKS, '--mode', 'inline', '--connect-timeout', '300']).done(),
  ])
  for (const r of [run, worker]) {
    assert.is(r.code, 1, r.err)
    assert.ok(r.err.includes(`ECLOSED`) && r.err.includes(`is a manager running at ${address}?`), r.err)
  }
  assert.ok(connections() >= 2, 'both tried')
  assert.ok(performance.now() - started < 8000, 'well before the default connectTimeout of 10 s')
})

t.test('run --each over 1 000 lines writes 1 000 results and its progress ends at 100 %', async () => {
  const { address } = await grid({ worker: ['--capacity', '64'] })
  const dir = await t.tempDir('troupe-cli-')
  const input = join(dir, 'in.jsonl')
  await writeFile(input, Array.from({ length: 1000 }, (_, i) => JSON.stringify([i, 1])).join('\n') + '\n')
  const out = join(dir, 'out.jsonl')
  const run = await troupe(['run', 'add', '--each', input, '--out', out, '--manager', address]).done(60_000)
  assert.is(run.code, 0, run.err)
  const results = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { index: number; ok: boolean; value: number })
  assert.is(results.length, 1000)
  assert.equal(results.map((r) => r.index).sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i))
  for (const r of results) assert.is(r.value, r.index + 1)
  const progress = run.err.trim().split('\n')
  assert.match(progress.at(-1) ?? '', /\] 100% 1000\/1000 done, 0 failed/)
})

t.test('run --each: a missing input, an unwritable --out or a line that is not JSON fail before connecting', async () => {
  const { address, connections } = await nobody()
  const dir = await t.tempDir('troupe-cli-')
  const good = join(dir, 'good.jsonl')
  const bad = join(dir, 'bad.jsonl')
  await writeFile(good, '[1,2]\n')
  await writeFile(bad, '[1,2]\n\n{oops\n[3,4]\n')
  const missing = join(dir, 'missing.jsonl')
  const nowhere = join(dir, 'no-dir', 'out.jsonl')
  const each = (...args: string[]): Promise<{ code: number | null; err: string }> => troupe(['run', 'add', '--manager', address, '--each', ...args]).done()
  const [noInput, noOut, notJson] = await Promise.all([each(missing), each(good, '--out', nowhere), each(bad, '--out', join(dir, 'out.jsonl'))])
  assert.is(noInput.code, 1)
  assert.is(noInput.err, `troupe: cannot read ${missing}: no such file or directory (ENOENT)\n`)
  assert.is(noOut.code, 1)
  assert.is(noOut.err, `troupe: cannot write ${nowhere}: no such file or directory (ENOENT)\n`)
  assert.is(notJson.code, 2, notJson.err)
  assert.ok(notJson.err.startsWith(`troupe run: ${bad}:3 is not JSON`), notJson.err)
  assert.is(connections(), 0) // nothing sent
})

t.test('run --each whose stdout closes early (| head -1) stops quietly with 141', async () => {
  const pool = troupe(['worker', '--listen', 'tcp://127.0.0.1:0', '--tasks', TASKS, '--mode', 'inline'])
  const address = (await pool.line(/listening on (\S+)/))[1] as string
  const input = join(await t.tempDir('troupe-cli-'), 'in.jsonl')
  await writeFile(input, Array.from({ length: 5000 }, (_, i) => JSON.stringify([i, 1])).join('\n'))
  const run = troupe(['run', 'add', '--each', input, '--manager', address])
  run.child.stdout?.once('data', () => run.child.stdout?.destroy()) // the reader goes away
  const { code, err } = await run.done()
  assert.is(code, 141, err)
  for (const line of err.trim().split('\n')) assert.match(line, /^\[[#-]+\] /) // progress only
})

t.test('status --json lists both pools', async () => {
  const { address, manager } = await grid()
  const second = troupe(['worker', '--manager', address, '--tasks', TASKS, '--mode', 'inline'])
  const secondId = (await second.line(/pool (\S+) working for/))[1] as string
  await manager.line(new RegExp(`pool ${secondId} joined`))
  const status = await troupe(['status', '--json', '--interval', '0', '--manager', address]).done()
  assert.is(status.code, 0, status.err)
  const stats = JSON.parse(status.out) as { workers: number; pools: { id: string }[] }
  assert.is(stats.workers, 2)
  assert.ok(stats.pools.some((p) => p.id === secondId))
  const table = await troupe(['status', '--interval', '50', '--manager', address]).done()
  assert.match(table.out, /2 pools/)
  assert.match(table.out, new RegExp(secondId))
})

t.test('stop drains a pool and its process exits 0', async () => {
  const { address, worker, poolId } = await grid()
  const stop = await troupe(['stop', poolId, '--manager', address]).done()
  assert.is(stop.code, 0, stop.err)
  assert.match(stop.out, new RegExp(`${poolId} is draining`))
  const exit = await worker.done()
  assert.is(exit.code, 0, exit.err)
  assert.match(exit.out, /pool drained and closed/)
})

t.test('stop --all: every node acknowledges, drains and exits 0', async () => {
  const { address, manager, managerId, worker, poolId } = await grid()
  const stop = await troupe(['stop', '--all', '--manager', address]).done()
  assert.is(stop.code, 0, stop.err)
  assert.is(stop.out, `${poolId} is draining\n${managerId} is draining\n`)
  for (const node of [worker, manager]) {
    const exit = await node.done()
    assert.is(exit.code, 0, exit.err)
    assert.match(exit.out, /drained and closed/)
  }
})

t.test('SIGTERM during 200 running tasks: all 200 finish, then the pool exits 0', async () => {
  const { address, worker } = await grid({ worker: ['--capacity', '200'] })
  const client = await Client.connect(address, { reconnect: false })
  t.cleanup(() => client.close())
  let started = 0
  const running = deferred()
  const results = Promise.all(Array.from({ length: 200 }, () => client.run('pidSleep', 500, { onProgress: () => ++started === 200 && running.resolve() })))
  await withDeadline(running.promise, 15_000, '200 tasks running')
  worker.child.kill('SIGTERM')
  const done = await withDeadline(results, 15_000, '200 results')
  assert.is(done.length, 200)
  const exit = await worker.done()
  assert.is(exit.code, 0, exit.err)
  assert.match(exit.out, /SIGTERM: draining/)
})

t.test('a wrong key file: exit code 1 and a message naming the key', async () => {
  const dir = await t.tempDir('troupe-cli-')
  const right = await keyFile(dir, 'right')
  const wrong = await keyFile(dir, 'wrong')
  const manager = troupe(['manager', '--listen', 'tcp://127.0.0.1:0', '--key-file', right])
  const address = (await manager.line(/listening on (\S+)/))[1] as string
  const run = await troupe(['run', 'add', '[1,2]', '--manager', address, '--key-file', wrong]).done()
  assert.is(run.code, 1)
  assert.match(run.err, /EAUTH/)
  assert.ok(run.err.includes(wrong), run.err)
  const keyed = await troupe(['status', '--json', '--interval', '0', '--manager', address], { TROUPE_KEY_FILE: right }).done()
  assert.is(keyed.code, 0, keyed.err) // the right key, from the environment
})

t.test('a key file others can read is refused', async () => {
  const dir = await t.tempDir('troupe-cli-')
  const open = await keyFile(dir, 'open', 0o644)
  const manager = await troupe(['manager', '--listen', 'tcp://127.0.0.1:0', '--key-file', open]).done()
  assert.is(manager.code, 1)
  assert.ok(manager.err.includes(open), manager.err)
  assert.match(manager.err, /chmod 600/)
  assert.not.match(manager.err, /using the key in/) // the message names the file already
})

t.test('a flag out of its range is a usage error naming the flag, before connecting', async () => {
  const { address, connections } = await nobody()
  const dir = await t.tempDir('troupe-cli-')
  const input = join(dir, 'in.jsonl')
  await writeFile(input, '[1,2]\n')
  const cases: [string, string[]][] = [
    ['--timeout', ['run', 'add', '[1,2]', '--timeout', '0']],
    ['--concurrency', ['run', 'add', '--each', input, '--concurrency', '0']],
    ['--workers', ['worker', '--tasks', TASKS, '--mode', 'inline', '--workers', '0']],
    ['--capacity', ['worker', '--tasks', TASKS, '--mode', 'inline', '--capacity', '0']],
    ['--queue-size', ['manager', '--listen', 'tcp://127.0.0.1:0', '--queue-size', '0']],
    ['--max-attempts', ['manager', '--listen', 'tcp://127.0.0.1:0', '--max-attempts', '0']],
  ]
  const runs = await Promise.all(cases.map(([, args]) => troupe([...args, ...(args[0] === 'manager' ? [] : ['--manager', address])]).done()))
  runs.forEach((r, i) => {
    const [flag] = cases[i] as [string, string[]]
    assert.is(r.code, 2, `${flag}: ${r.err}`)
    assert.ok(r.err.includes(`${flag} expects`), r.err)
  })
  assert.is(connections(), 0)
})

t.test('an empty TROUPE_MANAGER counts as unset', () => {
  const saved = process.env.TROUPE_MANAGER
  t.cleanup(() => (saved === undefined ? delete process.env.TROUPE_MANAGER : (process.env.TROUPE_MANAGER = saved)))
  process.env.TROUPE_MANAGER = ''
  assert.is(managerUrl(undefined), DEFAULT_MANAGER)
  process.env.TROUPE_MANAGER = 'tcp://127.0.0.1:9'
  assert.is(managerUrl(undefined), 'tcp://127.0.0.1:9')
  assert.is(managerUrl('tcp://127.0.0.1:7'), 'tcp://127.0.0.1:7')
})

t.test('tls:// with a wrong key fails the handshake', async () => {
  const dir = await t.tempDir('troupe-cli-')
  const right = await keyFile(dir, 'right')
  const wrong = await keyFile(dir, 'wrong')
  const manager = troupe(['manager', '--listen', 'tls://127.0.0.1:0', '--key-file', right])
  const address = (await manager.line(/listening on (tls:\S+)/))[1] as string
  const bad = await troupe(['run', 'add', '[1,2]', '--manager', address, '--key-file', wrong]).done()
  assert.is(bad.code, 1)
  assert.match(bad.err, /EAUTH/)
  const worker = troupe(['worker', '--manager', address, '--tasks', TASKS, '--mode', 'inline', '--key-file', right])
  await worker.line(/working for/)
  await manager.line(/joined/)
  const good = await troupe(['run', 'add', '[1,2]', '--manager', address, '--key-file', right]).done()
  assert.is(good.out, '3\n', good.err)
})

t.test('job MODULE#Class prints each pool outcome and the reports', async () => {
  const manager = troupe(['manager', '--listen', 'tcp://127.0.0.1:0'])
  const address = (await manager.line(/listening on (\S+)/))[1] as string
  troupe(['worker', '--manager', address, '--tasks', JOBS, '--mode', 'inline'])
  const job = await troupe(['job', `${JOBS}#Survey`, '--workers', '1', '--manager', address]).done()
  assert.is(job.code, 0, job.err)
  assert.match(job.out, /broadcast 1:\n {2}\S+ {2}ok {5}1/)
  assert.match(job.out, /counted a\n.*counted b/)
  assert.match(job.out, /value: \[2\]/)
})

t.test('a task module that does not load: one line with its error, in thread and process mode', async () => {
  const broken = fileURLToPath(new URL('../fixtures/broken-tasks.ts', import.meta.url))
  const start = (mode: string): Promise<{ code: number | null; err: string }> => troupe(['worker', '--listen', 'tcp://127.0.0.1:0', '--tasks', broken, '--mode', mode, '--workers', '1']).done()
  const [thread, child] = await Promise.all([start('thread'), start('process')])
  const why = 'cannot load the task module \\S+broken-tasks\\.ts: this task module is broken on purpose'
  assert.is(thread.code, 1)
  assert.match(thread.err, new RegExp(`^troupe: ECONFIG: the thread \\d+ did not start: ${why}\n$`))
  assert.is(child.code, 1)
  // the child says why, the pool that it did not start
  assert.match(child.err, new RegExp(`^worker process (\\d+): ${why}\ntroupe: ECONFIG: the process \\1 did not start: it exited with code 1 \\(its output above says why\\)\n$`))
})

t.test('keygen, --help on every command, unknown flags exit 2', async () => {
  const key = await troupe(['keygen']).done()
  assert.match(key.out, /^[A-Za-z0-9_-]{43}\n$/)
  for (const command of ['manager', 'worker', 'run', 'job', 'status', 'stop', 'keygen', 'demo']) {
    const help = await troupe([command, '--help']).done()
    assert.is(help.code, 0, command)
    assert.match(help.out, new RegExp(`usage: troupe ${command}`))
    // every flag's description starts in the same column
    const columns = [...help.out.matchAll(/^ {2}(--\S+(?: [A-Z_]+)?) +(?=\S)/gm)].map((m) => m[0].length)
    assert.is(new Set(columns).size <= 1, true, `${command}: descriptions at columns ${columns.join(', ')}`)
    if (!['keygen', 'demo'].includes(command)) assert.ok(help.out.includes('--connect-timeout MS'), command)
  }
  const unknown = await troupe(['manager', '--listen', 'tcp://127.0.0.1:0', '--bogus']).done()
  assert.is(unknown.code, 2)
  assert.match(unknown.err, /bogus/)
  const missing = await troupe(['worker', '--manager', 'tcp://127.0.0.1:1']).done()
  assert.is(missing.code, 2)
  assert.match(missing.err, /--tasks is required/)
})

t.run()
