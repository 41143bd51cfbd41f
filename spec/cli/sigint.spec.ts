/**
 * `troupe worker` and Ctrl-C. A terminal sends SIGINT to its whole foreground process group: the
 * CLI and the children of its pool. The pool drains on it; its children must not die of it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import * as assert from 'uvu/assert'
import { Client, Manager } from '../../index.js'
import { alive, closed } from '../children.js'
import { deferred, suite, withDeadline } from '../harness.js'

const t = suite('troupe worker and SIGINT')
const cli = fileURLToPath(new URL('../../cli/main.ts', import.meta.url))
const TASKS = fileURLToPath(new URL('../fixtures/tasks.ts', import.meta.url))

/** `troupe worker` with one process worker, leading a process group of its own. */
function worker(manager: Manager): { child: ChildProcess; output: () => string; joined: Promise<void>; closed: Promise<{ code: number | null }> } {
  const joined = deferred()
  manager.once('worker', () => joined.resolve())
  const child = spawn(process.execPath, [...process.execArgv, cli, 'worker', '--manager', manager.address as string, '--tasks', TASKS, '--workers', '1'], {
    detached: true, // its own group, so that a SIGINT to the group reaches nothing of ours
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TROUPE_KEY_FILE: '' },
  })
  const group = child.pid as number
  // whatever of the group is left (the CLI or a child of its pool), killed by the group's id
  t.cleanup(() => {
    if (alive(-group)) process.kill(-group, 'SIGKILL')
  })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => (out += c))
  child.stderr?.on('data', (c: Buffer) => (out += c))
  const over = closed(child)
  void over.then(() => joined.reject(new Error(`troupe worker exited before joining:\n${out}`)))
  return { child, output: () => out, joined: joined.promise, closed: over }
}

/** A manager, a `troupe worker` joined to it, and a `pidSleep` of `ms` running in the worker's child. */
async function taskRunningInWorker(ms: number) {
  const manager = await Manager.start({ listen: 'tcp://127.0.0.1:0' })
  t.cleanup(() => manager.close())
  const w = worker(manager)
  await withDeadline(w.joined, 15_000, 'troupe worker to join the manager')
  const client = await Client.connect(manager.address, { reconnect: false })
  t.cleanup(() => client.close())
  const started = deferred<number>()
  const call = client.run<{ pid: number; attempt: number }>('pidSleep', ms, { onProgress: (pid) => started.resolve(pid as number) })
  call.catch(() => {}) // awaited by the test, or ended by the cleanup
  const childPid = await withDeadline(started.promise, 10_000, 'the task to start')
  return { manager, w, call, childPid }
}

t.test('SIGINT to the process group: the running task completes there, and the CLI exits 0 leaving no child', async () => {
  const { manager, w, call, childPid } = await taskRunningInWorker(1000)
  process.kill(-(w.child.pid as number), 'SIGINT') // as Ctrl-C in a terminal does

  const result = await withDeadline(call, 10_000, 'the task to complete')
  assert.equal(result, { pid: childPid, attempt: 1 }, 'it completed in the child that started it')
  assert.is(manager.stats().requeued, 0)
  const { code } = await withDeadline(w.closed, 15_000, 'troupe worker to exit')
  assert.is(code, 0, w.output())
  assert.match(w.output(), /pool drained and closed/)
  assert.not.match(w.output(), /respawning/)
  assert.not.ok(alive(childPid), 'the pool child has exited')
  assert.not.ok(alive(-(w.child.pid as number)), 'nothing of the process group is left')
})

t.test('a worker that dies while the pool drains is not reported as respawning', async () => {
  const { w, childPid } = await taskRunningInWorker(30_000) // re-queued with no pool left to run it; ended by the cleanup
  const drainingSeen = new Promise<void>((resolve) => {
    const check = (): void => {
      if (/draining/.test(w.output())) resolve()
    }
    w.child.stdout?.on('data', check)
    check()
  })
  process.kill(w.child.pid as number, 'SIGINT')
  await withDeadline(drainingSeen, 10_000, 'troupe worker to start draining')
  process.kill(childPid, 'SIGKILL')

  const { code } = await withDeadline(w.closed, 15_000, 'troupe worker to exit')
  assert.is(code, 0, w.output())
  assert.match(w.output(), /worker 0 exited/)
  assert.not.match(w.output(), /respawning/)
})

t.run()
