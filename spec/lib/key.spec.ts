import { execFile } from 'node:child_process'
import { closeSync, constants, openSync } from 'node:fs'
import { chmod, mkdir, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import * as assert from 'uvu/assert'
import { MAX_KEY_FILE_BYTES, generateKey, resolveKey } from '../../lib/key.js'
import { rejectsWith, suite } from '../harness.js'

const t = suite('keys')
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8')

/** A key file with `content` and `mode` in a fresh temporary directory, removed after the test. */
async function keyFile(content: string, mode: number): Promise<string> {
  const file = join(await t.tempDir('troupe-key-'), 'key')
  await writeFile(file, content)
  await chmod(file, mode) // explicitly: writeFile's mode is filtered by the umask
  return file
}

t.test('strings and bytes are keys as given; no key is the empty key', async () => {
  assert.is(text(await resolveKey('secret')), 'secret')
  const bytes = Uint8Array.of(1, 2, 3)
  assert.is(await resolveKey(bytes), bytes)
  assert.is((await resolveKey(undefined)).length, 0)
  await rejectsWith(resolveKey(42 as never), 'ECONFIG')
  await rejectsWith(resolveKey({ path: 'x' } as never), 'ECONFIG')
})

t.test('a private key file (600 or 400) is read with its trailing newlines trimmed', async () => {
  assert.is(text(await resolveKey({ file: await keyFile('from a file\r\n\n', 0o600) })), 'from a file')
  assert.is(text(await resolveKey({ file: await keyFile('read only\n', 0o400) })), 'read only')
})

for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666, 0o610, 0o601]) {
  t.test(`a key file with mode ${mode.toString(8)} is refused with EAUTH naming the file and the fix`, async () => {
    const file = await keyFile('shared\n', mode)
    const err = await rejectsWith(resolveKey({ file }), 'EAUTH')
    assert.ok(err.message.includes(file), err.message)
    assert.ok(err.message.includes(`chmod 600 ${file}`), err.message)
  })
}

t.test('a missing, empty, unreadable or shared key file is EAUTH with data.keyFile naming it', async () => {
  const empty = await keyFile('\n', 0o600)
  const missing = join(empty, '..', 'missing')
  const directory = join(empty, '..')
  const shared = await keyFile('shared\n', 0o644)
  for (const file of [empty, missing, directory, shared]) {
    const err = await rejectsWith(resolveKey({ file }), 'EAUTH')
    assert.equal(err.data, { keyFile: file }, err.message)
  }
})

t.test(`a key file of up to ${MAX_KEY_FILE_BYTES} bytes is read; one byte more is EAUTH`, async () => {
  assert.is(MAX_KEY_FILE_BYTES, 64 * 1024)
  const largest = 'k'.repeat(MAX_KEY_FILE_BYTES)
  assert.is(text(await resolveKey({ file: await keyFile(largest, 0o600) })), largest)
  const over = await keyFile(`${largest}\n`, 0o600)
  const err = await rejectsWith(resolveKey({ file: over }).then((key) => `${key.length} bytes`), 'EAUTH')
  assert.ok(err.message.includes(String(MAX_KEY_FILE_BYTES)), err.message)
})

t.test('a huge key file is refused at once, without reading it', async () => {
  const file = await keyFile('', 0o600)
  await truncate(file, 1024 ** 3) // sparse: 1 GiB that costs no disk
  await rejectsWith(resolveKey({ file }), 'EAUTH')
}, 1000)

t.test('a directory is EAUTH as not a regular file, whatever its mode', async () => {
  for (const mode of [0o700, 0o755]) {
    const dir = join(await t.tempDir('troupe-key-'), 'dir')
    await mkdir(dir)
    await chmod(dir, mode)
    const err = await rejectsWith(resolveKey({ file: dir }), 'EAUTH')
    assert.ok(!err.message.includes('chmod'), `a permissions hint for a directory: ${err.message}`)
  }
})

if (process.platform !== 'win32') {
  t.test('a FIFO is EAUTH at once, without waiting for a writer', async () => {
    const fifo = join(await t.tempDir('troupe-key-'), 'fifo')
    await promisify(execFile)('mkfifo', ['-m', '600', fifo])
    // if a read is stuck waiting for a writer, be that writer so the process can exit
    t.cleanup(() => {
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK))
      } catch {
        // ENXIO: nobody is reading, as it should be
      }
    })
    await rejectsWith(resolveKey({ file: fifo }), 'EAUTH')
  }, 1000)
}

t.test('generateKey gives 32 random bytes as base64url, fit for a key file', async () => {
  const key = generateKey()
  assert.match(key, /^[A-Za-z0-9_-]{43}$/)
  assert.is(Buffer.from(key, 'base64url').length, 32)
  assert.is.not(generateKey(), key)
  const file = await keyFile(`${key}\n`, 0o600)
  assert.is(text(await resolveKey({ file })), key)
})

t.run()
