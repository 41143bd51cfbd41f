/**
 * A peer that asks but does not read the answers: a node that accepted its connection stops
 * reading it once it owes that peer PAUSE_READING_BYTES, goes on serving everyone else, and
 * answers every ask once the peer reads, even slowly; a node that dialed it never stops reading.
 * The asker here is our own transport with its socket paused by hand.
 */
import type { Socket } from 'node:net'
import * as assert from 'uvu/assert'
import { ActorSystem } from '../../index.js'
import { encodeValue } from '../../lib/codec.js'
import { Kind, encodeEnvelope, readEnvelope } from '../../lib/envelope.js'
import { resolveKey } from '../../lib/key.js'
import { openAccepted, openDialed, type FrameSink, type ListenOptions, type Transport } from '../../transports/index.js'
import { connectNet, dialSocket } from '../../transports/net-socket.js'
import { PAUSE_READING_BYTES, StreamLink } from '../../transports/stream-link.js'
import { dialTls, openTlsDialed } from '../../transports/tls.js'
import type { HeartbeatOptions } from '../../transports/transport.js'
import { deferred, suite, withDeadline } from '../harness.js'
import { rawServer } from '../raw-server.js'
import { options as contractOptions } from '../transport-contract.js'

const t = suite('a peer that does not read its answers')

const ANSWER_BYTES = 1024 * 1024
const ASKS = 200
// each ask is big enough that one read of the socket holds only a few of them
const ASK_PADDING = new Uint8Array(32 * 1024)
// what the node can have handled before it stops reading: its own buffer, the kernel's buffers
// on both sides (up to ~36 MiB on Linux loopback), and one read's worth of asks
const MOST_HANDLED_WHILE_STALLED = (PAUSE_READING_BYTES + 48 * 1024 * 1024) / ANSWER_BYTES

async function nodeWithBigAnswers(heartbeat: { interval: number; misses: number }, scheme = 'tcp') {
  const node = new ActorSystem({ key: 'k', heartbeat })
  t.cleanup(() => node.close())
  let handled = 0
  const reached = new Map<number, () => void>()
  node.spawn('big', () => {
    handled++
    reached.get(handled)?.()
    return new Uint8Array(ANSWER_BYTES)
  })
  node.spawn('echo', (m: unknown) => m)
  const address = await node.listen(`${scheme}://127.0.0.1:0`)
  const handledAtLeast = (n: number): Promise<void> => {
    if (handled >= n) return Promise.resolve()
    const d = deferred<void>()
    reached.set(n, () => d.resolve())
    return d.promise
  }
  return { system: node, address, handled: () => handled, handledAtLeast }
}

type Open = (options: ListenOptions, sink: FrameSink) => Promise<{ socket: Socket; transport: Transport }>

/** The asker dials the node at `address` (tcp:// or tls://), as a client does. */
const dialing = (address: string): Open => async (options, sink) => {
  const url = new URL(address)
  const host = url.hostname
  const port = Number(url.port)
  if (url.protocol === 'tls:') {
    const { socket, target } = await dialTls(host, port, options)
    return { socket, transport: await openTlsDialed(socket, target, (link) => openDialed(link, options, sink)) }
  }
  // a socket read through 'data' events, which the asker counts and pauses by hand (our own
  // dialers read through slabs instead)
  const target = `tcp://${host}:${port}`
  const socket = await dialSocket(connectNet({ host, port }), target, options.clock, options.handshakeTimeoutMs, undefined)
  return { socket, transport: await openDialed(new StreamLink(socket, target), options, sink) }
}

/** The node dials the asker, which listens on a port of its own. */
const dialedBy = (node: ActorSystem): Open => async (options, sink) => {
  const server = await rawServer(t)
  const accepted = server.nextSocket()
  const dialed = node.connect(server.url)
  const socket = await accepted
  const transport = await openAccepted(new StreamLink(socket, 'the node'), options, sink)
  await dialed
  return { socket, transport }
}

