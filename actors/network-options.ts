/**
 * The connection options every node shares (key, frame limit, heartbeat, timeouts), checked
 * once and turned into what the transports need.
 */
import type { Clock } from '../lib/clock.js'
import { configError } from '../lib/errors.js'
import { resolveKey, type KeyInput } from '../lib/key.js'
import { booleanOption, durationOption, integerOption, knownOptions, optionNames, optionsObject, signalOption } from '../lib/options.js'
import { LARGEST_FRAME_BYTES, SMALLEST_MAX_FRAME_BYTES, type DialOptions, type ListenOptions, type TlsCredentials } from '../transports/index.js'

/** Options of `listen()` and `connect()` on every node. */
export interface NetworkOptions {
  /** Shared secret of the grid (API.md §2). */
  key?: KeyInput | undefined
  /** Largest frame sent or accepted, in bytes (default 16 MiB). */
  maxFrame?: number | undefined
  /** Dead-peer detection: a ping after `interval` ms of silence, closed after `misses` (default 5000 / 3); false to turn off. */
  heartbeat?: { interval?: number | undefined; misses?: number | undefined } | false | undefined
  /** Bound on connecting plus the handshake, in ms (default 10 000). */
  connectTimeout?: number | undefined
  /** Allow listening on a non-loopback address without a key. */
  insecure?: boolean | undefined
  /**
   * Certificates for `tls://` addresses, PEM text or bytes. Without them tls:// keys TLS from `key`
   * (a pre-shared key), so one of the two is required. A listener needs `cert` and `key`, and with
   * `ca` also requires client certificates signed by it; a dialer checks the listener against `ca`
   * (default: the system's CAs) and presents `cert`/`key` if given. `key` here is the TLS private
   * key; the grid's `key` is still required to match inside the TLS stream.
   */
  tls?: TlsCredentials | undefined
  /** Abort connecting. */
  signal?: AbortSignal | undefined
}

/** Every name of NetworkOptions, for the option lists of the nodes that extend it. */
export const NETWORK_OPTION_NAMES = ['key', 'maxFrame', 'heartbeat', 'connectTimeout', 'insecure', 'tls', 'signal'] as const
export const NETWORK_OPTIONS = optionNames<NetworkOptions>()(...NETWORK_OPTION_NAMES)

const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024
const DEFAULT_HEARTBEAT_MS = 5000
const DEFAULT_HEARTBEAT_MISSES = 3
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000

export type ResolvedNetworkOptions = DialOptions & ListenOptions

/**
 * Checks `options` (falling back to `defaults`, the node's own) and reads the key.
 * @throws TroupeError `ECONFIG` for a bad option, `EAUTH` for an unreadable key file.
 */
export async function resolveNetworkOptions(
  node: string,
  clock: Clock,
  options: NetworkOptions | undefined,
  defaults: NetworkOptions = {},
): Promise<ResolvedNetworkOptions> {
  const o = { ...defaults, ...optionsObject('options', options) }
  const maxFrameBytes = integerOption('maxFrame', o.maxFrame, DEFAULT_MAX_FRAME_BYTES, SMALLEST_MAX_FRAME_BYTES, LARGEST_FRAME_BYTES)
  return {
    node,
    clock,
    key: await resolveKey(o.key),
    maxFrameBytes,
    heartbeat: heartbeatOption(o.heartbeat),
    handshakeTimeoutMs: connectTimeoutMs(o),
    insecure: booleanOption('insecure', o.insecure, false),
    tls: tlsOption(o.tls),
    signal: signalOption('signal', o.signal),
  }
}

/** The `connectTimeout` option: connecting plus the handshake, in ms. @throws TroupeError `ECONFIG` */
export function connectTimeoutMs(o: NetworkOptions): number {
  return durationOption('connectTimeout', o.connectTimeout, DEFAULT_CONNECT_TIMEOUT_MS)
}

const HEARTBEAT_OPTIONS = optionNames<Exclude<NetworkOptions['heartbeat'], false | undefined>>()('interval', 'misses')
const TLS_OPTIONS = optionNames<NonNullable<NetworkOptions['tls']>>()('cert', 'key', 'ca')

function heartbeatOption(value: NetworkOptions['heartbeat']): ResolvedNetworkOptions['heartbeat'] {
  if (value === false) return false
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw configError('heartbeat', 'false or { interval, misses }', value)
  }
  const h = knownOptions('heartbeat', value, HEARTBEAT_OPTIONS)
  return {
    intervalMs: durationOption('heartbeat.interval', h.interval, DEFAULT_HEARTBEAT_MS),
    misses: integerOption('heartbeat.misses', h.misses, DEFAULT_HEARTBEAT_MISSES, 1, 1000),
  }
}

function tlsOption(value: NetworkOptions['tls']): TlsCredentials | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw configError('tls', 'an object { cert, key, ca }', value)
  const credentials = knownOptions('tls', value, TLS_OPTIONS)
  const pem = (name: 'cert' | 'key' | 'ca'): string | Uint8Array | undefined => {
    const v: unknown = credentials[name]
    if (v === undefined || typeof v === 'string' || v instanceof Uint8Array) return v
    throw configError(`tls.${name}`, 'PEM text (a string or a Uint8Array)', v)
  }
  return { cert: pem('cert'), key: pem('key'), ca: pem('ca') }
}
