/**
 * The mutual challenge–response that opens every connection (docs/PROTOCOL.md, "Handshake").
 *
 * Each side sends a fresh 16-byte nonce; each then proves it holds the shared key with
 * HMAC-SHA256(key, role ‖ transcript), where the transcript binds both nonces and both node
 * ids. The role label differs for the dialer and the listener, so a proof reflected back at
 * its sender never verifies. The key itself never crosses the wire.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { LARGEST_FRAME_BYTES, SMALLEST_MAX_FRAME_BYTES } from './transport.js'

export const NONCE_BYTES = 16

export type Role = 'dialer' | 'listener'

/**
 * The frame limit a peer announced, as this node will respect it: raised to
 * SMALLEST_MAX_FRAME_BYTES, as no node can be configured below it (a peer announcing 0, say,
 * would otherwise be sent nothing, not even control frames), and lowered to
 * LARGEST_FRAME_BYTES. Undefined when the peer announced none (it predates the field): only our
 * own limit then applies. The decoder has already refused anything but an unsigned integer.
 */
export function announcedFrameLimit(announced: number | undefined): number | undefined {
  if (announced === undefined) return undefined
  return Math.min(Math.max(announced, SMALLEST_MAX_FRAME_BYTES), LARGEST_FRAME_BYTES)
}

export function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES))
}

/** What both sides agree on once they have each other's Hello. */
export interface Transcript {
  dialerNonce: Uint8Array
  listenerNonce: Uint8Array
  dialerNode: string
  listenerNode: string
}

/** The proof `role` sends. */
export function proofFor(key: Uint8Array, role: Role, t: Transcript): Uint8Array {
  const mac = createHmac('sha256', key)
  mac.update(`troupe-handshake-v1 ${role}\0`)
  mac.update(t.dialerNonce)
  mac.update(t.listenerNonce)
  mac.update(`${t.dialerNode}\0${t.listenerNode}`)
  return new Uint8Array(mac.digest())
}

/** Checks, in constant time, that `proof` is the one `role` should have sent. */
export function verifyProof(key: Uint8Array, role: Role, t: Transcript, proof: Uint8Array): boolean {
  const expected = proofFor(key, role, t)
  return proof.length === expected.length && timingSafeEqual(proof, expected)
}
