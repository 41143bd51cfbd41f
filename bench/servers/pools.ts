/** argv[3] (default 1) inline pools in this one process, working for the manager at argv[2] over one shared connection. */
import { WorkerPool } from '../../index.js'

const count = Number(process.argv[3] ?? 1)
const tasks = new URL('../tasks.ts', import.meta.url)
const pools = await Promise.all(Array.from({ length: count }, () => WorkerPool.start({ manager: process.argv[2] as string, tasks, mode: 'inline', capacity: 256 })))
process.stdout.write(JSON.stringify({ address: pools.map((p) => p.id).join(',') }) + '\n')
process.stdin.resume()
process.stdin.on('end', () => void Promise.all(pools.map((p) => p.close())).then(() => process.exit(0)))
