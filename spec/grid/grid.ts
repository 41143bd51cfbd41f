/** Starting grids for specs: a manager, pools and clients over one scheme, all cleaned up. */
import { Client, Manager, WorkerPool, type ClientOptions, type ManagerOptions, type WorkerPoolOptions } from '../../index.js'
import type { BoundedSuite } from '../harness.js'
import { memoryUrl } from '../transports/drivers.js'

export const FIXTURE_TASKS = new URL('../fixtures/tasks.ts', import.meta.url)
export const schemes = ['mem', 'tcp'] as const
export type Scheme = (typeof schemes)[number]

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
