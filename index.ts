/**
 * Troupe: an actor runtime that spreads work over processes and machines.
 * This module exports exactly the public surface of API.md.
 */
export { ActorSystem } from './actors/system.js'
export type { ActorSystemOptions, ActorSystemEvents, RemoteSystem, SpawnOptions } from './actors/system.js'
export type { ActorContext, Handler } from './actors/actor.js'
export type { ActorRef, AskOptions } from './actors/refs.js'
export type { NetworkOptions } from './actors/network-options.js'
export { Manager } from './actors/manager.js'
export type { ManagerEvents } from './actors/manager.js'
export type { ManagerOptions, ManagerStats, CloseOptions } from './actors/manager-options.js'
export { WorkerPool } from './actors/pool.js'
export type { WorkerPoolOptions, WorkerPoolEvents, PoolStats, PoolMode } from './actors/pool.js'
export { Client } from './actors/client.js'
export type { ClientEvents } from './actors/client.js'
export type { ClientOptions, RunOptions, EachOptions, EachResult, TypedClient, BroadcastOptions, JobOptions, JobResult } from './actors/client-options.js'
export { Job } from './actors/job.js'
export type { Everyone, Outcome, ReportLine, JobClass } from './actors/job.js'
export { defineTasks } from './actors/tasks.js'
export type { TaskContext, TaskFunction } from './actors/tasks.js'
export type { SelectWorker, TaskInfo, WorkerInfo } from './actors/routing.js'
export { TroupeError } from './lib/errors.js'
export type { ErrorCode } from './lib/errors.js'
