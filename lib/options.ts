/**
 * Checks for public options: each fails fast with `ECONFIG` naming the option, what it
 * expects and what arrived, as Node's own `ERR_INVALID_ARG_TYPE` does.
 */
import { MAX_DELAY_MS } from './clock.js'
import { TroupeError, configError } from './errors.js'

/** An integer in [min, max], or `fallback` when undefined. */
export function integerOption(name: string, value: unknown, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw configError(name, `an integer from ${min} to ${max}`, value)
  }
  return value
}

/** A whole number of milliseconds from 1 to `MAX_DELAY_MS`, or `fallback` when undefined. */
export function durationOption(name: string, value: unknown, fallback: number): number
export function durationOption(name: string, value: unknown, fallback?: undefined): number | undefined
export function durationOption(name: string, value: unknown, fallback?: number): number | undefined {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_DELAY_MS) {
    throw configError(name, `a number of milliseconds above 0, at most ${MAX_DELAY_MS} (24.8 days)`, value)
  }
  return Math.ceil(value)
}

/** An integer ≥ 1 or Infinity (queue sizes). */
export function limitOption(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (value === Infinity) return Infinity
  return integerOption(name, value, fallback, 1)
}

export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw configError(name, 'true or false', value)
  return value
}

export function stringOption(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || value.length === 0) throw configError(name, 'a non-empty string', value)
  return value
}

/** An AbortSignal or undefined. */
export function signalOption(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value
  throw configError(name, 'an AbortSignal', value)
}

/** A plain object of options, or {} when undefined. */
export function optionsObject<T extends object>(name: string, value: T | undefined): Partial<T> {
  if (value === undefined) return {}
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw configError(name, 'an object', value)
  return value
}

/**
 * Every option name of an options interface `T`: a name `T` lacks, or one of `T`'s left out, fails
 * to compile, so the list cannot drift from the interface it checks.
 * @example const RUN_OPTIONS = optionNames<RunOptions>()('timeout', 'signal')
 */
export function optionNames<T extends object>() {
  return <const N extends readonly (keyof T & string)[]>(...names: N & ([Exclude<keyof T, N[number]>] extends [never] ? unknown : { missing: Exclude<keyof T, N[number]> })): ReadonlySet<string> =>
    new Set(names)
}

/**
 * `optionsObject()`, refusing an option `known` lacks: a misspelt name (`queSize`) would otherwise
 * be ignored in silence and its default used. `where` names the call, as in `Manager.start()`.
 * @throws TroupeError `ECONFIG`, naming the closest known option when one is near
 */
export function knownOptions<T extends object>(where: string, value: T | undefined, known: ReadonlySet<string>): Partial<T> {
  const options = optionsObject('options', value)
  for (const name in options) {
    if (known.has(name) || !Object.hasOwn(options, name)) continue
    const near = closest(name, known)
    throw new TroupeError('ECONFIG', `${where}: unknown option ${JSON.stringify(name)}${near === undefined ? '' : ` (did you mean ${JSON.stringify(near)}?)`}`, { data: { option: name } })
  }
  return options
}

/** The options of `options` that `names` lists, for a call that takes only those. */
export function pickOptions<T extends object>(options: T, names: ReadonlySet<string>): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([name]) => names.has(name))) as Partial<T>
}

/** The known name within a third of `name`'s length in edits, if any (case is not an edit). */
function closest(name: string, known: ReadonlySet<string>): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(1, Math.floor(name.length / 3)) + 1
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase())
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance]
  }
  return best
}

/**
 * Edits (insert, delete, replace, swap two neighbours) from `a` to `b`: the optimal string
 * alignment distance. Option names are short, so the plain O(n·m) rows do.
 */
function editDistance(a: string, b: string): number {
  let before: number[] = []
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min((previous[j] as number) + 1, (row[j - 1] as number) + 1, (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (before[j - 2] as number) + 1)
      row[j] = d
    }
    before = previous
    previous = row
  }
  return previous[b.length] as number
}
