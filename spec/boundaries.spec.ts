/** Layering (STYLE.md §1): each folder imports only what its row allows. */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as assert from 'uvu/assert'
import { suite } from './harness.js'

const t = suite('module boundaries')
const root = fileURLToPath(new URL('..', import.meta.url))

function sources(folder: string): string[] {
  return readdirSync(join(root, folder), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(folder, entry.name)) : entry.name.endsWith('.ts') ? [join(folder, entry.name)] : [],
  )
}

/** Every module specifier in a file: static imports, re-exports and dynamic imports. */
function imports(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8')
  const found = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'([^']+)'/g)].map((m) => m[1] as string)
  return found.map((spec) => (spec.startsWith('.') ? relative(root, join(root, file, '..', spec)) : spec))
}

const external = (allowed: string[]) => (spec: string) => spec.startsWith('node:') || allowed.includes(spec)

const rules: [folder: string, ok: (spec: string) => boolean][] = [
  ['lib', (s) => external(['cbor-x', 'nanoid', 'eventemitter3'])(s) || s.startsWith('lib/')],
  ['transports', (s) => s.startsWith('node:') || s.startsWith('lib/') || s.startsWith('transports/')],
  [
    'actors',
    (s) =>
      // tsx only inside the bootstrap of a thread that must load TypeScript (actors/workers.ts)
      external(['eventemitter3', 'tsx/esm/api'])(s) ||
      s.startsWith('lib/') ||
      s.startsWith('actors/') ||
      s === 'transports/transport.js' ||
      s === 'transports/index.js',
  ],
]

for (const [folder, ok] of rules) {
  t.test(`${folder}/ imports only what it may`, () => {
    const files = sources(folder)
    assert.ok(files.length > 0)
    for (const file of files) {
      for (const spec of imports(file)) assert.ok(ok(spec), `${file} imports ${spec}`)
    }
  })
}

t.test('nothing in the library imports spec/ or bench/', () => {
  for (const folder of ['lib', 'transports', 'actors']) {
    for (const file of sources(folder)) {
      for (const spec of imports(file)) assert.not.ok(/^(spec|bench)\//.test(spec), `${file} imports ${spec}`)
    }
  }
})

t.run()
