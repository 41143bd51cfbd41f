/**
 * The shared secret of a grid, from whatever form the caller gave it (API.md §2): a string, a
 * Buffer/Uint8Array, or `{ file }` read from disk with its trailing newline trimmed.
 */
import { readFile } from 'node:fs/promises'
import { TroupeError, configError } from './errors.js'

export type KeyInput = string | Uint8Array | { file: string }

const NO_KEY = new Uint8Array(0)

/**
 * Resolves a key option to bytes; undefined gives the empty key (loopback-only use).
 * @throws TroupeError `ECONFIG` for a wrong type, `EAUTH` for an unreadable or empty key file.
 */
export async function resolveKey(key: KeyInput | undefined): Promise<Uint8Array> {
  if (key === undefined) return NO_KEY
  if (typeof key === 'string') return new Uint8Array(Buffer.from(key, 'utf8'))
  if (key instanceof Uint8Array) return key
  if (typeof key === 'object' && key !== null && typeof (key as { file?: unknown }).file === 'string') {
    return readKeyFile(key.file)
  }
  throw configError('key', 'a string, a Uint8Array or { file: string }', key)
}

async function readKeyFile(file: string): Promise<Uint8Array> {
  let text: Buffer
  try {
    text = await readFile(file)
  } catch (caught) {
    throw new TroupeError('EAUTH', `cannot read key file ${file}: ${(caught as Error).message}`, { cause: caught })
  }
  let end = text.length
  while (end > 0 && (text[end - 1] === 0x0a || text[end - 1] === 0x0d)) end--
  if (end === 0) throw new TroupeError('EAUTH', `key file ${file} is empty`)
  return new Uint8Array(text.subarray(0, end))
}
