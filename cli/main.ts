#!/usr/bin/env node
/**
 * The `troupe` command. Each subcommand lives in its own file; this one dispatches, prints
 * usage, and turns failures into an exit code (2 for a usage error, 1 for anything else).
 */
import { generateKey } from '../lib/key.js'
import { UsageError, parse, stdio, watchStdio, type Io } from './common.js'
import { demo } from './demo.js'
import { jobCommand } from './job.js'
import { managerCommand } from './manager.js'
import { runCommand } from './run.js'
import { statusCommand } from './status.js'
import { stopCommand } from './stop.js'
import { workerCommand } from './worker.js'

const USAGE = `usage: troupe <command> [options]

commands:
  manager   run a manager: troupe manager --listen tcp://0.0.0.0:8000 --key-file grid.key
  worker    run a pool: troupe worker --manager tcp://host:8000 --tasks ./tasks.js --key-file grid.key
  run       run a task and print its result: troupe run add '[4,7]'
  job       run a broadcast job: troupe job ./jobs.js#Survey --workers 3
  status    the manager's pools, load, queue and rates (--json)
  stop      drain and stop a node, or --all
  keygen    print a new key: troupe keygen > grid.key && chmod 600 grid.key
  demo      a short tour over mem:// and tcp://127.0.0.1 (what npm start runs)

troupe <command> --help shows a command's options. NODE_DEBUG=troupe (or --verbose) shows debug logs.`

// the flags of a command that takes none
const HELP_ONLY = { help: { type: 'boolean', short: 'h' } } as const

const COMMANDS: Record<string, (argv: string[], io: Io) => Promise<number>> = {
  manager: managerCommand,
  worker: workerCommand,
  run: runCommand,
  job: jobCommand,
  status: statusCommand,
  stop: stopCommand,
  keygen: async (argv, io) => {
    if (parse(argv, HELP_ONLY, 'usage: troupe keygen > FILE\n\nPrints a new random key (32 bytes, base64url). Keep the file private: chmod 600 FILE.', io) === undefined) return 0
    io.out(generateKey())
    return 0
  },
  demo: async (argv, io) => {
    if (parse(argv, HELP_ONLY, 'usage: troupe demo\n\nRuns the tour over mem:// and tcp://127.0.0.1 and exits 0.', io) === undefined) return 0
    await demo(io.out)
    return 0
  },
}

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h') {
    io.out(USAGE)
    return command === undefined ? 2 : 0
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined
  if (run === undefined) {
    io.err(`troupe: unknown command "${command}"\n\n${USAGE}`)
    return 2
  }
  try {
    return await run(rest, io)
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`troupe ${command}: ${err.message}`)
      return 2
    }
    throw err
  }
}

watchStdio()
process.exitCode = await main(process.argv.slice(2)).catch((err: unknown) => {
  const code = (err as { code?: unknown } | undefined)?.code
  const message = err instanceof Error ? err.message : String(err)
  // Node's own errors begin with their code already: "ENOENT: no such file or directory, ..."
  const prefix = typeof code === 'string' && !message.startsWith(code) ? `${code}: ` : ''
  process.stderr.write(`troupe: ${prefix}${message}\n`)
  return 1
})
