/**
 * Test scaffolding. uvu has no per-test timeout, so every test here races a deadline; every
 * resource a test opens is registered with `cleanup()` and released in `after.each`, which uvu
 * runs even when an assertion failed.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { suite as uvuSuite } from 'uvu'
import * as assert from 'uvu/assert'
import type { EventEmitter } from 'eventemitter3'
import { TroupeError } from '../lib/errors.js'

// A rejection nobody handled is a test bug. It fails the run (exit code 1) loudly, but does not
// kill the process: that would lose the report of every test after it. The exit code is set on
// 'exit' because uvu sets its own (0 when every assertion passed) when it finishes.
let unhandledRejections = 0
process.on('unhandledRejection', (reason) => {
  unhandledRejections++
  console.error('UNHANDLED REJECTION (fails the run):', reason)
})
process.on('exit', () => {
  if (unhandledRejections === 0) return
  console.error(`${unhandledRejections} unhandled rejection(s): failing the run`)
  process.exitCode = 1
})

const DEFAULT_DEADLINE_MS = 20_000
const CLEANUP_DEADLINE_MS = 10_000

/**
 * How many of `refs` still reach their object after a full garbage collection. V8 exposes its
 * gc function on request, so the suite needs no --expose-gc. Make the refs in a function of
 * their own: a suspended async test keeps its last loop values in its frame.
 */
export async function stillReachable(refs: readonly WeakRef<object>[]): Promise<number> {
  await new Promise(setImmediate) // a WeakRef holds its target until the current job ends
  setFlagsFromString('--expose-gc')
  ;(runInNewContext('gc') as () => void)()
  return refs.filter((r) => r.deref() !== undefined).length
}

/** Resolves with `promise`, or rejects once `ms` pass. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`deadline: ${what} did not finish within ${ms} ms`)), ms)
  })
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
}

export interface BoundedSuite {
  /** A test that fails if it runs past `deadlineMs`. */
  test(title: string, body: () => Promise<void> | void, deadlineMs?: number): void
  /** Registers a release to run after the current test, last registered first. */
  cleanup(release: () => unknown): void
  /** A fresh directory under the system's temp dir, removed after the current test. */
  tempDir(prefix: string): Promise<string>
  run(): void
}

export function suite(name: string): BoundedSuite {
  const s = uvuSuite(name)
  const releases: (() => unknown)[] = []
  s.after.each(async () => {
    while (releases.length > 0) {
      const release = releases.pop() as () => unknown
      await withDeadline(Promise.resolve().then(release), CLEANUP_DEADLINE_MS, `cleanup in ${name}`).catch((err: unknown) => {
        console.error(`cleanup failed in ${name}:`, err)
      })
    }
  })
  return {
    test(title, body, deadlineMs = DEFAULT_DEADLINE_MS) {
      s(title, () => withDeadline(Promise.resolve().then(body), deadlineMs, `${name} › ${title}`))
    },
    cleanup(release) {
      releases.push(release)
    },
    async tempDir(prefix) {
      const dir = await mkdtemp(join(tmpdir(), prefix))
      releases.push(() => rm(dir, { recursive: true, force: true }))
      return dir
    },
    run() {
      s.run()
    },
  }
}

/** Waits for one `event` on an eventemitter3 or Node emitter, within `ms`. */
export function nextEvent<A extends unknown[] = unknown[]>(
  emitter: Pick<EventEmitter, 'once' | 'off'> | NodeJS.EventEmitter,
  event: string,
  ms = 5000,
): Promise<A> {
  let handler: ((...args: unknown[]) => void) | undefined
  const got = new Promise<A>((resolve) => {
    handler = (...args: unknown[]) => resolve(args as A)
    ;(emitter as NodeJS.EventEmitter).once(event, handler)
  })
  const waiting = withDeadline(got, ms, `event "${event}"`).finally(() => (emitter as NodeJS.EventEmitter).off(event, handler as never))
  waiting.catch(() => {}) // awaited later by the test; a deadline must fail that test, not crash the run
  return waiting
}

/** Asserts that `promise` rejects with a TroupeError of `code`, and returns the error. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<TroupeError> {
  try {
    const value = await promise
    assert.unreachable(`expected ${code}, resolved with ${JSON.stringify(value)}`)
  } catch (err) {
    if (!(err instanceof TroupeError)) throw err
    assert.is(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`)
    return err
  }
  throw new Error('unreachable')
}

/** Counts how often a promise settles, to check that something settles exactly once. */
export function settlements(promise: Promise<unknown>): { readonly count: number; readonly done: Promise<void> } {
  let count = 0
  const done = promise.then(
    () => void count++,
    () => void count++,
  )
  return {
    get count() {
      return count
    },
    done,
  }
}

/** A promise plus the functions that settle it. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (err: unknown) => void } {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

let uniqueCounter = 0
/** A name no other test in this process uses (mem:// names, socket paths). */
export function unique(prefix: string): string {
  return `${prefix}-${process.pid}-${++uniqueCounter}`
}
