/**
 * A socket we dial, one a server of ours accepts, and a pool's end of a child's channel all read
 * into slabs of our own (transports/slab-reads.ts) rather than through 'data' events. Frames are
 * handed on as ranges of those reads, so a slab must never be written over while a frame in it
 * may still be held; and a socket must not read before its link listens.
 */
import { connect, type Server, type Socket } from 'node:net'
import * as assert from 'uvu/assert'
import { frameBytes } from '../../transports/framing.js'
import { NO_LISTENER } from '../../transports/link.js'
import { connectNet, newServer } from '../../transports/net-socket.js'
import { SlabReads, adoptForSlabReads } from '../../transports/slab-reads.js'
import { StreamLink } from '../../transports/stream-link.js'
import { donatedSocketpair } from '../children.js'
import { deferred, nextEvent, suite, withDeadline } from '../harness.js'
import { rawServer } from '../raw-server.js'

const t = suite('slab reads')

/** A link reading through slabs; `peer` is the other end of its connection, a plain socket. */
interface Ends {
  socket: Socket
  link: StreamLink
  peer: Socket
}

/** Dials a raw server, reading through slabs. */
async function dialed(): Promise<Ends> {
  const server = await rawServer(t)
  const accepted = server.nextSocket()
  const reads = new SlabReads()
  const socket = connectNet({ host: '127.0.0.1', port: server.port }, reads)()
  t.cleanup(() => void socket.destroy())
  await nextEvent(socket, 'connect', 5000)
  return { socket, link: new StreamLink(socket, server.url, { reads }), peer: await accepted }
}

/** Listens as our servers do (newServer) and adopts each socket it accepts, before it can read. */
async function adoptingServer(): Promise<{ server: Server; port: number; next(): Promise<{ socket: Socket; reads: SlabReads }> }> {
  const server = newServer()
  t.cleanup(() => new Promise<void>((resolve) => server.close(() => resolve())))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  const next = async () => {
    const [accepted] = await nextEvent<[Socket]>(server, 'connection', 5000)
    const adopted = adoptForSlabReads(accepted)
    if (adopted === undefined) throw new Error('this Node would not let an accepted socket be adopted')
    t.cleanup(() => void adopted.socket.destroy())
    return adopted
  }
  return { server, port, next }
}

/** Connects to a server of ours, whose end reads through slabs. */
async function accepted(): Promise<Ends> {
  const { port, next } = await adoptingServer()
  const adopted = next()
  const peer = connect(port, '127.0.0.1')
  t.cleanup(() => void peer.destroy())
  const { socket, reads } = await adopted
  return { socket, link: new StreamLink(socket, 'accepted', { reads }), peer }
}

/** The parent's end of a child's channel (the ipc transport's carrier), adopted. */
async function channel(): Promise<Ends> {
  const { child, theirs } = await donatedSocketpair()
  t.cleanup(() => void theirs.destroy())
  // adopted after the donor's message, not in the turn of the spawn: nothing was written to it yet
  const adopted = adoptForSlabReads(child.stdio[3] as Socket)
  if (adopted === undefined) throw new Error('this Node would not let a stdio pipe be adopted')
  t.cleanup(() => void adopted.socket.destroy())
  return { socket: adopted.socket, link: new StreamLink(adopted.socket, 'channel', { reads: adopted.reads }), peer: theirs }
}

/** A plain loopback connection: `near` reads through 'data', `far` is the server's end. */
async function plainConnection(): Promise<{ near: Socket; far: Socket }> {
  const server = await rawServer(t)
  const far = server.nextSocket()
  const near = connect(server.port, '127.0.0.1')
  t.cleanup(() => void near.destroy())
  return { near, far: await far }
}

/** Keeps every frame the link delivers as the view it arrived as, not a copy. */
function keepViews(link: StreamLink, count: number): { frames: Uint8Array[]; all: Promise<void> } {
  const frames: Uint8Array[] = []
  const all = deferred()
  link.events = {
    ...NO_LISTENER,
    frame(buf, start, end) {
      frames.push(buf.subarray(start, end))
      if (frames.length === count) all.resolve()
    },
  }
  return { frames, all: withDeadline(all.promise, 10_000, `${count} frames`) }
}

/** Frame `i`: 1 000 bytes of `i % 251`, so that a frame written over by a later read shows. */
const frame = (i: number): Uint8Array => new Uint8Array(1000).fill(i % 251)

/** Writes each frame on its own, waiting for it to leave, so that they arrive in many reads. */
async function writeEach(socket: Socket, frames: Uint8Array[]): Promise<void> {
  for (const f of frames) await new Promise<void>((resolve, reject) => socket.write(frameBytes(f), (err) => (err ? reject(err) : resolve())))
}

for (const [side, ends] of [['dialed', dialed], ['accepted', accepted], ['channel', channel]] as const) {
  t.test(`${side}: frames held as views stay intact over many reads and several slabs`, async () => {
    const count = 300 // 300 kB: several 64 KiB slabs
    const { link, peer } = await ends()
    const { frames, all } = keepViews(link, count)
    await writeEach(peer, Array.from({ length: count }, (_, i) => frame(i)))
    await all
    for (const [i, f] of frames.entries()) assert.equal(f, frame(i), `frame ${i}`)
    // a frame split between two reads is copied out by the reader: count the slabs only
    const slabs = new Set(frames.map((f) => f.buffer).filter((b) => b.byteLength === 64 * 1024))
    assert.ok(slabs.size > 1, `the reads filled ${slabs.size} slab(s), not several`)
  })

  t.test(`${side}: nothing is read before the link listens, and nothing that waited is lost`, async () => {
    const { socket, link, peer } = await ends()
    // a connection that hears one byte after the frames were sent: by the end of the turn it is
    // read in, the frames (in their socket's buffer first, loopback delivers as it writes) would
    // have been read too, had the socket been reading
    const sentinel = await plainConnection()
    await writeEach(peer, [frame(1), frame(2), frame(3)])
    sentinel.far.write('!')
    await nextEvent(sentinel.near, 'data', 5000)
    await new Promise((resolve) => setImmediate(resolve))
    assert.is(socket.bytesRead, 0, 'read before anyone listened')
    const { frames, all } = keepViews(link, 3)
    await all
    assert.equal(frames, [frame(1), frame(2), frame(3)])
  })

  t.test(`${side}: a frame larger than a slab arrives whole, and the small ones after it too`, async () => {
    const { link, peer } = await ends()
    const large = Uint8Array.from({ length: 200_000 }, (_, i) => i % 256)
    const { frames, all } = keepViews(link, 3)
    await writeEach(peer, [frame(7), large, frame(8)])
    await all
    assert.equal(frames, [frame(7), large, frame(8)])
  })
}

t.test('an adopted socket counts as a connection of its server until it closes', async () => {
  const { server, port, next } = await adoptingServer()
  const adopted = next()
  const client = connect(port, '127.0.0.1')
  t.cleanup(() => void client.destroy())
  const { socket } = await adopted
  const count = () => new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))))
  assert.is(await count(), 1)
  // the server's close waits for its connections: it comes only once the adopted socket closes
  const closed = deferred()
  server.close(() => closed.resolve())
  socket.destroy()
  await withDeadline(closed.promise, 5000, 'the server closing after its adopted connection')
  assert.is(await count(), 0)
})

t.run()
