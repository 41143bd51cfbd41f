/**
 * Broadcast figures: one client broadcasting `__ping` (it answers with its input) to every
 * pool, one broadcast at a time — to 8 inline pools over mem:// in this process, and to 4
 * inline pools over tcp:// with the manager in one process and the pools in another. Pools of one
 * process share their connection to the manager (actors/manager-link.ts), so a broadcast there
 * costs one write each way; four pools in four processes cost four (bench/RESULTS.md).
 */
import { Client, Manager, WorkerPool } from '../index.js'
import tasks from './tasks.js'
import { startServer } from './children.js'
import { closedLoop, sleep, type LoopOptions } from './measure.js'

/** Waits for `pools` pools to join, then checks that a broadcast gets `pools` ok echoes. */
async function validated(client: Client, pools: number): Promise<Client> {
  const until = performance.now() + 10_000
  while ((await client.stats()).workers < pools) {
    if (performance.now() > until) throw new Error(`fewer than ${pools} pools joined the manager within 10 s`)
    await sleep(10)
  }
  for (const probe of [0, 'x', [1, 2]]) {
    const outcomes = await client.broadcast('__ping', probe, { min: pools })
    const wrong = outcomes.filter((o) => !o.ok || JSON.stringify(o.value) !== JSON.stringify(probe))
    if (outcomes.length !== pools || wrong.length > 0 || new Set(outcomes.map((o) => o.worker)).size !== pools) {
      throw new Error(`a broadcast of ${JSON.stringify(probe)} to ${pools} pools answered ${JSON.stringify(outcomes)}`)
    }
  }
  return client
}

async function loop(address: string, pools: number, options: LoopOptions) {
  const client = await validated(await Client.connect(address), pools)
  try {
    return await closedLoop(async (i) => {
      const outcomes = await client.broadcast('__ping', i)
      if (outcomes.length !== pools) throw new Error(`a broadcast got ${outcomes.length} outcomes, not ${pools}`)
    }, options)
  } finally {
    await client.close()
  }
}

export async function broadcastOverMemory(pools: number, options: LoopOptions) {
  const manager = await Manager.start({ listen: 'mem://bench-broadcast' })
  const started = await Promise.all(Array.from({ length: pools }, () => WorkerPool.start({ manager: manager.address, tasks, mode: 'inline', capacity: 256 })))
  try {
    return await loop(manager.address, pools, options)
  } finally {
    await Promise.all(started.map((p) => p.close()))
    await manager.close()
  }
}

/** A manager in one process and `pools` inline pools in another; the client here. */
export async function broadcastOverTcp(pools: number, options: LoopOptions) {
  const manager = await startServer('manager.ts')
  await startServer('pools.ts', [manager.address, String(pools)])
  return loop(manager.address, pools, options)
}
