/**
 * A pool and its child processes talk over a socketpair on the child's fd 3, with the same
 * framing, batching and handshake as TCP. `process.send()` is not used: it pipelines ~180 k
 * messages/s here, a raw socketpair ~2.4 M.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { Socket, type SocketConstructorOpts } from 'node:net'
import { TroupeError } from '../lib/errors.js'
import { SlabReads, adoptForSlabReads } from './slab-reads.js'
import { StreamLink } from './stream-link.js'

/** The fd of the channel in the child. */
const CHANNEL_FD = 3

// Node options of this process that a child must not inherit. With -e or -p a child would run
// this process's own code rather than its entry: a pool started from `node -e` would start a
// pool in each child, and so on. The others contend for what this process holds (an inspector
// port) or belong to its runner (test, watch), as node --test itself filters them for its children.
const DROP_WITH_VALUE = new Set(['-e', '--eval', '-p', '--print', '--input-type', '--inspect-port', '--debug-port', '--test-reporter', '--test-reporter-destination', '--watch-path'])
const DROP = new Set(['--inspect', '--inspect-brk', '--inspect-wait', '--test', '--test-only', '--experimental-test-coverage', '--watch', '--watch-preserve-output'])

/** `execArgv` less what a child process must not inherit (above). */
export function childExecArgv(execArgv: readonly string[]): string[] {
  const kept: string[] = []
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] as string
    const [name = arg] = arg.split('=', 1)
    if (DROP_WITH_VALUE.has(name)) {
      if (name === arg) i++ // the value is the next argument
    } else if (!DROP.has(name)) kept.push(arg)
  }
  return kept
}

/**
 * Starts `node [execArgv] entry` with a socketpair on fd 3 and returns the parent's end, which
 * accepts the child's connection (and so stops reading a child that does not read).
 * The child's stdout and stderr are the parent's.
 * @throws TroupeError `ECONFIG` when no process could be started (out of file descriptors or
 * processes): a busy host's condition, which the caller may retry later
 */
export function spawnWithChannel(entry: string, env: NodeJS.ProcessEnv): { child: ChildProcess; link: StreamLink } {
  const child = spawn(process.execPath, [...childExecArgv(process.execArgv), entry], {
    stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
    env: { ...process.env, ...env },
  })
  if (child.pid === undefined) throw spawnFailed(child)
  return { child, link: channelOf(child) }
}

/**
 * The parent's end of the socketpair on `child`'s fd 3 (a 'pipe' in its stdio), as a link that
 * reads through slabs where Node allows. Call it in the turn `child` was spawned.
 */
export function channelOf(child: ChildProcess): StreamLink {
  const made = child.stdio[CHANNEL_FD] as Socket
  const adopted = adoptForSlabReads(made)
  const socket = adopted?.socket ?? made
  return new StreamLink(socket, `ipc://${child.pid}`, { pausesReading: true, reads: adopted?.reads })
}

/**
 * Node reports a failed spawn only as an 'error' event on the next tick, which would crash the
 * host unheard; the spawn leaves no pid, and no stdio at all on EMFILE or ENFILE (Node stops
 * before making the pipes). The error thrown now names the likely causes, and takes the event's
 * error as its `cause` when that comes.
 */
function spawnFailed(child: ChildProcess): TroupeError {
  // stdio is typed as always there; after EMFILE or ENFILE it is not
  const stdio = child.stdio as ChildProcess['stdio'] | undefined
  for (const stream of stdio ?? []) stream?.destroy()
  const reason = stdio === undefined ? 'the host is out of file descriptors (EMFILE or ENFILE)' : 'the system refused (EAGAIN, EACCES or ENOENT)'
  const error = new TroupeError('ECONFIG', `could not start a child process: ${reason}`)
  child.once('error', (err) => (error.cause ??= err))
  return error
}

/** In the child: its end of the channel. */
export function parentChannel(): StreamLink {
  const reads = new SlabReads()
  // Node's Socket takes `onread` here as it does in connect(); its typings list it only there
  const options: SocketConstructorOpts & { onread: SlabReads['onread'] } = { fd: CHANNEL_FD, readable: true, writable: true, onread: reads.onread }
  const socket = new Socket(options).pause()
  return new StreamLink(socket, `ipc://${process.ppid}`, { reads })
}
