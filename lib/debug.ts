/**
 * Troupe's debug log: `util.debuglog('troupe')`, so `NODE_DEBUG=troupe` turns it on as for
 * Node's own modules. Node reads NODE_DEBUG once at start-up, so a program that decides later
 * (the CLI's `--verbose`) calls `enableDebug()` instead, and gets the same lines.
 */
import { debuglog, format } from 'node:util'

const fromEnvironment = debuglog('troupe')
let forced = false

/** Turns the log on from now on, whatever NODE_DEBUG said. */
export function enableDebug(): void {
  forced = true
}

/** Logs a `util.format` line to stderr when the log is on. */
export function debug(message: string, ...args: unknown[]): void {
  if (fromEnvironment.enabled) fromEnvironment(message, ...args)
  else if (forced) process.stderr.write(`TROUPE ${process.pid}: ${format(message, ...args)}\n`)
}
