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

/**
 * Normalises anything caught into an `Error`, and never throws itself: anything can be thrown.
 * A string or number becomes an `Error` with its text; a plain object keeps the `message`, `name`,
 * `code` and `data` it carries as an error would; a value that has no text (a null-prototype
 * object, a `toString` that throws) is described by its type.
 */
export function asError(caught: unknown): Error {
  try {
    if (caught instanceof Error) return caught
    if (typeof caught === 'object' && caught !== null) return errorFromObject(caught)
    return new Error(String(caught))
  } catch {
    return new Error(`a thrown ${typeof caught} that cannot be converted to text`)
  }
}

// `throw { message, code }` means an error; reading its fields may throw (getters, proxies), which
// asError catches
function errorFromObject(thrown: object): Error {
  const { message, name, code, data } = thrown as { message?: unknown; name?: unknown; code?: unknown; data?: unknown }
  const err = new Error(typeof message === 'string' ? message : String(thrown)) as Error & { code?: unknown; data?: unknown }
  if (typeof name === 'string') err.name = name
  if (code !== undefined) err.code = code
  if (data !== undefined) err.data = data
  return err
}

/**
 * The asker's view of what a handler or task threw: `ETASK` with its message, and its name, stack,
 * string `code` and `data` as `remoteName`, `remoteStack`, `remoteCode` and `data` (a `TroupeError`
 * from a nested call keeps its code as `remoteCode`). Those fields travel as text, but a thrown
 * error's own may be anything (`e.stack = null`, `e.name = 42`): a primitive becomes its text, and
 * anything else is left out.
 */
export function taskError(thrown: unknown): TroupeError {
  const err = asError(thrown)
  try {
    const { message, name, stack, code, data } = err as Error & { code?: unknown; data?: unknown }
    return new TroupeError('ETASK', asText(message) ?? '', {
      cause: err,
      data,
      remoteName: asText(name),
      remoteStack: asText(stack),
      remoteCode: typeof code === 'string' ? code : undefined,
    })
  } catch {
    return new TroupeError('ETASK', 'a thrown error whose fields cannot be read', { cause: err }) // a getter threw
  }
}

// only primitives: converting an object to text would run its own code, which may throw
function asText(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (value === null || value === undefined || typeof value === 'object' || typeof value === 'function') return undefined
  return String(value)
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
