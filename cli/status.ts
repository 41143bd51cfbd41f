/** `troupe status`: the manager's pools, capacity, load, queue and rates, as a table or JSON. */
import type { ManagerStats } from '../index.js'
import { MAX_DELAY_MS } from '../lib/clock.js'
import { DEFAULT_MANAGER, NETWORK_FLAGS, NETWORK_ROWS, connect, flagTable, integerFlag, networkOptions, parse, toJson, type Io } from './common.js'

const USAGE = `usage: troupe status [options]

Prints the manager's pools (capacity, load, average run time), its queue, its counters,
and the rate of finished tasks measured over --interval.

${flagTable([
  ['--manager URL', `default: $TROUPE_MANAGER or ${DEFAULT_MANAGER}`],
  ['--interval MS', 'how long to measure rates (default 500; 0: no rates)'],
  ['--json', 'print the stats as one JSON object'],
  ...NETWORK_ROWS,
])}`

export async function statusCommand(argv: string[], io: Io): Promise<number> {
  const args = parse(argv, { ...NETWORK_FLAGS, manager: { type: 'string' }, interval: { type: 'string' }, json: { type: 'boolean' } }, USAGE, io)
  if (args === undefined) return 0
  const v = args.values
  const intervalMs = integerFlag('interval', v.interval, 0, MAX_DELAY_MS) ?? 500
  const client = await connect(v.manager, networkOptions(v))
  try {
    let stats = await client.stats()
    let rate: number | undefined
    if (intervalMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, intervalMs))
      const first = stats
      stats = await client.stats()
      rate = ((stats.done + stats.failed - first.done - first.failed) * 1000) / intervalMs
    }
    io.out(v.json === true ? toJson({ ...stats, ...(rate === undefined ? {} : { tasksPerSecond: rate }) }) : table(stats, rate))
    return 0
  } finally {
    await client.close()
  }
}

function table(s: ManagerStats, rate: number | undefined): string {
  const rows = [['POOL', 'CAPACITY', 'LOAD', 'AVG RUN MS'], ...s.pools.map((p) => [p.id, String(p.capacity), String(p.load), p.avgRunMs.toFixed(1)])]
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
  const lines = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd())
  return [
    `manager ${s.id}: ${s.workers} pools, capacity ${s.capacity}, busy ${s.busy}, queued ${s.queued}, clients ${s.clients}`,
    `tasks: ${s.done} done, ${s.failed} failed, ${s.rejected} rejected, ${s.requeued} requeued, ${s.lost} lost${rate === undefined ? '' : `, ${rate.toFixed(1)}/s`}`,
    '',
    ...lines,
  ].join('\n')
}
