/** `troupe job MODULE#Class`: runs a broadcast job and prints every pool's outcomes and reports. */
import type { JobClass } from '../index.js'
import { moduleUrl } from '../actors/tasks.js'
import { MAX_DELAY_MS } from '../lib/clock.js'
import { DEFAULT_MANAGER, NETWORK_FLAGS, NETWORK_ROWS, UsageError, connect, flagTable, integerFlag, networkOptions, parse, toJson, type Io } from './common.js'

const USAGE = `usage: troupe job MODULE#Class [options]

Runs the Job subclass Class exported by MODULE: waits for --workers pools, runs its
run(all) here, and prints each broadcast's outcome per pool, then every pool's reports.
Pools must have loaded the same job (their --tasks module exports it).

${flagTable([
  ['--manager URL', `default: $TROUPE_MANAGER or ${DEFAULT_MANAGER}`],
  ['--workers N', 'wait for this many pools first (default 0)'],
  ['--timeout MS', 'bound on each broadcast and on the wait (default 30000)'],
  ...NETWORK_ROWS,
])}`

export async function jobCommand(argv: string[], io: Io): Promise<number> {
  const args = parse(argv, { ...NETWORK_FLAGS, manager: { type: 'string' }, workers: { type: 'string' }, timeout: { type: 'string' } }, USAGE, io, 1)
  if (args === undefined) return 0
  const [spec] = args.positionals
  const hash = spec?.lastIndexOf('#') ?? -1
  if (spec === undefined || hash <= 0) throw new UsageError(`expected MODULE#Class\n\n${USAGE}`)
  const className = spec.slice(hash + 1)
  const mod = (await import(moduleUrl(spec.slice(0, hash)))) as Record<string, unknown>
  const Class = mod[className]
  if (typeof Class !== 'function') throw new UsageError(`${spec.slice(0, hash)} exports no class ${className}`)
  const v = args.values
  const options = { workers: integerFlag('workers', v.workers), timeout: integerFlag('timeout', v.timeout, 1, MAX_DELAY_MS) }
  const client = await connect(v.manager, networkOptions(v))
  try {
    const result = await client.job(Class as JobClass, options).run()
    let failures = 0
    result.outcomes.forEach((outcomes, i) => {
      io.out(`broadcast ${i + 1}:`)
      for (const o of outcomes) {
        if (o.ok) io.out(`  ${o.worker}  ok     ${toJson(o.value)}  (${o.ms.toFixed(1)} ms)`)
        else {
          failures++
          io.out(`  ${o.worker}  ${o.error.code.padEnd(6)} ${o.error.message}`)
        }
      }
    })
    io.out('reports:')
    for (const r of result.reports) io.out(`  ${new Date(r.time).toISOString()}  ${r.worker}  ${r.message}`)
    io.out(`value: ${toJson(result.value)}`)
    return failures === 0 ? 0 : 1
  } finally {
    await client.close()
  }
}
