/** `troupe run`: one task, printing its result as JSON, or one task per line of a JSONL file. */
import { createReadStream, createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import type { Client } from '../index.js'
import { MAX_DELAY_MS } from '../lib/clock.js'
import { DEFAULT_MANAGER, NETWORK_FLAGS, NETWORK_USAGE, UsageError, connect, integerFlag, networkOptions, parse, toJson, type Io } from './common.js'
import { Progress } from './progress.js'

const USAGE = `usage: troupe run NAME [JSON_INPUT] [options]
       troupe run NAME --each FILE.jsonl [options]

Runs task NAME and prints its result as JSON. With --each, runs one task per line of the
file (each line is the JSON input), writes one JSON result per line in the order they finish,
and shows progress on stderr.

  --manager URL     default: $TROUPE_MANAGER or ${DEFAULT_MANAGER}
  --timeout MS      whole life of each task (ECSTO)
  --priority N      higher runs first (default 0)
  --each FILE       one task per line of FILE
  --out FILE        --each: write results here instead of stdout
  --concurrency N   --each: tasks open at once (default 1024)
${NETWORK_USAGE}`

export async function runCommand(argv: string[], io: Io): Promise<number> {
  const args = parse(argv, {
    ...NETWORK_FLAGS,
    manager: { type: 'string' },
    timeout: { type: 'string' },
    priority: { type: 'string' },
    each: { type: 'string' },
    out: { type: 'string' },
    concurrency: { type: 'string' },
  }, USAGE, io, 2)
  if (args === undefined) return 0
  const v = args.values
  const [name, json] = args.positionals
  if (name === undefined) throw new UsageError(`a task NAME is required\n\n${USAGE}`)
  if (v.each !== undefined && json !== undefined) throw new UsageError('give JSON_INPUT or --each FILE, not both')
  const input = json === undefined ? undefined : parseJson(json, 'JSON_INPUT')
  const priority = v.priority === undefined ? undefined : Number(v.priority)
  if (priority !== undefined && !Number.isFinite(priority)) throw new UsageError(`--priority expects a number, got "${v.priority}"`)
  const options = { timeout: integerFlag('timeout', v.timeout, 1, MAX_DELAY_MS), priority }
  const concurrency = integerFlag('concurrency', v.concurrency, 1)
  const network = networkOptions(v)
  const client = await connect(v.manager, network)
  try {
    if (v.each === undefined) {
      io.out(toJson(await client.run(name, input, options)))
      return 0
    }
    return await runEach(client, name, v.each, v.out, { ...options, concurrency }, io)
  } finally {
    await client.close()
  }
}

async function runEach(client: Client, name: string, file: string, out: string | undefined, options: { timeout?: number | undefined; priority?: number | undefined; concurrency?: number | undefined }, io: Io): Promise<number> {
  const total = await countLines(file)
  const progress = new Progress(total, process.stderr)
  const sink = out === undefined ? undefined : createWriteStream(out)
  const write = (line: string): void => {
    if (sink === undefined) io.out(line)
    else sink.write(line + '\n')
  }
  for await (const r of client.each(name, inputsOf(file), options)) {
    if (r.ok) write(toJson({ index: r.index, ok: true, value: r.value }))
    else write(toJson({ index: r.index, ok: false, error: { code: r.error.code, message: r.error.message } }))
    progress.tick(r.ok)
  }
  progress.finish()
  if (sink !== undefined) await new Promise<void>((resolve, reject) => sink.end((err?: Error | null) => (err ? reject(err) : resolve())))
  return progress.failed === 0 ? 0 : 1
}

/** The lines of `file` that hold something, with their line numbers (from 1). */
async function* nonBlankLines(file: string): AsyncGenerator<{ line: string; n: number }> {
  let n = 0
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    n++
    if (line.trim() !== '') yield { line, n }
  }
}

async function* inputsOf(file: string): AsyncGenerator<unknown> {
  for await (const { line, n } of nonBlankLines(file)) yield parseJson(line, `line ${n} of ${file}`)
}

async function countLines(file: string): Promise<number> {
  let count = 0
  for await (const _ of nonBlankLines(file)) count++
  return count
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new UsageError(`${what} is not JSON: ${(err as Error).message}`)
  }
}
