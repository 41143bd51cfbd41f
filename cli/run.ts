/** `troupe run`: one task, printing its result as JSON, or one task per line of a JSONL file. */
import { createReadStream } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { finished } from 'node:stream/promises'
import type { Client } from '../index.js'
import { MAX_DELAY_MS } from '../lib/clock.js'
import { BROKEN_PIPE_EXIT, DEFAULT_MANAGER, NETWORK_FLAGS, NETWORK_ROWS, UsageError, connect, fileError, flagTable, integerFlag, isBrokenPipe, networkOptions, parse, toJson, type Io } from './common.js'
import { Progress } from './progress.js'

const USAGE = `usage: troupe run NAME [JSON_INPUT] [options]
       troupe run NAME --each FILE.jsonl [options]

Runs task NAME and prints its result as JSON. With --each, runs one task per line of the
file (each line is the JSON input), writes one JSON result per line in the order they finish,
and shows progress on stderr.
A JSON_INPUT that starts with '-' goes last, after --: troupe run negate --timeout 500 -- -3

${flagTable([
  ['--manager URL', `default: $TROUPE_MANAGER or ${DEFAULT_MANAGER}`],
  ['--timeout MS', 'whole life of each task (ECSTO)'],
  ['--priority N', 'higher runs first (default 0)'],
  ['--each FILE', 'one task per line of FILE'],
  ['--out FILE', '--each: write results here instead of stdout'],
  ['--concurrency N', '--each: tasks open at once (default 1024)'],
  ...NETWORK_ROWS,
])}`

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
  if (v.each === undefined && (v.out ?? v.concurrency) !== undefined) throw new UsageError(`--${v.out === undefined ? 'concurrency' : 'out'} goes with --each FILE\n\n${USAGE}`)
  const input = json === undefined ? undefined : parseJson(json, 'JSON_INPUT')
  const priority = v.priority === undefined ? undefined : Number(v.priority)
  if (priority !== undefined && !Number.isFinite(priority)) throw new UsageError(`--priority expects a number, got "${v.priority}"`)
  const options = { timeout: integerFlag('timeout', v.timeout, 1, MAX_DELAY_MS), priority }
  const concurrency = integerFlag('concurrency', v.concurrency, 1)
  const network = networkOptions(v)
  if (v.each === undefined) {
    const client = await connect(v.manager, network)
    try {
      io.out(toJson(await client.run(name, input, options)))
      return 0
    } finally {
      await client.close()
    }
  }
  // what is wrong with the files shows before connecting, and before any task is sent
  const total = await checkInputs(v.each)
  const results = v.out === undefined ? stdoutResults(io) : await fileResults(v.out)
  try {
    const client = await connect(v.manager, network)
    try {
      return await runEach(client, name, v.each, total, results, { ...options, concurrency })
    } finally {
      await client.close()
    }
  } finally {
    await results.close().catch(() => {}) // after another failure; runEach reports its own
  }
}

/** Where `--each` writes its result lines. */
interface Results {
  write(line: string): void
  /** Aborts, with the error to report, once a line could not be written. */
  readonly failed: AbortSignal
  /** Flushes and closes (once); rejects with the error of a failed write. */
  close(): Promise<void>
}

function stdoutResults(io: Io): Results {
  return { write: io.out, failed: io.outClosed ?? new AbortController().signal, close: async () => {} }
}

/** Opens (creates or truncates) `file` for the results; rejects with a message naming it. */
async function fileResults(file: string): Promise<Results> {
  let handle: FileHandle
  try {
    handle = await open(file, 'w')
  } catch (err) {
    throw fileError('write', file, err)
  }
  const stream = handle.createWriteStream() // closes the handle when it finishes or fails
  const failed = new AbortController()
  stream.on('error', (err) => failed.abort(fileError('write', file, err)))
  let closing: Promise<void> | undefined
  return {
    write: (line) => {
      if (!failed.signal.aborted) stream.write(line + '\n')
    },
    failed: failed.signal,
    close: () => (closing ??= finished(stream.end()).catch((err: unknown) => {
      throw failed.signal.aborted ? failed.signal.reason : fileError('write', file, err)
    })),
  }
}

async function runEach(client: Client, name: string, file: string, total: number, results: Results, options: { timeout?: number | undefined; priority?: number | undefined; concurrency?: number | undefined }): Promise<number> {
  const progress = new Progress(total, process.stderr)
  // a failed write cancels what is still open: its results would have nowhere to go
  for await (const r of client.each(name, inputsOf(file), { ...options, signal: results.failed })) {
    if (results.failed.aborted) break
    if (r.ok) results.write(toJson({ index: r.index, ok: true, value: r.value }))
    else results.write(toJson({ index: r.index, ok: false, error: { code: r.error.code, message: r.error.message } }))
    progress.tick(r.ok)
  }
  if (results.failed.aborted) {
    // `| head -1`: the reader took what it wanted; stop quietly, as other tools do on SIGPIPE
    if (isBrokenPipe(results.failed.reason)) return BROKEN_PIPE_EXIT
    throw results.failed.reason
  }
  progress.finish()
  await results.close()
  return progress.failed === 0 ? 0 : 1
}

/** The lines of `file` that hold something, with their line numbers (from 1). */
async function* nonBlankLines(file: string): AsyncGenerator<{ line: string; n: number }> {
  let n = 0
  try {
    for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
      n++
      if (line.trim() !== '') yield { line, n }
    }
  } catch (err) {
    throw fileError('read', file, err)
  }
}

async function* inputsOf(file: string): AsyncGenerator<unknown> {
  for await (const { line, n } of nonBlankLines(file)) yield parseJson(line, `${file}:${n}`)
}

/**
 * Reads every line of `file` before a task is sent, so that a line that is not JSON stops the
 * run before it starts rather than halfway. Resolves with the number of inputs.
 */
async function checkInputs(file: string): Promise<number> {
  let count = 0
  for await (const { line, n } of nonBlankLines(file)) {
    parseJson(line, `${file}:${n}`)
    count++
  }
  return count
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new UsageError(`${what} is not JSON: ${(err as Error).message}`)
  }
}
