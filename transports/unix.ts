/** `unix:///path/to.sock`: a Unix domain socket (local only, so no key is required). */
import { lstat, unlink } from 'node:fs/promises'
import type { Server } from 'node:net'
import { systemClock } from '../lib/clock.js'
import { TroupeError } from '../lib/errors.js'
import { connectNet, dialSocket, newServer, serve } from './net-socket.js'
import { SlabReads } from './slab-reads.js'
import type { StreamLink } from './stream-link.js'
import type { DialOptions } from './transport.js'

export async function listenUnix(path: string, accept: (link: StreamLink) => void): Promise<Server> {
  try {
    return await serve(newServer(), { path }, () => `unix://${path}`, accept)
  } catch (err) {
    if (!(err instanceof TroupeError) || (err.cause as NodeJS.ErrnoException | undefined)?.code !== 'EADDRINUSE') throw err
  }
  // the path exists: reuse it only if it is a socket nobody answers on (left by a crash);
  // never delete anything else that happens to be there
  const isSocket = await lstat(path).then((st) => st.isSocket(), () => false)
  if (!isSocket) throw new TroupeError('ECONFIG', `unix://${path}: the path exists and is not a socket`)
  const alive = await dialSocket(connectNet({ path }), `unix://${path}`, systemClock, 1000, undefined).then(
    (socket) => (socket.destroy(), true),
    () => false,
  )
  if (alive) throw new TroupeError('ECONFIG', `unix://${path} is in use by a running server`)
  await unlink(path)
  return serve(newServer(), { path }, () => `unix://${path}`, accept)
}

export function dialUnix(path: string, options: DialOptions) {
  const target = `unix://${path}`
  const reads = new SlabReads()
  return dialSocket(connectNet({ path }, reads), target, options.clock, options.handshakeTimeoutMs, options.signal).then((socket) => ({ socket, target, reads }))
}
