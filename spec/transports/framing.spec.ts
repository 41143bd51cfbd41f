import { randomBytes } from 'node:crypto'
import * as assert from 'uvu/assert'
import { TroupeError } from '../../lib/errors.js'
import { FrameReader, FrameWriter, frameBytes, type ByteStream } from '../../transports/framing.js'
import { suite } from '../harness.js'

const t = suite('framing')

function collect(maxFrameBytes = 1 << 20) {
  const frames: string[] = []
  const reader = new FrameReader(maxFrameBytes, (buf, start, end) => frames.push(Buffer.from(buf.subarray(start, end)).toString('hex')))
  return { frames, reader }
}

const payloads = [Uint8Array.of(1), new Uint8Array(0), randomBytes(300), randomBytes(70_000), Uint8Array.of(0xff, 0, 0xff)]
const stream = Buffer.concat(payloads.map((p) => frameBytes(p)))
const expected = payloads.map((p) => Buffer.from(p).toString('hex'))

t.test('a stream split at every byte offset yields the same frames', () => {
  for (let cut = 0; cut <= stream.length; cut += cut < 400 ? 1 : 997) {
    const { frames, reader } = collect()
    reader.push(stream.subarray(0, cut))
    reader.push(stream.subarray(cut))
    assert.equal(frames, expected, `cut at ${cut}`)
  }
})

t.test('bytes fed one at a time yield the same frames', () => {
  const small = Buffer.concat(payloads.slice(0, 3).map((p) => frameBytes(p)))
  const { frames, reader } = collect()
  for (const byte of small) reader.push(Uint8Array.of(byte))
  assert.equal(frames, expected.slice(0, 3))
})

t.test('1 000 frames in one chunk arrive in order, as ranges of the chunk', () => {
  const many = Array.from({ length: 1000 }, (_, i) => Buffer.from(`frame ${i}`))
  const chunk = Buffer.concat(many.map((m) => frameBytes(m)))
  const seen: string[] = []
  new FrameReader(1024, (buf, start, end) => {
    assert.is(buf, chunk, 'no copy for a frame inside one chunk')
    seen.push(Buffer.from(buf.subarray(start, end)).toString())
  }).push(chunk)
  assert.equal(seen, Array.from({ length: 1000 }, (_, i) => `frame ${i}`))
})

t.test('a length prefix over maxFrame throws EFRAME before allocating', () => {
  const { frames, reader } = collect(100)
  reader.push(frameBytes(new Uint8Array(100)))
  assert.is(frames.length, 1)
  try {
    reader.push(Uint8Array.of(0xff, 0xff, 0xff, 0xf0))
    assert.unreachable()
  } catch (err) {
    assert.instance(err, TroupeError)
    assert.is((err as TroupeError).code, 'EFRAME')
  }
})

t.test('10 000 random chunks never throw anything but EFRAME', () => {
  for (let i = 0; i < 10_000; i++) {
    const { reader } = collect(4096)
    try {
      reader.push(randomBytes(i % 97))
      reader.push(randomBytes(i % 13))
    } catch (err) {
      assert.is((err as TroupeError).code, 'EFRAME')
    }
  }
})

class RecordingStream implements ByteStream {
  writes: Uint8Array[] = []
  writableLength = 0
  write(chunk: Uint8Array): boolean {
    this.writes.push(chunk)
    return true
  }
}

t.test('frames queued in one tick go out in one write; the reader gets them back', async () => {
  const out = new RecordingStream()
  const writer = new FrameWriter(out, 1 << 20)
  for (let i = 0; i < 63; i++) writer.push(Buffer.from(`m${i}`))
  assert.is(out.writes.length, 0, 'nothing written before the microtask')
  await Promise.resolve()
  assert.is(out.writes.length, 1)
  const { frames, reader } = collect()
  reader.push(out.writes[0]!)
  assert.is(frames.length, 63)
  assert.is(Buffer.from(frames[62]!, 'hex').toString(), 'm62')
})

