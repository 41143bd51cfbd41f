import * as assert from 'uvu/assert'
import { startFixture, stopChild } from '../children.js'
import { suite } from '../harness.js'
import { transportContract } from '../transport-contract.js'
import { tlsUrl, urlDriver } from './drivers.js'

// keyed by the PSK derived from the contract's shared key
transportContract('tls', urlDriver(tlsUrl))

const lazy = suite('tls:// is loaded lazily')

lazy.test('a grid over tcp:// never loads node:tls', async () => {
  const { child, hello } = await startFixture<{ answer: string; tlsLoaded: boolean }>('tcp-grid-modules.ts')
  lazy.cleanup(() => stopChild(child))
  assert.is(hello.answer, 'through tcp')
  assert.is(hello.tlsLoaded, false)
})

lazy.run()
