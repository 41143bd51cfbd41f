/**
 * Troupe: an actor runtime that spreads work over processes and machines.
 * This module exports exactly the public surface of API.md.
 */
export { ActorSystem } from './actors/system.js'
export type { ActorSystemOptions, ActorSystemEvents, RemoteSystem, SpawnOptions } from './actors/system.js'
export type { ActorContext, Handler } from './actors/actor.js'
export type { ActorRef, AskOptions } from './actors/refs.js'
export type { NetworkOptions } from './actors/network-options.js'
export { TroupeError } from './lib/errors.js'
export type { ErrorCode } from './lib/errors.js'
