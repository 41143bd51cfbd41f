/**
 * The codec for user payloads: task inputs and results, actor messages, error `data`. One
 * long-lived cbor-x encoder and decoder serve the whole process (cbor-x reuses an arena across
 * calls). Envelopes themselves use the smaller hand-written codec in `envelope.ts`.
 */
import { Decoder, Encoder, setSizeLimits } from 'cbor-x'
import { TroupeError, asError } from './errors.js'

// Plain CBOR that any language can read: no cbor-x records. Uint8Array stays tagged (64) so it
// decodes as a Uint8Array, not as a Buffer; Map, Set, Date, bigint and undefined use their
// standard tags and simple values.
const options = { useRecords: false, mapsAsObjects: true } as const
const encoder = new Encoder(options)
const decoder = new Decoder(options)

// Every array element, map entry or object key takes at least one byte, so nothing decoded
// from a frame of at most maxFrame bytes (default 16 MiB) can legitimately hold more than
// 16 Mi of them. cbor-x's limits are module-wide; these only lower its defaults slightly.
const MAX_ITEMS = 16 * 1024 * 1024
setSizeLimits({ maxArraySize: MAX_ITEMS, maxMapSize: MAX_ITEMS, maxObjectSize: MAX_ITEMS })

/** An empty payload: the encoding of `undefined`. */
export const UNDEFINED_BYTES: Uint8Array = Uint8Array.of(0xf7)

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

/**
 * Decodes exactly one CBOR value filling `bytes`. Byte strings in the result are views into
 * `bytes`, so a frame must not be reused while its values are alive.
 * @throws TroupeError `EPROTO` for malformed, truncated or trailing bytes.
 */
export function decodeValue(bytes: Uint8Array): unknown {
  if (bytes.length === 1 && bytes[0] === 0xf7) return undefined
  try {
    return decoder.decode(bytes)
  } catch (caught) {
    throw new TroupeError('EPROTO', `malformed CBOR payload: ${asError(caught).message}`, { cause: caught })
  }
}
