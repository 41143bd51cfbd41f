import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { generateKey, resolveKey } from '../../lib/key.js'
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

t.test('a missing, empty or unreadable key file is EAUTH', async () => {
  const empty = await keyFile('\n', 0o600)
  await rejectsWith(resolveKey({ file: empty }), 'EAUTH')
  await rejectsWith(resolveKey({ file: join(empty, '..', 'missing') }), 'EAUTH')
  await rejectsWith(resolveKey({ file: join(empty, '..') }), 'EAUTH') // a directory
})

t.test('generateKey gives 32 random bytes as base64url, fit for a key file', async () => {
  const key = generateKey()
  assert.match(key, /^[A-Za-z0-9_-]{43}$/)
  assert.is(Buffer.from(key, 'base64url').length, 32)
  assert.is.not(generateKey(), key)
  const file = await keyFile(`${key}\n`, 0o600)
  assert.is(text(await resolveKey({ file })), key)
})

t.run()
