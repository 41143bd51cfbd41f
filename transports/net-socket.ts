/**
 * Listening and dialling with `node:net`, shared by tcp:// and unix:// (and, over TLS
 * sockets, tls://): errors become `TroupeError`s, and every wait is bounded.
 */
import { createConnection, createServer, type NetConnectOpts, type Server, type Socket } from 'node:net'
import type { Clock } from '../lib/clock.js'
import { TroupeError } from '../lib/errors.js'
import { adoptForSlabReads, type SlabReads } from './slab-reads.js'
import { StreamLink } from './stream-link.js'

/**
 * Starts a server; resolves once it listens. Connections become links handed to `accept`.
 * A plain server's ('connection') sockets read through slabs where Node allows (adoptForSlabReads).
 */
export function serve(
  server: Server,
  listenArgs: { port: number; host: string } | { path: string },
  describe: (socket: Socket) => string,
  accept: (link: StreamLink) => void,
  connectionEvent = 'connection',
): Promise<Server> {
  server.on(connectionEvent, (accepted: Socket) => {
    const adopted = connectionEvent === 'connection' ? adoptForSlabReads(accepted) : undefined
    const socket = adopted?.socket ?? accepted
    accept(new StreamLink(socket, describe(socket), { pausesReading: true, reads: adopted?.reads }))
  })
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = 'path' in listenArgs ? listenArgs.path : `${listenArgs.host}:${listenArgs.port}`
      reject(new TroupeError('ECONFIG', `cannot listen on ${where}: ${err.message}`, { cause: err }))
    }
    server.once('error', onError)
    server.listen(listenArgs, () => {
      server.off('error', onError)
      // later server errors (EMFILE on accept...) are logged by the owner, not thrown
      server.on('error', () => {})
      resolve(server)
    })
  })
}

export function newServer(): Server {
  return createServer({ noDelay: true })
}

/**
 * Stops accepting. Resolves once the listening socket is closed, without waiting for open
 * connections: `server.close()`'s own callback waits for every one of them to end, and their
 * owners close them after their listeners.
 */
export function stopServer(server: Server): Promise<void> {
  if (!server.listening) return Promise.resolve()
  server.close()
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * Opens a socket and waits for it to connect, within `timeoutMs` and `signal`.
 * `open` makes the socket (net.connect or tls.connect); `readyEvent` is 'connect' or 'secureConnect'.
 */
export function dialSocket(
  open: () => Socket,
  target: string,
  clock: Clock,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  readyEvent = 'connect',
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new TroupeError('EABORT', `connecting to ${target} aborted`, { cause: signal.reason }))
      return
    }
    const socket = open()
    const fail = (err: TroupeError): void => {
      cleanup()
      socket.destroy()
      reject(err)
    }
    const onError = (err: Error): void => fail(new TroupeError('ECLOSED', `cannot connect to ${target}: ${err.message}`, { cause: err }))
    const onAbort = (): void => fail(new TroupeError('EABORT', `connecting to ${target} aborted`, { cause: signal?.reason }))
    const timer = clock.setTimer(timeoutMs, () => fail(new TroupeError('ECLOSED', `cannot connect to ${target}: no answer within ${timeoutMs} ms`)))
    const onReady = (): void => {
      cleanup()
      resolve(socket)
    }
    function cleanup(): void {
      clock.clearTimer(timer)
      socket.off('error', onError)
      socket.off(readyEvent, onReady)
      signal?.removeEventListener('abort', onAbort)
    }
    socket.once('error', onError)
    socket.once(readyEvent, onReady)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Makes a plain socket (tcp://, unix://). With `reads` it reads through them, and is made paused:
 * reading starts when its link has a listener (StreamLink resumes it).
 */
export function connectNet(options: NetConnectOpts, reads?: SlabReads): () => Socket {
  return () => {
    if (reads === undefined) return createConnection({ ...options, noDelay: true } as NetConnectOpts)
    return createConnection({ ...options, noDelay: true, onread: reads.onread } as NetConnectOpts).pause()
  }
}
