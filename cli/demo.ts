/**
 * `troupe demo` (what `npm start` runs): the actor core in one process, then over mem://, then
 * over tcp://127.0.0.1, printing what happens. Loopback only; exits 0 in about a second.
 */
import { ActorSystem, TroupeError } from '../index.js'

type Say = (line: string) => void

export async function demo(say: Say = (line) => process.stdout.write(line + '\n')): Promise<void> {
  const server = new ActorSystem({ name: 'demo-server' })
  const client = new ActorSystem({ name: 'demo-client' })
  try {
    server.spawn('counter', (msg: { add: number }, ctx) => {
      ctx.state.n = (ctx.state.n ?? 0) + msg.add
      return ctx.state.n as number
    })
    server.spawn('slow', () => new Promise((resolve) => setTimeout(resolve, 500, 'finally')))
    server.spawn('picky', (word: string) => {
      if (word !== 'please') throw Object.assign(new Error(`"${word}" is not the magic word`), { code: 'E_MANNERS' })
      return 'thank you'
    })

    say('1. in-process: messages pass by reference, one at a time per actor')
    const local = server.ref<{ add: number }, number>('counter')
    say(`   counter.ask({ add: 2 }) → ${await local.ask({ add: 2 })}`)

    for (const [step, url] of [[2, 'mem://troupe-demo'], [3, 'tcp://127.0.0.1:0']] as const) {
      const key = 'demo key'
      const address = await server.listen(url, { key })
      const peer = await client.connect(address, { key })
      say(`${step}. ${address}: same calls, messages copied through CBOR`)
      say(`   counter.ask({ add: 1 }) → ${await peer.ref<{ add: number }, number>('counter').ask({ add: 1 })}`)
      await peer.ref('slow').ask(null, { timeout: 50 }).catch((err: TroupeError) => say(`   slow.ask(…, { timeout: 50 }) → ${err.code}: ${err.message}`))
      await peer.ref('picky').ask('now').catch((err: TroupeError) => say(`   picky.ask('now') → ${err.code} (${err.remoteCode}): ${err.message}`))
      say(`   picky.ask('please') → ${await peer.ref('picky').ask('please')}`)
      const intruder = new ActorSystem({ name: 'intruder' })
      await intruder.connect(address, { key: 'a guess' }).catch((err: TroupeError) => say(`   a wrong key → ${err.code}`))
      await intruder.close()
    }
  } finally {
    await Promise.all([client.close(), server.close()])
  }
  say('4. closed: every pending ask was settled')
}
