/** Starting grids for specs: a manager, pools and clients over one scheme, all cleaned up. */
import { Client, Manager, WorkerPool, type ClientOptions, type ManagerOptions, type WorkerPoolOptions } from '../../index.js'
import { deferred, type BoundedSuite } from '../harness.js'
import { memoryUrl } from '../transports/drivers.js'

export const FIXTURE_TASKS = new URL('../fixtures/tasks.ts', import.meta.url)
export const schemes = ['mem', 'tcp'] as const
export type Scheme = (typeof schemes)[number]

/**
 * An inline task that runs until the test releases it, ignoring its signal, so that it holds its
 * slot while the test does something else. Released at the suite's cleanup too, registered before
 * the pool's close and so run after it: a failed test must not leave it keeping the pool open.
 */
export function heldTask(t: BoundedSuite) {
  const started = deferred()
  const gate = deferred<string>()
  const release = (): void => gate.resolve('released')
  t.cleanup(release)
  const task = (): Promise<string> => {
    started.resolve()
    return gate.promise
  }
  return { task, started: started.promise, release }
}

export function listenUrl(scheme: Scheme): string {
  return scheme === 'mem' ? memoryUrl() : 'tcp://127.0.0.1:0'
}

export class Grid {
  readonly t: BoundedSuite
  readonly scheme: Scheme
  manager!: Manager

  constructor(t: BoundedSuite, scheme: Scheme) {
    this.t = t
    this.scheme = scheme
  }

  async startManager(options: Partial<ManagerOptions> = {}): Promise<Manager> {
    this.manager = await Manager.start({ listen: listenUrl(this.scheme), ...options })
    this.t.cleanup(() => this.manager.close())
    return this.manager
  }

  async pool(options: Partial<WorkerPoolOptions> = {}): Promise<WorkerPool> {
    const pool = await WorkerPool.start({ manager: this.manager.address, tasks: FIXTURE_TASKS, mode: 'inline', ...options } as WorkerPoolOptions)
    this.t.cleanup(() => pool.close())
    return pool
  }

  async client(options: ClientOptions = {}, url = this.manager.address): Promise<Client> {
    const client = await Client.connect(url, options)
    this.t.cleanup(() => client.close())
    return client
  }
}

/** Resolves when `manager` has `n` pools. */
export async function poolsJoined(manager: Manager, n: number): Promise<void> {
  while (manager.stats().workers < n) await new Promise((resolve) => manager.once('worker', resolve))
}
