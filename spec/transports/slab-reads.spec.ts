/**
 * A socket we dial reads into slabs of our own (transports/slab-reads.ts) rather than through
 * 'data' events. Frames are handed on as ranges of those reads, so a slab must never be written
 * over while a frame in it may still be held; and a socket must not read before its link listens.
 */
import { connect, type Socket } from 'node:net'
import * as assert from 'uvu/assert'
import { frameBytes } from '../../transports/framing.js'
import { NO_LISTENER } from '../../transports/link.js'
import { connectNet } from '../../transports/net-socket.js'
import { SlabReads } from '../../transports/slab-reads.js'
import { StreamLink } from '../../transports/stream-link.js'
import { deferred, nextEvent, suite, withDeadline } from '../harness.js'
import { rawServer, type RawServer } from '../raw-server.js'

const t = suite('slab reads')

/** Dials a raw server reading through slabs; `peer` is the server's end of the connection. */
async function dialed(): Promise<{ socket: Socket; link: StreamLink; peer: Socket; server: RawServer }> {
  const server = await rawServer(t)
  const accepted = server.nextSocket()
  const reads = new SlabReads()
  const socket = connectNet({ host: '127.0.0.1', port: server.port }, reads)()
  t.cleanup(() => void socket.destroy())
  await nextEvent(socket, 'connect', 5000)
  return { socket, link: new StreamLink(socket, server.url, { reads }), peer: await accepted, server }
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

t.test('frames held as views stay intact over many reads and several slabs', async () => {
  const count = 300 // 300 kB: several 64 KiB slabs
  const { link, peer } = await dialed()
  const { frames, all } = keepViews(link, count)
  await writeEach(peer, Array.from({ length: count }, (_, i) => frame(i)))
  await all
  for (const [i, f] of frames.entries()) assert.equal(f, frame(i), `frame ${i}`)
  // a frame split between two reads is copied out by the reader: count the slabs only
  const slabs = new Set(frames.map((f) => f.buffer).filter((b) => b.byteLength === 64 * 1024))
  assert.ok(slabs.size > 1, `the reads filled ${slabs.size} slab(s), not several`)
})

t.test('nothing is read before the link listens, and nothing that waited is lost', async () => {
  const { socket, link, peer, server } = await dialed()
  // a plain connection that hears one byte after the frames were sent: by the end of the turn
  // it is read in, the frames (in their socket's buffer first, loopback delivers as it writes)
  // would have been read too, had the socket been reading
  const accepted = server.nextSocket()
  const sentinel = connect(server.port, '127.0.0.1')
  t.cleanup(() => void sentinel.destroy())
  const sentinelPeer = await accepted
  await writeEach(peer, [frame(1), frame(2), frame(3)])
  sentinelPeer.write('!')
  await nextEvent(sentinel, 'data', 5000)
  await new Promise((resolve) => setImmediate(resolve))
  assert.is(socket.bytesRead, 0, 'read before anyone listened')
  const { frames, all } = keepViews(link, 3)
  await all
  assert.equal(frames, [frame(1), frame(2), frame(3)])
})

t.test('a frame larger than a slab arrives whole, and the small ones after it too', async () => {
  const { link, peer } = await dialed()
  const large = Uint8Array.from({ length: 200_000 }, (_, i) => i % 256)
  const { frames, all } = keepViews(link, 3)
  await writeEach(peer, [frame(7), large, frame(8)])
  await all
  assert.equal(frames, [frame(7), large, frame(8)])
})

t.run()
