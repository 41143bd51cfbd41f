/**
 * The shared secret of a grid, from whatever form the caller gave it (API.md §2): a string, a
 * Buffer/Uint8Array, or `{ file }` read from disk with its trailing newline trimmed.
 */
import { randomBytes } from 'node:crypto'
import { constants, type Stats } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { TroupeError, configError } from './errors.js'

export type KeyInput = string | Uint8Array | { file: string }

const NO_KEY = new Uint8Array(0)
/** 256 bits: as strong as the HMAC-SHA256 it keys. */
const GENERATED_KEY_BYTES = 32
/** Group and other permission bits: any of them lets someone else read or replace the key. */
const SHARED_MODE_BITS = 0o077
/**
 * Largest key file read, in bytes. A key is tens of bytes (generateKey() writes 44); the bound
 * is what a wrong path (a log, a disk image) may cost before it is refused.
 */
export const MAX_KEY_FILE_BYTES = 64 * 1024

/**
 * Resolves a key option to bytes; undefined gives the empty key (loopback-only use).
 * @throws TroupeError `ECONFIG` for a wrong type, `EAUTH` for a key file that is unreadable,
 * empty, not a regular file, larger than MAX_KEY_FILE_BYTES, or readable or writable by group
 * or others.
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
    // Open first, then check the file we hold: a stat of the path before opening could pass
    // for a file swapped for a FIFO just before the open. O_NONBLOCK lets a FIFO open without
    // waiting for a writer (it is then refused); on a regular file it changes nothing. The cost:
    // a path naming a device is opened before it is refused. Windows has neither the flag nor
    // FIFOs to wait on.
    handle = await open(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0))
    const stats = await handle.stat()
    if (!stats.isFile()) throw keyFileError(file, `key file ${file} is ${kindOf(stats)}, not a regular file`)
    checkPrivate(file, stats.mode)
    if (stats.size > MAX_KEY_FILE_BYTES) throw tooLarge(file)
    // at most one byte past the bound, whatever fstat said: the file may grow, and some files
    // (in /proc) report size 0
    text = await readAtMost(handle, MAX_KEY_FILE_BYTES + 1)
    if (text.length > MAX_KEY_FILE_BYTES) throw tooLarge(file)
  } catch (caught) {
    if (caught instanceof TroupeError) throw caught
    throw keyFileError(file, `cannot read key file ${file}: ${(caught as Error).message}`, caught)
  } finally {
    await handle?.close()
  }
  let end = text.length
  while (end > 0 && (text[end - 1] === 0x0a || text[end - 1] === 0x0d)) end--
  if (end === 0) throw keyFileError(file, `key file ${file} is empty`)
  return new Uint8Array(text.subarray(0, end))
}

async function readAtMost(handle: FileHandle, maxBytes: number): Promise<Buffer> {
  const buf = Buffer.alloc(maxBytes)
  let length = 0
  while (length < maxBytes) {
    const { bytesRead } = await handle.read(buf, length, maxBytes - length, null)
    if (bytesRead === 0) break
    length += bytesRead
  }
  return buf.subarray(0, length)
}

function tooLarge(file: string): TroupeError {
  return keyFileError(file, `key file ${file} is larger than ${MAX_KEY_FILE_BYTES} bytes; a key is a short line of text`)
}

/** A key file that cannot serve: `EAUTH` with `data.keyFile`, so a caller can tell it from a wrong key. */
function keyFileError(file: string, message: string, cause?: unknown): TroupeError {
  return new TroupeError('EAUTH', message, { data: { keyFile: file }, ...(cause === undefined ? {} : { cause }) })
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory'
  if (stats.isFIFO()) return 'a FIFO'
  if (stats.isSocket()) return 'a socket'
  if (stats.isCharacterDevice()) return 'a character device'
  if (stats.isBlockDevice()) return 'a block device'
  return 'something else'
}

/**
 * Refuses a key file others may read or write, as ssh refuses such a private key: a key
 * anyone can read authenticates anyone, and one anyone can write lets them pick it. Windows
 * has no such mode bits, so there the file's ACL is the owner's business.
 */
function checkPrivate(file: string, mode: number): void {
  if (process.platform === 'win32' || (mode & SHARED_MODE_BITS) === 0) return
  const octal = (mode & 0o777).toString(8).padStart(3, '0')
  throw keyFileError(file, `key file ${file} is accessible by group or others (mode ${octal}); make it private with: chmod 600 ${file}`)
}
