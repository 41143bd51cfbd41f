/**
 * Codec figures: what one ask costs to put on the wire and take off it (payload with cbor-x,
 * envelope with lib/envelope.ts), against cbor-x doing the same whole message alone.
 */
import { Decoder, Encoder } from 'cbor-x'
import { decodeValue, encodeValue } from '../lib/codec.js'
import { Kind, encodeEnvelope, readEnvelope } from '../lib/envelope.js'
import { tightLoop } from './measure.js'

const payload = { id: 42, name: 'resize', args: [640, 480], tags: ['a', 'b'] }

export function cborxAlone(durationMs: number, warmupMs: number) {
  const encoder = new Encoder({ useRecords: false })
  const decoder = new Decoder({ useRecords: false })
  const check = decoder.decode(encoder.encode([Kind.Ask, 1, 'echo', payload])) as unknown[]
  if (JSON.stringify(check[3]) !== JSON.stringify(payload)) throw new Error('cbor-x round trip differs')
  return tightLoop((i) => decoder.decode(encoder.encode([Kind.Ask, i, 'echo', payload])), durationMs, warmupMs)
}

export function envelopeRoundTrip(durationMs: number, warmupMs: number) {
  const roundTrip = (i: number): unknown => {
    const frame = encodeEnvelope({ k: Kind.Ask, id: i, to: 'echo', body: encodeValue(payload) })
    const env = readEnvelope(frame)
    return env.k === Kind.Ask ? decodeValue(env.body) : undefined
  }
  if (JSON.stringify(roundTrip(1)) !== JSON.stringify(payload)) throw new Error('envelope round trip differs')
  return tightLoop(roundTrip, durationMs, warmupMs)
}

/** Bytes of one ask frame for the echo figures (prefix included), for the raw echo's message size. */
export function askFrameBytes(): number {
  return 4 + encodeEnvelope({ k: Kind.Ask, id: 100_000, to: 'echo', body: encodeValue(100_000) }).length
}
