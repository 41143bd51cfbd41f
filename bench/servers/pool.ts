/** An inline pool working for the manager at argv[2]. */
import { WorkerPool } from '../../index.js'

const pool = await WorkerPool.start({ manager: process.argv[2] as string, tasks: new URL('../tasks.ts', import.meta.url), mode: 'inline', capacity: 256 })
process.stdout.write(JSON.stringify({ address: pool.id }) + '\n')
process.stdin.resume()
process.stdin.on('end', () => void pool.close().then(() => process.exit(0)))