t.test('a burst of small frames is written every 64 frames, so the peer can start early', async () => {
  const out = new RecordingStream()
  const writer = new FrameWriter(out, 1 << 20)
  for (let i = 0; i < 64; i++) writer.push(Buffer.from(`m${i}`))
  assert.is(out.writes.length, 1, 'the 64th frame flushed the batch')
  for (let i = 64; i < 100; i++) writer.push(Buffer.from(`m${i}`))
  await Promise.resolve()
  assert.is(out.writes.length, 2)
  const { frames, reader } = collect()
  for (const w of out.writes) reader.push(w)
  assert.equal(frames.map((f) => Buffer.from(f, 'hex').toString()), Array.from({ length: 100 }, (_, i) => `m${i}`))
})

t.test('past the flush threshold a batch goes out at once; a large frame is not copied', () => {
  const out = new RecordingStream()
  const writer = new FrameWriter(out, 1 << 30)
  for (let i = 0; i < 40; i++) writer.push(new Uint8Array(1000))
  assert.ok(out.writes.length >= 1, 'flushed before the microtask')
  const big = new Uint8Array(100_000)
  writer.push(big)
  assert.is(out.writes[out.writes.length - 1], big)
  writer.push(big, 10, 50_000)
  const part = out.writes[out.writes.length - 1]!
  assert.is(part.buffer, big.buffer)
  assert.is(part.byteOffset, 10)
  assert.is(part.length, 49_990)
})

t.test('frames given as ranges go out as those bytes only, small and large', async () => {
  const out = new RecordingStream()
  const writer = new FrameWriter(out, 1 << 30)
  const slab = Buffer.from('xxhelloyyworldzz' + 'w'.repeat(200))
  writer.push(slab, 2, 7)
  writer.push(slab, 9, 14)
  writer.push(slab, 16, 216)
  await Promise.resolve()
  const { frames, reader } = collect()
  for (const w of out.writes) reader.push(w)
  assert.equal(frames.map((f) => Buffer.from(f, 'hex').toString()), ['hello', 'world', 'w'.repeat(200)])
})

t.test('push reports backpressure from the stream buffer and the batch', () => {
  const out = new RecordingStream()
  const writer = new FrameWriter(out, 10_000)
  assert.ok(writer.push(new Uint8Array(100)))
  out.writableLength = 20_000
  assert.not.ok(writer.push(new Uint8Array(100)))
  writer.discard()
  assert.not.ok(writer.push(new Uint8Array(1)))
})

t.test('past 1 MiB in the socket, frames wait for writeHeld() and go out in order; pending counts them', () => {
  const out = new RecordingStream()
  const writer = new FrameWriter(out, 1 << 30)
  const frame = (i: number): Uint8Array => new Uint8Array(20_000).fill(i)
  writer.push(frame(0))
  out.writableLength = 1 << 20 // the socket has not sent it yet
  for (let i = 1; i <= 3; i++) writer.push(frame(i))
  assert.is(out.writes.length, 2, 'only the first frame (prefix + bytes) reached the socket')
  assert.is(writer.pendingBytes, (1 << 20) + 3 * 20_004)
  out.writableLength = 0 // drained: one more frame fills it again
  const write = out.write.bind(out)
  out.write = (chunk) => ((out.writableLength += chunk.length), write(chunk))
  writer.writeHeld()
  assert.is(out.writes.length, 2 + 2 * 3, 'frames 1-3 went out')
  out.writableLength = 1 << 20
  writer.push(frame(4))
  writer.writeHeld() // a socket still at its share takes nothing
  assert.is(out.writes.length, 2 + 2 * 3, 'frame 4 waits')
  writer.writeHeld(true) // ending: everything goes
  const { frames, reader } = collect()
  for (const w of out.writes) reader.push(w)
  assert.equal(frames.map((f) => Buffer.from(f, 'hex')[0]), [0, 1, 2, 3, 4])
  assert.is(writer.pendingBytes, out.writableLength)
})

t.run()
