/**
 * The one error class of Troupe. Its `code` identifies the failure permanently (tests and callers
 * switch on it); the message is for people and may change.
 */

/** Every code a Troupe call can fail with (API.md §6). */
export const ErrorCodes = [
  'ECSTO', 'ETO', 'EATO', 'EREJECTED', 'EAUTH', 'EPROTO', 'EFRAME', 'ENOTASK', 'ETASK', 'EEVAL',
  'ECLOSED', 'EWORKERLOST', 'EABORT', 'EMAILBOX', 'ECONFIG',
] as const
export type ErrorCode = (typeof ErrorCodes)[number]

const knownCodes: ReadonlySet<string> = new Set(ErrorCodes)

/** True when `code` is one of {@link ErrorCodes}. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && knownCodes.has(code)
}

/** Options of {@link TroupeError} beyond code and message. */
export interface TroupeErrorOptions {
  cause?: unknown
  data?: unknown
  /** For `ETASK`: the name of the error thrown on the remote side (`TypeError`, ...). */
  remoteName?: string | undefined
  /** For `ETASK`: the stack of the error thrown on the remote side. */
  remoteStack?: string | undefined
  /** For `ETASK`: the `code` property of the thrown error, if it had one (`ENOENT`, ...). */
  remoteCode?: string | undefined
}

/**
 * A failure of a Troupe call. `code` is one of API.md §6; for `ETASK`, `remoteName`, `remoteStack`,
 * `remoteCode` and `data` describe what the remote task threw.
 */
export class TroupeError extends Error {
  override readonly name = 'TroupeError'
  readonly code: ErrorCode
  readonly data: unknown
  readonly remoteName: string | undefined
  readonly remoteStack: string | undefined
  readonly remoteCode: string | undefined

  constructor(code: ErrorCode, message: string, options: TroupeErrorOptions = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined)
    this.code = code
    this.data = options.data
    this.remoteName = options.remoteName
    this.remoteStack = options.remoteStack
    this.remoteCode = options.remoteCode
  }
}

/** Normalises anything caught into an `Error` (a thrown string or object becomes an `Error`). */
export function asError(caught: unknown): Error {
  return caught instanceof Error ? caught : new Error(String(caught))
}

/** Options validation: `ECONFIG` naming the option, what it expects and what arrived. */
export function configError(option: string, expected: string, received: unknown): TroupeError {
  return new TroupeError('ECONFIG', `option "${option}" must be ${expected}; received ${describe(received)}`)
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)
  if (typeof value === 'function') return 'a function'
  if (value === null || typeof value !== 'object') return String(value)
  return `an instance of ${value.constructor?.name ?? 'Object'}`
}
