/**
 * What every `troupe` command shares: strict flag parsing with `--help`, the network flags
 * (key file, TLS files), connecting to the manager, module arguments, JSON output, and
 * draining on SIGINT/SIGTERM/SIGHUP.
 */
import { readFileSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { Client, TroupeError, type NetworkOptions } from '../index.js'
import { MAX_DELAY_MS } from '../lib/clock.js'
import { enableDebug } from '../lib/debug.js'

/** A mistake on the command line: printed with the command's usage, exit code 2. */
export class UsageError extends Error {}

/** Where a command writes: the terminal, unless a caller passes its own. */
export interface Io {
  out(line: string): void
  err(line: string): void
  /** Aborts, with the write's error, once `out` can take no more (`| head -1` closed the pipe). */
  readonly outClosed?: AbortSignal | undefined
}

const stdoutClosed = new AbortController()

export const stdio: Io = {
  out: (line) => {
    if (!stdoutClosed.signal.aborted) process.stdout.write(line + '\n')
  },
  err: (line) => process.stderr.write(line + '\n'),
  outClosed: stdoutClosed.signal,
}

/**
 * Turns a failed write to stdout (its reader went away) into `stdio.outClosed` rather than an
 * unhandled 'error' event and a stack trace. Only the `troupe` process itself calls this.
 */
export function watchStdio(): void {
  process.stdout.on('error', (err) => stdoutClosed.abort(err))
  process.stderr.on('error', () => {}) // nowhere left to say anything
}

/** True for the error of a write whose reader closed the pipe. */
export function isBrokenPipe(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === 'EPIPE'
}

/** The exit code of a command whose reader closed its output: 128 + SIGPIPE, as shells report other tools. */
export const BROKEN_PIPE_EXIT = 141

type Options = NonNullable<ParseArgsConfig['options']>
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>

/** The flags of every command that connects or listens. */
export const NETWORK_FLAGS = {
  'key-file': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  'connect-timeout': { type: 'string' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options

/** A usage line: the flag (with its value's name), and what it does. */
export type FlagRow = readonly [flag: string, what: string]

export const NETWORK_ROWS: readonly FlagRow[] = [
  ['--key-file F', "the grid's shared key (default: $TROUPE_KEY_FILE); must be private (chmod 600)"],
  ['--tls-cert F', 'tls:// with certificates: this node\'s certificate (PEM)'],
  ['--tls-key F', '... its private key (PEM)'],
  ['--tls-ca F', '... the certificate authority its peers are checked against (PEM)'],
  ['--connect-timeout MS', 'bound on setting up a connection: dialling retries until then, a peer dialling in must prove the key by then (default 10000)'],
  ['--verbose', 'debug logs (as NODE_DEBUG=troupe)'],
  ['--help', 'this text'],
]

/** The flags of a command, one per line, their descriptions in one column. */
export function flagTable(rows: readonly FlagRow[]): string {
  const width = Math.max(...rows.map(([flag]) => flag.length))
  return rows.map(([flag, what]) => `  ${flag.padEnd(width)}  ${what}`).join('\n')
}

/**
 * A file the command cannot use, as `cannot read in.jsonl: no such file or directory (ENOENT)`
 * (Node's own message repeats the code and the path).
 */
export function fileError(verb: 'read' | 'write', file: string, err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err)
  const node = /^(E[A-Z0-9]+): (.*?)(?:, \w+(?: '.*')?)?$/s.exec(message)
  return new Error(`cannot ${verb} ${file}: ${node === null ? message : `${node[2]} (${node[1]})`}`, { cause: err })
}

/** Where clients and pools find the manager when `--manager` is not given. */
export const DEFAULT_MANAGER = 'tcp://127.0.0.1:8000'

/**
 * Parses `argv` strictly: an unknown flag or a missing value is a `UsageError`. Returns
 * undefined (after printing `usage`) for `--help`.
 */
export function parse<O extends Options>(argv: string[], options: O, usage: string, io: Io, positionals = 0): Parsed<O> | undefined {
  let parsed: Parsed<O>
  try {
    parsed = parseArgs({ args: negativeValuesJoined(argv, options), options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`)
  }
  if ((parsed.values as { help?: boolean }).help === true) {
    io.out(usage)
    return undefined
  }
  if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument "${parsed.positionals[positionals]}"\n\n${usage}`)
  if ((parsed.values as { verbose?: boolean }).verbose === true) enableDebug()
  return parsed
}

/**
 * `--priority -1`: parseArgs takes `-1` for a flag of its own and refuses it. After a flag that
 * takes a value, a negative number is that value.
 */
function negativeValuesJoined(argv: string[], options: Options): string[] {
  const joined: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') return joined.concat(argv.slice(i))
    const next = argv[i + 1]
    const takesValue = arg.startsWith('--') && options[arg.slice(2)]?.type === 'string'
    if (takesValue && next !== undefined && /^-\d/.test(next)) {
      joined.push(`${arg}=${next}`)
      i++
    } else joined.push(arg)
  }
  return joined
}

/** The network options the flags (and `TROUPE_KEY_FILE`) describe. */
export function networkOptions(values: { 'key-file'?: string; 'tls-cert'?: string; 'tls-key'?: string; 'tls-ca'?: string; 'connect-timeout'?: string }): NetworkOptions {
  const keyFile = values['key-file'] ?? (process.env.TROUPE_KEY_FILE || undefined)
  const pem = (file: string | undefined): string | undefined => (file === undefined ? undefined : readFileSync(file, 'utf8'))
  const tls = values['tls-cert'] ?? values['tls-key'] ?? values['tls-ca']
  const connectTimeout = integerFlag('connect-timeout', values['connect-timeout'], 1, MAX_DELAY_MS)
  return {
    ...(keyFile === undefined ? {} : { key: { file: keyFile } }),
    ...(tls === undefined ? {} : { tls: { cert: pem(values['tls-cert']), key: pem(values['tls-key']), ca: pem(values['tls-ca']) } }),
    ...(connectTimeout === undefined ? {} : { connectTimeout }),
  }
}

/**
 * `starting` (a node starting or a client connecting with `network`), its failure explained for
 * the operator: an authentication failure names the key it used, so they know which file to
 * check; not reaching `manager` (`ECLOSED`) asks whether one runs there, unless the refusal came
 * from it (`remoteName`: a manager that runs but turned us away, too many peers in their handshake).
 */
export function explained<T>(starting: Promise<T>, network: NetworkOptions, manager?: string): Promise<T> {
  return starting.catch((err: unknown) => {
    if (err instanceof TroupeError && err.code === 'ECLOSED' && manager !== undefined && err.remoteName === undefined) {
      throw new TroupeError('ECLOSED', `${err.message} — is a manager running at ${manager}? (troupe manager --listen URL starts one; --connect-timeout MS waits longer)`, { cause: err })
    }
    if (!(err instanceof TroupeError) || err.code !== 'EAUTH') throw err
    const key = network.key
    const file = typeof key === 'object' && key !== null && 'file' in key ? String(key.file) : undefined
    if (file !== undefined && (err.data as { keyFile?: unknown } | undefined)?.keyFile === file) throw err // the key file itself is wrong, and it says so
    const which = file === undefined ? 'no key (pass --key-file or set TROUPE_KEY_FILE)' : `the key in ${file}`
    throw new TroupeError('EAUTH', `${err.message} — using ${which}`, { cause: err })
  })
}

/**
 * A whole-number flag from `min` (default 0) to `max`, checked here so that a mistake is a
 * usage error naming the flag, not the library's option.
 */
export function integerFlag(name: string, value: string | undefined, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`
    throw new UsageError(`--${name} expects a whole number ${range}, got "${value}"`)
  }
  return n
}

/** A node started by the CLI: it emits the system messages it receives. */
interface CliNode {
  on(event: 'sysmsg', listener: (msg: unknown, from: string) => void): unknown
}

/**
 * Runs until the first SIGINT, SIGTERM or SIGHUP, or until `node` receives the `troupe stop`
 * system message; then drains and resolves once `drain` is done. A second signal exits at
 * once with code 130.
 */
export function serveUntilStopped(node: CliNode, drain: () => Promise<void>, io: Io): Promise<void> {
  return new Promise((resolve, reject) => {
    let draining = false
    const stop = (why: string): void => {
      if (draining) return
      draining = true
      io.out(`${why}: draining (a second signal exits at once)`)
      drain().then(() => {
        for (const s of SIGNALS) process.off(s, onSignal)
        resolve()
      }, reject)
    }
    const onSignal = (signal: NodeJS.Signals): void => {
      if (draining) {
        io.err(`${signal} again: exiting without draining`)
        process.exit(130)
      }
      stop(signal)
    }
    for (const s of SIGNALS) process.on(s, onSignal)
    node.on('sysmsg', (msg, from) => {
      // The acknowledgement goes out once this event is over; draining at once could close the
      // connection it travels on (the manager's, when it is the node told to stop).
      if (isStopMessage(msg)) setImmediate(stop, `stop from ${from}`)
    })
  })
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']

/** The system message `troupe stop` sends; a CLI node that receives it drains and exits. */
export const STOP_MESSAGE = { troupe: 'stop' } as const

function isStopMessage(msg: unknown): boolean {
  return typeof msg === 'object' && msg !== null && (msg as { troupe?: unknown }).troupe === 'stop'
}

/** The manager a command talks to: `--manager`, else `$TROUPE_MANAGER` (unless empty), else DEFAULT_MANAGER. */
export function managerUrl(flag: string | undefined): string {
  return flag ?? (process.env.TROUPE_MANAGER || DEFAULT_MANAGER)
}

/** Connects a client without reconnecting: a command should fail, not wait, when the manager is gone. */
export function connect(manager: string | undefined, network: NetworkOptions): Promise<Client> {
  const url = managerUrl(manager)
  return explained(Client.connect(url, { ...network, reconnect: false }), network, url)
}

/** JSON for whatever CBOR brought back: bigints as strings, Maps as objects, Sets as arrays. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => {
    if (typeof v === 'bigint') return v.toString()
    if (v instanceof Map) return Object.fromEntries(v)
    if (v instanceof Set) return [...v]
    return v
  }) ?? 'null'
}
