import { customAlphabet } from 'nanoid'

// Letters and digits only: ids are typed on command lines (`troupe stop ID`), where nanoid's
// default alphabet would start one in 64 of them with '-', read there as an option.
// 22 of 62 symbols carry 131 bits, more than nanoid's default 21 of 64 (126).
const alphanumeric = customAlphabet('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', 22)

/**
 * A new node id. Every manager, pool, client and actor system has one (API.md §4); messages
 * then carry a per-sender integer sequence rather than a fresh random id each.
 */
export function newNodeId(): string {
  return alphanumeric()
}
