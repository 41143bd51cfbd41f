/** Actor ask figures: in-process, over mem://, and over tcp:// to a server in another process. */
import { ActorSystem, type ActorRef } from '../index.js'
import { closedLoop, type LoopOptions } from './measure.js'

async function validated(ref: ActorRef<number, unknown>): Promise<ActorRef<number, unknown>> {
  for (const probe of [0, 1, 123_456]) {
    const answer = await ref.ask(probe)
    if (answer !== probe) throw new Error(`echo answered ${String(answer)} for ${probe}`)
  }
  return ref
}

export async function askInProcess(options: LoopOptions) {
  const system = new ActorSystem()
  try {
    const ref = await validated(system.spawn('echo', (m: number) => m))
    return await closedLoop((i) => ref.ask(i), options)
  } finally {
    await system.close()
  }
}

export async function askOverMemory(options: LoopOptions) {
  const server = new ActorSystem()
  const client = new ActorSystem()
  try {
    server.spawn('echo', (m: number) => m)
    const peer = await client.connect(await server.listen('mem://bench-ask'))
    const ref = await validated(peer.ref<number, unknown>('echo'))
    return await closedLoop((i) => ref.ask(i), options)
  } finally {
    await Promise.all([client.close(), server.close()])
  }
}

/** `address` is an actor-server.ts process with an `echo` actor. */
export async function askOverTcp(address: string, options: LoopOptions) {
  const client = new ActorSystem()
  try {
    const peer = await client.connect(address)
    const ref = await validated(peer.ref<number, unknown>('echo'))
    return await closedLoop((i) => ref.ask(i), options)
  } finally {
    await client.close()
  }
}
