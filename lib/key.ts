/**
 * The shared secret of a grid, from whatever form the caller gave it (API.md §2): a string, a
 * Buffer/Uint8Array, or `{ file }` read from disk with its trailing newline trimmed.
 */
import { randomBytes } from 'node:crypto'
import { open, type FileHandle } from 'node:fs/promises'
import { TroupeError, configError } from './errors.js'

export type KeyInput = string | Uint8Array | { file: string }

const NO_KEY = new Uint8Array(0)
/** 256 bits: as strong as the HMAC-SHA256 it keys. */
const GENERATED_KEY_BYTES = 32
/** Group and other permission bits: any of them lets someone else read or replace the key. */
const SHARED_MODE_BITS = 0o077

/**
 * Resolves a key option to bytes; undefined gives the empty key (loopback-only use).
 * @throws TroupeError `ECONFIG` for a wrong type, `EAUTH` for an unreadable or empty key file,
 * or one that group or others may read or write.
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

/**
 * A new random key for a grid: 32 random bytes as base64url text (43 characters), safe to
 * put in a file, an environment variable or a command line.
 * @example writeFileSync('troupe.key', generateKey() + '\n', { mode: 0o600 })
 */
export function generateKey(): string {
  return randomBytes(GENERATED_KEY_BYTES).toString('base64url')
}

async function readKeyFile(file: string): Promise<Uint8Array> {
  let handle: FileHandle | undefined
  let text: Buffer
  try {
    // check the mode of the file we read, not of whatever the path names a moment earlier
    handle = await open(file, 'r')
    checkPrivate(file, (await handle.stat()).mode)
    text = await handle.readFile()
  } catch (caught) {
    if (caught instanceof TroupeError) throw caught
    throw new TroupeError('EAUTH', `cannot read key file ${file}: ${(caught as Error).message}`, { cause: caught })
  } finally {
    await handle?.close()
  }
  let end = text.length
  while (end > 0 && (text[end - 1] === 0x0a || text[end - 1] === 0x0d)) end--
  if (end === 0) throw new TroupeError('EAUTH', `key file ${file} is empty`)
  return new Uint8Array(text.subarray(0, end))
}

/**
 * Refuses a key file others may read or write, as ssh refuses such a private key: a key
 * anyone can read authenticates anyone, and one anyone can write lets them pick it. Windows
 * has no such mode bits, so there the file's ACL is the owner's business.
 */
function checkPrivate(file: string, mode: number): void {
  if (process.platform === 'win32' || (mode & SHARED_MODE_BITS) === 0) return
  const octal = (mode & 0o777).toString(8).padStart(3, '0')
  throw new TroupeError('EAUTH', `key file ${file} is accessible by group or others (mode ${octal}); make it private with: chmod 600 ${file}`)
}
