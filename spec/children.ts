/**
 * Child processes for tests: started from `spec/fixtures`, announcing themselves with one JSON
 * line on stdout, and stopped as tinypool stops its workers: a signal, SIGKILL after a grace
 * period, then waiting for 'exit'. A fixture also exits when its stdin closes, so a crashed
 * test run leaves no orphans.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { withDeadline } from './harness.js'

export interface Fixture<T> {
  child: ChildProcess
  /** What the fixture printed on its first stdout line. */
  hello: T
  /** Later stdout lines, parsed as JSON where they are JSON. */
  lines: AsyncIterator<string>
}

const STOP_GRACE_MS = 2000

/** Starts `spec/fixtures/<name>` under tsx and waits for its first line. */
export async function startFixture<T = Record<string, unknown>>(name: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Fixture<T>> {
  const file = fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))
  const child = spawn(process.execPath, [...process.execArgv, file, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  })
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]()
  const first = await withDeadline(lines.next(), 15_000, `fixture ${name} to start`).catch(async (err: unknown) => {
    await stopChild(child)
    throw err
  })
  if (first.done === true) throw new Error(`fixture ${name} exited before announcing itself`)
  return { child, hello: JSON.parse(first.value) as T, lines }
}

/** Resolves when the child has exited, with its exit code or signal. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
}

/**
 * Resolves once `child` has exited and its stdio has closed, so everything it printed has been
 * read ('exit' may come first). Call it before the child can have closed, e.g. right after spawn.
 */
export function closed(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal })))
}

/** True while process `pid` exists (signal 0 only checks). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Stops a child we started: `signal`, then SIGKILL after a grace period; waits for its exit. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exit = exited(child)
  child.kill('SIGCONT') // a stopped process cannot act on SIGTERM
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
  await exit
  clearTimeout(timer)
}

const donor = fileURLToPath(new URL('./fixtures/socketpair-donor.ts', import.meta.url))

/**
 * A child with a socketpair on its fd 3, made as the ipc transport makes one (a stdio 'pipe'),
 * that has handed its end back to us and exited: `theirs` is that end, `child.stdio[3]` ours.
 */
export async function donatedSocketpair(): Promise<{ child: ChildProcess; theirs: Socket }> {
  const child = spawn(process.execPath, [...process.execArgv, donor], { stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'ipc'] })
  const theirs = await withDeadline(
    new Promise<Socket>((resolve, reject) => {
      child.once('message', (_m, handle) => resolve(handle as Socket))
      child.once('exit', () => reject(new Error('the donor exited without sending its socket')))
    }),
    10_000,
    'socketpair donor',
  )
  return { child, theirs }
}
