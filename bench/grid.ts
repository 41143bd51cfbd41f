/**
 * Task grid figures: a task's round trip client → manager → pool → client with each in its own
 * process over tcp://, the same in one process over mem://, a standalone process pool, and the
 * manager's memory with 100 000 tasks queued.
 */
import { Client, Manager, WorkerPool } from '../index.js'
import { startServer } from './children.js'
import { closedLoop, type LoopOptions } from './measure.js'

async function validated(client: Client): Promise<Client> {
  for (const probe of [0, 'x', [1, 2]]) {
    const answer = await client.run('echo', probe)
    if (JSON.stringify(answer) !== JSON.stringify(probe)) throw new Error(`echo answered ${JSON.stringify(answer)}`)
  }
  return client
}

async function loop(address: string, options: LoopOptions) {
  const client = await validated(await Client.connect(address))
  try {
    return await closedLoop((i) => client.run('echo', i), options)
  } finally {
    await client.close()
  }
}

/** A manager and an inline pool, each in its own process; the client here. */
export async function tcpGrid(): Promise<string> {
  const manager = await startServer('manager.ts')
  await startServer('pools.ts', [manager.address])
  return manager.address
}

export const taskOverTcp = (address: string, options: LoopOptions) => loop(address, options)

export async function taskOverMemory(options: LoopOptions) {
  const manager = await Manager.start({ listen: 'mem://bench-grid' })
  const pool = await WorkerPool.start({ manager: manager.address, tasks: { echo: (x: unknown) => x }, capacity: 256 })
  try {
    return await loop(manager.address, options)
  } finally {
    await pool.close()
    await manager.close()
  }
}

export async function processPool(options: LoopOptions) {
  const pool = await startServer('process-pool.ts')
  return loop(pool.address, options)
}

/** Queues 100 000 tasks on a manager (compiled, no pool) and reads its RSS. */
export async function queuedMemory(): Promise<{ opsPerS: number; p50: number; p99: number; rssMb: number }> {
  const manager = await startServer('queue-manager.mjs')
  const client = await Client.connect(manager.address)
  try {
    const before = performance.now()
    const calls = Array.from({ length: 100_000 }, (_, i) => client.run('echo', i).catch(() => {}))
    await client.stats() // behind every submit on the same connection: all are queued now
    const stats = await client.stats()
    if (stats.queued !== 100_000) throw new Error(`expected 100000 queued, the manager has ${stats.queued}`)
    const elapsed = performance.now() - before
    await client.systemMessage('rss', { to: 'manager' })
    const { rss } = (await manager.nextLine()) as { rss: number }
    void calls
    return { opsPerS: (100_000 / elapsed) * 1000, p50: NaN, p99: NaN, rssMb: rss / 1024 / 1024 }
  } finally {
    await client.close()
  }
}
