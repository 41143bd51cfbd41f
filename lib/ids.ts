import { nanoid } from 'nanoid'

/**
 * A new node id. Every manager, pool, client and actor system has one (API.md §4); messages
 * then carry a per-sender integer sequence rather than a fresh random id each.
 */
export function newNodeId(): string {
  return nanoid()
}
