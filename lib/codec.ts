/**
 * The codec for user payloads: task inputs and results, actor messages, error `data`. One
 * long-lived cbor-x encoder and decoder serve the whole process (cbor-x reuses an arena across
 * calls). Envelopes themselves use the smaller hand-written codec in `envelope.ts`.
 */
import { Decoder, Encoder, addExtension, setSizeLimits } from 'cbor-x'
import type { ByteRange } from './cbor-lite.js'
import { TroupeError, asError } from './errors.js'

// Plain CBOR that any language can read: no cbor-x records. Uint8Array stays tagged (64) so it
// decodes as a Uint8Array, not as a Buffer; Map, Set, Date, bigint and undefined use their
// standard tags and simple values.
const options = { useRecords: false, mapsAsObjects: true } as const
const encoder = new Encoder(options)
// Decoding a new Uint8Array costs cbor-x ~200 ns on its own (it builds a DataView and stores it
// as a property of the source), more than the decode itself for a small payload. So payloads up
// to SCRATCH_BYTES are copied into one reused buffer and decoded there, by a decoder that copies
// byte strings out of it; larger ones are decoded in place, their byte strings left as views.
// Measured in bench/codec.ts `codec.envelope`: 246 → 68 ns for an integer, 455 → 255 ns for a
// small object.
const SCRATCH_BYTES = 8 * 1024
const scratch = new Uint8Array(SCRATCH_BYTES)
const scratchDecoder = new Decoder({ ...options, copyBuffers: true })
const inPlaceDecoder = new Decoder(options)
// cbor-x flags: encode into the encoder's own buffer from its start, rewritten by the next
// encode; it then returns that whole buffer with the encoding's `start` and `end`
const REUSE_AND_RESET_BUFFER = 512 | 1024
// cbor-x takes these second arguments; its typings omit them
const encodeWithMode = encoder.encode.bind(encoder) as unknown as (value: unknown, mode: number) => Uint8Array & { start: number; end: number }
const decodeScratch = scratchDecoder.decode.bind(scratchDecoder) as (source: Uint8Array, end: number) => unknown

// Every array element, map entry or object key takes at least one byte, so nothing decoded
// from a frame of at most maxFrame bytes (default 16 MiB) can legitimately hold more than
// 16 Mi of them. cbor-x's limits are module-wide; these only lower its defaults slightly.
const MAX_ITEMS = 16 * 1024 * 1024
setSizeLimits({ maxArraySize: MAX_ITEMS, maxMapSize: MAX_ITEMS, maxObjectSize: MAX_ITEMS })

/**
 * The largest bignum (CBOR tags 2 and 3) a payload may hold: 1 KiB of magnitude, 8192 bits, far
 * beyond any id, hash or key a task passes. Payloads with a longer one fail with `EPROTO`.
 */
export const MAX_BIGNUM_BYTES = 1024

// cbor-x builds a bignum a byte at a time, copying the whole value so far at each step: the
// cost grows with the square of the length, and one 1 MiB bignum from a peer blocks the event
// loop for over a minute. Its tag decoders are module-wide, so these replace its own for every
// cbor-x decoder in the process: the limit holds only while decodeValue runs, and the others
// get the same bigint for a well-formed bignum, read through hex in linear time.
let decodingPayload = false

function decodeBignum(magnitude: unknown): bigint {
  if (!(magnitude instanceof Uint8Array)) throw new Error('a bignum must be a byte string')
  const n = magnitude.length
  if (decodingPayload && n > MAX_BIGNUM_BYTES) throw new Error(`bignum of ${n} bytes exceeds ${MAX_BIGNUM_BYTES} bytes`)
  if (n === 0) return 0n
  return BigInt('0x' + Buffer.from(magnitude.buffer, magnitude.byteOffset, n).toString('hex'))
}

// cbor-x's typings ask for a class and an encoder too; without them it registers a decoder only
type TagDecoder = Parameters<typeof addExtension<bigint, unknown>>[0]
addExtension({ tag: 2, decode: decodeBignum } as TagDecoder)
addExtension({ tag: 3, decode: (magnitude: unknown) => -1n - decodeBignum(magnitude) } as TagDecoder)

/** An empty payload: the encoding of `undefined`. */
const UNDEFINED_BYTES: Uint8Array = Uint8Array.of(0xf7)

/**
 * Encodes a user value. The result is a view into cbor-x's arena: valid until the caller drops
 * it (cbor-x never writes over bytes it has handed out), and copied into a frame right away.
 * @throws TroupeError `EPROTO` when the value cannot be represented (a function, a cycle, ...).
 */
export function encodeValue(value: unknown): Uint8Array {
  if (value === undefined) return UNDEFINED_BYTES
  try {
    return encoder.encode(value)
  } catch (caught) {
    throw new TroupeError('EPROTO', `value cannot be encoded as CBOR: ${asError(caught).message}`, { cause: caught })
  }
}

// What encodeTransient returns: one object, pointed at each new encoding rather than a view
// made per call (a view costs ~50 ns and 96 bytes; bench ask.tcp.c256)
const transient = { buf: UNDEFINED_BYTES, start: 0, end: 1 }

/**
 * Encodes a user value into cbor-x's own buffer, for bytes copied into a frame at once (half
 * the cost of `encodeValue` for small values). The range, and the bytes it points at, are valid
 * only until the next encode.
 * @throws TroupeError `EPROTO` when the value cannot be represented.
 */
export function encodeTransient(value: unknown): ByteRange {
  if (value === undefined) {
    transient.buf = UNDEFINED_BYTES
    transient.start = 0
    transient.end = 1
    return transient
  }
  let target: Uint8Array & { start: number; end: number }
  try {
    target = encodeWithMode(value, REUSE_AND_RESET_BUFFER)
  } catch (caught) {
    throw new TroupeError('EPROTO', `value cannot be encoded as CBOR: ${asError(caught).message}`, { cause: caught })
  }
  transient.buf = target
  transient.start = target.start
  transient.end = target.end
  return transient
}

/**
 * Decodes exactly one CBOR value filling `bytes`. Byte strings in a result over 8 KiB are views
 * into `bytes`, so a frame must not be reused while its values are alive.
 * @throws TroupeError `EPROTO` for malformed, truncated or trailing bytes, or a bignum over
 * {@link MAX_BIGNUM_BYTES}.
 */
export function decodeValue(bytes: Uint8Array): unknown {
  const n = bytes.length
  if (n === 1 && bytes[0] === 0xf7) return undefined
  decodingPayload = true
  try {
    if (n > SCRATCH_BYTES || n === 0) return inPlaceDecoder.decode(bytes)
    scratch.set(bytes)
    return decodeScratch(scratch, n)
  } catch (caught) {
    throw new TroupeError('EPROTO', `malformed CBOR payload: ${asError(caught).message}`, { cause: caught })
  } finally {
    decodingPayload = false
  }
}