/** Connects with our own transport, stops reading at once, and sends ASKS asks to `big`. */
async function askerThatDoesNotRead(open: Open) {
  const options = contractOptions({ node: 'slow-asker', key: await resolveKey('k'), maxFrameBytes: 16 * 1024 * 1024 })
  const answers = new Map<number, number>()
  let bytesRead = 0
  const allAnswered = deferred<void>()
  const { socket, transport } = await open(options, {
    frame(buf, start, end) {
      const env = readEnvelope(buf, start, end)
      if (env.k !== Kind.Reply) return
      answers.set(env.id, (answers.get(env.id) ?? 0) + 1)
      if (answers.size === ASKS) allAnswered.resolve()
    },
    drain() {},
    closed(why) {
      allAnswered.reject(why)
    },
  })
  t.cleanup(() => transport.close())
  socket.on('data', (chunk: Buffer) => (bytesRead += chunk.length))
  socket.pause()
  for (let id = 1; id <= ASKS; id++) {
    transport.send(encodeEnvelope({ k: Kind.Ask, id, to: 'big', body: encodeValue({ id, padding: ASK_PADDING }) }))
  }
  return { socket, answers, allAnswered: allAnswered.promise, bytesRead: () => bytesRead }
}

/** Reads `bytes` more from the socket, then stops reading again. */
function readSome(socket: Socket, bytesRead: () => number, bytes: number): Promise<void> {
  const until = bytesRead() + bytes
  return new Promise((resolve) => {
    const onData = (): void => {
      if (bytesRead() < until) return
      socket.pause()
      socket.off('data', onData)
      resolve()
    }
    socket.on('data', onData)
    socket.resume()
  })
}

function assertEachAnsweredOnce(answers: Map<number, number>): void {
  assert.is(answers.size, ASKS)
  for (const [id, count] of answers) assert.is(count, 1, `ask ${id} answered ${count} times`)
}

for (const scheme of ['tcp', 'tls']) {
  t.test(`${scheme}: the node stops reading it past the bound, serves others, and answers everything once it reads`, async () => {
    const node = await nodeWithBigAnswers({ interval: 5000, misses: 3 }, scheme)
    const asker = await askerThatDoesNotRead(dialing(node.address))
    // what the node owes fills its buffer: it has handled at least that many asks
    await withDeadline(node.handledAtLeast(PAUSE_READING_BYTES / ANSWER_BYTES), 10_000, 'the node to answer up to the bound')
    // another peer is served meanwhile; each of its round trips gives the node a turn in which it
    // would read more of the asker's asks if it still read them
    const other = new ActorSystem({ key: 'k' })
    t.cleanup(() => other.close())
    const echo = (await other.connect(node.address)).ref('echo')
    for (let i = 0; i < 200; i++) assert.is(await echo.ask(i), i)
    assert.ok(node.handled() <= MOST_HANDLED_WHILE_STALLED, `handled ${node.handled()} of ${ASKS} asks while their answers went unread`)
    asker.socket.resume()
    await withDeadline(asker.allAnswered, 15_000, 'every answer')
    assertEachAnsweredOnce(asker.answers)
    assert.is(node.handled(), ASKS)
  })
}

t.test('a slow reader outlives the heartbeat window while the node does not read it', async () => {
  // silent for 5 intervals ends a connection; the asker reads a burst only every 1.5 intervals
  // and sends nothing the node would read in between (its pings wait behind its asks)
  const heartbeat: HeartbeatOptions = { intervalMs: 100, misses: 5 }
  const node = await nodeWithBigAnswers({ interval: heartbeat.intervalMs, misses: heartbeat.misses })
  const asker = await askerThatDoesNotRead(dialing(node.address))
  await withDeadline(node.handledAtLeast(PAUSE_READING_BYTES / ANSWER_BYTES), 10_000, 'the node to answer up to the bound')
  let answered = false
  const done = asker.allAnswered.then(() => (answered = true))
  while (!answered) {
    await Promise.race([readSome(asker.socket, asker.bytesRead, 16 * 1024 * 1024), done])
    // a slow consumer, not a wait for a condition: it pauses between bursts
    if (!answered) await new Promise((resolve) => setTimeout(resolve, heartbeat.intervalMs * 1.5))
  }
  assertEachAnsweredOnce(asker.answers)
}, 30_000)

t.test('a node that dialed the peer keeps reading it, however much it owes', async () => {
  const node = await nodeWithBigAnswers({ interval: 5000, misses: 3 })
  const asker = await askerThatDoesNotRead(dialedBy(node.system))
  await withDeadline(node.handledAtLeast(ASKS), 15_000, 'the node to handle every ask')
  asker.socket.resume()
  await withDeadline(asker.allAnswered, 15_000, 'every answer')
  assertEachAnsweredOnce(asker.answers)
})

t.run()
