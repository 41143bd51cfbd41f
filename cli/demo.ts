/**
 * `troupe demo` (what `npm start` runs): a manager, two pools and a client in one process, over
 * mem:// and then over tcp://127.0.0.1, showing routing, a priority, a timeout, a broadcast and
 * a wrong key. Loopback only; exits 0 in a few seconds.
 */
import { Client, Manager, TroupeError, WorkerPool, type TaskContext } from '../index.js'

type Say = (line: string) => void

/** Sleeps `ms`, or stops as soon as the run is aborted (its timeout). */
function sleep(ms: number, ctx: TaskContext): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms, ms)
    ctx.signal.addEventListener('abort', () => {
      clearTimeout(timer)
      reject(ctx.signal.reason)
    })
  })
}

/** The tasks of one pool; `whoami` and `__hello` tell the pools apart. */
function tasksOf(pool: string) {
  return {
    add: ([a, b]: [number, number]) => a + b,
    whoami: () => pool,
    sleep,
    label: async ([label, ms]: [string, number], ctx: TaskContext) => {
      await sleep(ms, ctx)
      return label
    },
    __hello: () => `${pool} here, up ${process.uptime().toFixed(1)} s`,
  }
}

export async function demo(say: Say): Promise<void> {
  const key = 'demo key'
  for (const [step, url] of [[1, 'mem://troupe-demo'], [2, 'tcp://127.0.0.1:0']] as const) {
    const manager = await Manager.start({ listen: url, key })
    const pools = await Promise.all(['pool A', 'pool B'].map((name) => WorkerPool.start({ manager: manager.address, key, tasks: tasksOf(name), workers: 1 })))
    const client = await Client.connect(manager.address, { key })
    try {
      say(`${step}. ${manager.address}: a manager, two pools of capacity 1, a client`)
      say(`   run('add', [4, 7]) → ${await client.run('add', [4, 7])}`)

      const spread = await client.all<string>('whoami', [1, 2, 3, 4])
      say(`   routing: 4 tasks at once went to ${spread.join(', ')} (least loaded first)`)

      const finished: string[] = []
      const busy = [client.run('sleep', 150), client.run('sleep', 150)] // both pools taken
      const queued = [
        client.run<string>('label', ['low', 10], { priority: 0 }).then((l) => finished.push(l)),
        client.run<string>('label', ['high', 10], { priority: 5 }).then((l) => finished.push(l)),
      ]
      await Promise.all([...busy, ...queued])
      say(`   priority: queued low, then high; they finished ${finished.join(' then ')}`)

      await client.run('sleep', 5000, { runTimeout: 100 }).catch((err: TroupeError) => say(`   timeout: sleep(5000) with runTimeout 100 → ${err.code}: ${err.message}`))

      const outcomes = await client.broadcast<string>('__hello', null)
      say(`   broadcast('__hello') → one outcome per pool:`)
      for (const o of outcomes) say(`     ${o.ok ? o.value : `${o.error.code} ${o.error.message}`}`)

      await Client.connect(manager.address, { key: 'a guess', reconnect: false }).catch((err: TroupeError) => say(`   a client with a wrong key → ${err.code}`))
    } finally {
      await client.close()
      await Promise.all(pools.map((p) => p.close({ drain: true })))
      await manager.close()
    }
  }
  say('3. closed: pools drained, every call settled')
}
