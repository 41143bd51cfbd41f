/** A standalone pool of child processes (one per CPU), for clients to connect to directly. */
import { WorkerPool } from '../../index.js'

const pool = await WorkerPool.start({ listen: 'tcp://127.0.0.1:0', tasks: new URL('../tasks.ts', import.meta.url), mode: 'process', capacity: 256 })
process.stdout.write(JSON.stringify({ address: pool.address }) + '\n')
process.stdin.resume()
process.stdin.on('end', () => void pool.close().then(() => process.exit(0)))
