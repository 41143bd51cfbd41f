/**
 * `npm run bench [-- FILTER] [--json] [--duration MS]`
 *
 * Every figure is printed with ops/s, p50/p99 and its ratio to a raw baseline measured in the
 * same run. Each figure checks its own answers before timing (a wrong echo aborts the run).
 * FILTER is a substring or regular expression over figure names; the baselines the selected
 * figures need run too. `--json` prints one JSON line per figure.
 */
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { askInProcess, askOverMemory, askOverTcp } from './actors.js'
import { startServer, stopServers } from './children.js'
import { askFrameBytes, cborxAlone, envelopeRoundTrip } from './codec.js'
import type { Figure, LoopOptions } from './measure.js'
import { functionCall, socketpairEcho, tcpEcho } from './raw.js'
import { processPool, queuedMemory, taskOverMemory, taskOverTcp, tcpGrid } from './grid.js'
import { broadcastOverMemory, broadcastOverTcp } from './broadcast.js'

interface Spec {
  name: string
  baseline: string | null
  /** Figures naming the same servers share them; they are stopped once the last has run. */
  servers?: string
  /** Also report p50 ÷ the baseline's p50 (`p50_ratio`). */
  p50Ratio?: true
  run(loop: (concurrency: number) => LoopOptions): Promise<{ opsPerS: number; p50: number; p99: number; rssMb?: number }>
}

const { values, positionals } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    duration: { type: 'string', default: '2000' },
  },
  allowPositionals: true,
})
const durationMs = Number(values.duration)
const warmupMs = Math.min(1000, durationMs / 2)
const loop = (concurrency: number): LoopOptions => ({ concurrency, durationMs, warmupMs })

// servers in other processes, started on first use and shared by the figures naming them
const servers = new Map<string, Promise<string>>()
const shared = (name: string, start: () => Promise<string>): Promise<string> => {
  if (!servers.has(name)) servers.set(name, start())
  return servers.get(name) as Promise<string>
}
const server = (name: string): Promise<string> => shared(name, () => startServer(name).then((s) => s.address))
const grid = (): Promise<string> => shared('grid', tcpGrid)

const specs: Spec[] = [
  { name: 'call.inproc.c256', baseline: null, run: (l) => functionCall(l(256)) },
  { name: 'ask.inproc.c256', baseline: 'call.inproc.c256', run: (l) => askInProcess(l(256)) },
  { name: 'ask.mem.c256', baseline: 'call.inproc.c256', run: (l) => askOverMemory(l(256)) },
  { name: 'tcp.echo.c1', baseline: null, servers: 'tcp-echo.ts', run: async (l) => tcpEcho(await server('tcp-echo.ts'), askFrameBytes(), 1, l(1)) },
  { name: 'tcp.echo.c256', baseline: null, servers: 'tcp-echo.ts', run: async (l) => tcpEcho(await server('tcp-echo.ts'), askFrameBytes(), 256, l(256)) },
  { name: 'pair.echo.c256', baseline: null, run: (l) => socketpairEcho(askFrameBytes(), 256, l(256)) },
  { name: 'ask.tcp.c1', baseline: 'tcp.echo.c1', servers: 'actor-server.ts', run: async (l) => askOverTcp(await server('actor-server.ts'), l(1)) },
  { name: 'ask.tcp.c256', baseline: 'tcp.echo.c256', servers: 'actor-server.ts', run: async (l) => askOverTcp(await server('actor-server.ts'), l(256)) },
  { name: 'task.tcp.c1', baseline: 'tcp.echo.c1', servers: 'grid', run: async (l) => taskOverTcp(await grid(), l(1)) },
  { name: 'task.tcp.c256', baseline: 'tcp.echo.c256', servers: 'grid', run: async (l) => taskOverTcp(await grid(), l(256)) },
  { name: 'task.mem.c256', baseline: 'call.inproc.c256', run: (l) => taskOverMemory(l(256)) },
  { name: 'task.process.c256', baseline: 'pair.echo.c256', run: (l) => processPool(l(256)) },
  { name: 'broadcast.mem.8', baseline: null, run: (l) => broadcastOverMemory(8, l(1)) },
  { name: 'broadcast.tcp.4', baseline: 'task.tcp.c1', p50Ratio: true, run: (l) => broadcastOverTcp(4, l(1)) },
  { name: 'queue.100k', baseline: null, run: () => queuedMemory() },
  { name: 'codec.cbor-x', baseline: null, run: async () => cborxAlone(durationMs, warmupMs) },
  { name: 'codec.envelope', baseline: 'codec.cbor-x', run: async () => envelopeRoundTrip(durationMs, warmupMs) },
]

function selected(): Spec[] {
  const filter = positionals[0]
  if (filter === undefined) return specs
  const pattern = new RegExp(filter)
  const wanted = new Set(specs.filter((s) => pattern.test(s.name)).map((s) => s.name))
  for (const s of specs) if (wanted.has(s.name) && s.baseline !== null) wanted.add(s.baseline)
  return specs.filter((s) => wanted.has(s.name))
}

function print(figure: Figure): void {
  if (values.json) {
    process.stdout.write(JSON.stringify(figure) + '\n')
    return
  }
  const p50 = figure.p50_ratio === undefined ? '' : `   p50 ${figure.p50_ratio.toFixed(3)}× ${figure.baseline}`
  const ratio = figure.rss_mb !== undefined ? `RSS ${figure.rss_mb} MB` : figure.ratio === null ? '' : `${figure.ratio.toFixed(3)}× ${figure.baseline}`
  const ops = Math.round(figure.ops_per_s).toLocaleString('en-US').padStart(12)
  process.stdout.write(`${figure.name.padEnd(20)} ${ops} ops/s   p50 ${figure.p50_us.toFixed(1).padStart(8)} µs   p99 ${figure.p99_us.toFixed(1).padStart(8)} µs   ${ratio}${p50}\n`)
}

async function main(): Promise<void> {
  if (!values.json) {
    process.stdout.write(`troupe bench — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${durationMs} ms per figure\n`)
  }
  const results = new Map<string, Figure>()
  const chosen = selected()
  try {
    for (const [i, spec] of chosen.entries()) {
      // each figure starts from a collected heap here (node --expose-gc)
      globalThis.gc?.()
      const r = await spec.run(loop)
      // a server left idle still collects its garbage, on the cores the next figure measures
      if (spec.servers === undefined || chosen[i + 1]?.servers !== spec.servers) {
        await stopServers()
        servers.clear()
      }
      const base = spec.baseline === null ? undefined : results.get(spec.baseline)
      const figure: Figure = {
        name: spec.name,
        ops_per_s: Math.round(r.opsPerS),
        p50_us: Number(r.p50.toFixed(2)),
        p99_us: Number(r.p99.toFixed(2)),
        baseline: spec.baseline,
        ratio: base === undefined ? null : Number((r.opsPerS / base.ops_per_s).toFixed(4)),
        ...(r.rssMb === undefined ? {} : { rss_mb: Number(r.rssMb.toFixed(1)) }),
        ...(spec.p50Ratio === true && base !== undefined ? { p50_ratio: Number((r.p50 / base.p50_us).toFixed(4)) } : {}),
      }
      results.set(spec.name, figure)
      print(figure)
    }
  } finally {
    await stopServers()
  }
}

await main()
