/**
 * Checks for public options: each fails fast with `ECONFIG` naming the option, what it
 * expects and what arrived, as Node's own `ERR_INVALID_ARG_TYPE` does.
 */
import { MAX_DELAY_MS } from './clock.js'
import { configError } from './errors.js'

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
