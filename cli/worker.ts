/** `troupe worker`: a pool for a manager, or standalone, until a signal or `troupe stop`. */
import { WorkerPool, type PoolMode } from '../index.js'
import { DEFAULT_MANAGER, NETWORK_FLAGS, NETWORK_ROWS, UsageError, explained, flagTable, integerFlag, managerUrl, networkOptions, parse, serveUntilStopped, type Io } from './common.js'

const USAGE = `usage: troupe worker (--manager URL | --listen URL) --tasks MODULE [options]

Runs a pool of workers for a manager, or standalone (clients connect to it directly).

${flagTable([
  ['--manager URL', `the manager to work for (default: $TROUPE_MANAGER or ${DEFAULT_MANAGER})`],
  ['--listen URL', 'standalone: where clients connect'],
  ['--tasks MODULE', 'the task module (a path or a URL) (required)'],
  ['--workers N', 'processes or threads (default: the number of CPUs)'],
  ['--capacity N', 'tasks at once (default: --workers)'],
  ['--mode M', 'process, thread or inline (default process)'],
  ['--allow-eval', 'run code sent by clients (client.eval)'],
  ['--insecure', 'standalone: listen off loopback without a key'],
  ...NETWORK_ROWS,
])}`

export async function workerCommand(argv: string[], io: Io): Promise<number> {
  const args = parse(argv, {
    ...NETWORK_FLAGS,
    manager: { type: 'string' },
    listen: { type: 'string' },
    tasks: { type: 'string' },
    workers: { type: 'string' },
    capacity: { type: 'string' },
    mode: { type: 'string' },
    'allow-eval': { type: 'boolean' },
    insecure: { type: 'boolean' },
  }, USAGE, io)
  if (args === undefined) return 0
  const v = args.values
  if (v.tasks === undefined) throw new UsageError(`--tasks is required\n\n${USAGE}`)
  if (v.manager !== undefined && v.listen !== undefined) throw new UsageError(`--manager and --listen exclude each other\n\n${USAGE}`)
  const mode = v.mode ?? 'process'
  if (!['process', 'thread', 'inline'].includes(mode)) throw new UsageError(`--mode is process, thread or inline, not "${mode}"`)
  const network = networkOptions(v)
  const where = v.listen === undefined ? { manager: managerUrl(v.manager) } : { listen: v.listen }
  const pool = await explained(WorkerPool.start({
    ...network,
    ...where,
    tasks: v.tasks, // a path or a URL, as WorkerPool.start takes it
    mode: mode as PoolMode,
    workers: integerFlag('workers', v.workers, 1, 1024),
    capacity: integerFlag('capacity', v.capacity, 1),
    allowEval: v['allow-eval'],
    insecure: v.insecure,
  }), network, where.manager)
  io.out(pool.address === undefined ? `pool ${pool.id} working for ${where.manager}` : `pool ${pool.id} listening on ${pool.address}`)
  pool.on('disconnected', (why) => io.out(`lost the manager (${why.message}); reconnecting`))
  pool.on('connected', (manager) => io.out(`joined manager ${manager}`))
  // while the pool drains it takes no new task: a worker's exit is not worth more than a note
  let draining = false
  pool.on('workerExit', (index, why) => io.out(`worker ${index} exited (${why})${draining ? ' while the pool drains' : '; respawning'}`))
  await serveUntilStopped(pool, () => {
    draining = true
    return pool.close({ drain: true })
  }, io)
  io.out('pool drained and closed')
  return 0
}
