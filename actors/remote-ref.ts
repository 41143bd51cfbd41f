/**
 * Messages that cross a connection, as local code sees them: `RemoteRef`, the `ActorRef` of an
 * actor on another node (tell and ask), and `RemoteAnswer`, which carries a local actor's answer
 * back to the node that asked. Both only forward to their `Peer`, which owns the connection
 * (framing, congestion, pending asks); they live apart from it so that peer.ts holds the
 * connection alone.
 */
import type { TroupeError } from '../lib/errors.js'
import type { Answer } from './actor.js'
import type { Peer } from './peer.js'
import type { ActorRef, AskOptions } from './refs.js'

/** Routes an actor's answer back over the connection the ask came from. */
export class RemoteAnswer implements Answer {
  readonly #peer: Peer
  readonly #id: number

  constructor(peer: Peer, id: number) {
    this.#peer = peer
    this.#id = id
  }

  resolve(value: unknown): void {
    this.#peer.answer(this.#id, value)
  }

  reject(err: TroupeError): void {
    this.#peer.answerError(this.#id, err)
  }
}

/** An actor on another node; messages are copied through CBOR. */
export class RemoteRef<M, R> implements ActorRef<M, R> {
  readonly name: string
  readonly #peer: Peer

  constructor(peer: Peer, name: string) {
    this.#peer = peer
    this.name = name
  }

  tell(message: M): void {
    this.#peer.tell(this.name, message)
  }

  ask(message: M, options?: AskOptions): Promise<R> {
    return this.#peer.ask(this.name, message, options) as Promise<R>
  }
}
