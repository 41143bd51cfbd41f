#!/usr/bin/env node
/**
 * The `troupe` command. Each subcommand lives in its own file; this one dispatches, prints
 * usage, and turns failures into an exit code (2 for a usage error, 1 for anything else).
 */
import { demo } from './demo.js'

const USAGE = `usage: troupe <command> [options]

commands:
  demo        a short tour over in-process, mem:// and tcp://127.0.0.1 (what npm start runs)

troupe <command> --help shows a command's options.`

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(USAGE + '\n')
    return command === undefined ? 2 : 0
  }
  switch (command) {
    case 'demo':
      if (rest.includes('--help')) {
        process.stdout.write('usage: troupe demo\n\nRuns the tour and exits 0.\n')
        return 0
      }
      await demo()
      return 0
    default:
      process.stderr.write(`troupe: unknown command "${command}"\n\n${USAGE}\n`)
      return 2
  }
}

process.exitCode = await main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`troupe: ${err instanceof Error ? err.message : String(err)}\n`)
  return 1
})
