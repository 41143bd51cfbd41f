/** `troupe manager`: runs a manager until a signal or `troupe stop`, then drains. */
import { Manager } from '../index.js'
import { NETWORK_FLAGS, NETWORK_ROWS, UsageError, explained, flagTable, integerFlag, networkOptions, parse, serveUntilStopped, type Io } from './common.js'

const USAGE = `usage: troupe manager --listen URL [options]

Queues tasks from clients and routes them to pools.

${flagTable([
  ['--listen URL', 'where to listen: tcp://0.0.0.0:8000, tls://..., unix:///path (required)'],
  ['--queue-size N', 'queued tasks beyond which new ones are rejected (default 4096)'],
  ['--coalesce', 'tasks with the same name and key share one run'],
  ['--sacred-guarantees', 'higher priority ranges borrow only from the lowest range'],
  ['--max-attempts N', 'runs of a task before a worker loss fails it (default 3)'],
  ['--insecure', 'listen off loopback without a key'],
  ...NETWORK_ROWS,
])}`

export async function managerCommand(argv: string[], io: Io): Promise<number> {
  const args = parse(argv, {
    ...NETWORK_FLAGS,
    listen: { type: 'string' },
    'queue-size': { type: 'string' },
    coalesce: { type: 'boolean' },
    'sacred-guarantees': { type: 'boolean' },
    'max-attempts': { type: 'string' },
    insecure: { type: 'boolean' },
  }, USAGE, io)
  if (args === undefined) return 0
  const v = args.values
  if (v.listen === undefined) throw new UsageError(`--listen is required\n\n${USAGE}`)
  const network = networkOptions(v)
  const manager = await explained(Manager.start({
    ...network,
    listen: v.listen,
    queueSize: integerFlag('queue-size', v['queue-size'], 1),
    coalesce: v.coalesce,
    sacredGuarantees: v['sacred-guarantees'],
    maxAttempts: integerFlag('max-attempts', v['max-attempts'], 1),
    insecure: v.insecure,
  }), network)
  io.out(`manager ${manager.id} listening on ${manager.address}`)
  manager.on('worker', (w) => io.out(`pool ${w.id} joined (capacity ${w.capacity})`))
  manager.on('workerLost', (id, running) => io.out(`pool ${id} left (${running} running tasks requeued)`))
  await serveUntilStopped(manager, () => manager.close({ drain: true }), io)
  io.out('manager drained and closed')
  return 0
}
