/**
 * The mutual challenge–response that opens every connection (docs/PROTOCOL.md, "Handshake").
 *
 * Each side sends a fresh 16-byte nonce; each then proves it holds the shared key with
 * HMAC-SHA256(key, role ‖ transcript), where the transcript binds both nonces and both node
 * ids. The role label differs for the dialer and the listener, so a proof reflected back at
 * its sender never verifies. The key itself never crosses the wire.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export const NONCE_BYTES = 16

export type Role = 'dialer' | 'listener'

/**
 * Least frame limit a peer may announce in its Hello: no Troupe node can be configured below it
 * (the `maxFrame` option's minimum). A peer announcing less (0, say) would otherwise make this
 * node refuse every frame to it, its own small control messages included.
 */
export const MIN_ANNOUNCED_FRAME_BYTES = 1024
/** Most a peer may announce: the 4-byte length prefix describes nothing larger. */
export const MAX_ANNOUNCED_FRAME_BYTES = 0xffffffff

/**
 * The frame limit a peer announced, as this node will respect it: raised to
 * MIN_ANNOUNCED_FRAME_BYTES, lowered to MAX_ANNOUNCED_FRAME_BYTES. Undefined when the peer
 * announced none (it predates the field): only our own limit then applies. The decoder has
 * already refused anything but an unsigned integer.
 */
export function announcedFrameLimit(announced: number | undefined): number | undefined {
  if (announced === undefined) return undefined
  return Math.min(Math.max(announced, MIN_ANNOUNCED_FRAME_BYTES), MAX_ANNOUNCED_FRAME_BYTES)
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
