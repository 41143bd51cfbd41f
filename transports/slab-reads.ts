/**
 * Reads into slabs of our own, through Node's `onread` socket option, on every plain socket:
 * tcp:// and unix://, dialled and accepted, and both ends of a child process's channel. A socket
 * read this way has no Readable stream machinery and no Buffer per read: ~1.5 µs less user CPU
 * per read in the pool and in the client of bench `task.tcp.c1` (17.3–18.0 → 15.3–16.7 µs and
 * 17.7–19.7 → 16.8–18.2 µs per task; a bare TCP echo client saves more, 11.3 → 7.6 µs). Node
 * offers `onread` only to sockets we make; those Node makes for us (accepted ones, a child's
 * channel) are adopted (`adoptForSlabReads`). TLS sockets still read through 'data'.
 *
 * Each read lands just after the last one in the current slab, and a slab is never written over:
 * frames handed on as ranges of a read stay valid for as long as anyone holds them, as they do
 * with the Buffers Node would have made. What a held view keeps alive differs: its whole 64 KiB
 * slab, where Node's Buffer held only the bytes of one read; so links' users copy what they keep
 * (LinkEvents.frame), and only byte strings over 8 KiB in a decoded value stay views (lib/codec.ts).
 */
import { Socket, type SocketConstructorOpts } from 'node:net'

/** A new slab's size: Node's own read size. */
const SLAB_BYTES = 64 * 1024
/** Room a read is given at least; with less left, the next read starts a new slab. */
const MIN_READ_BYTES = 16 * 1024

export class SlabReads {
  /**
   * Receives each read: its bytes are `chunk[0, end)`. Set by the link that reads them, before
   * its socket is resumed: the socket is made paused so that nothing is read (and lost) before.
   */
  onChunk: (chunk: Uint8Array, end: number) => void = () => {}
  #slab = new Uint8Array(SLAB_BYTES)
  #used = 0

  /** The socket's `onread` option. Node asks `buffer()` where each next read goes. */
  readonly onread = {
    buffer: (): Uint8Array => {
      if (this.#slab.length - this.#used < MIN_READ_BYTES) {
        this.#slab = new Uint8Array(SLAB_BYTES)
        this.#used = 0
      }
      return this.#slab.subarray(this.#used)
    },
    callback: (bytes: number, chunk: Uint8Array): void => {
      this.#used += bytes
      this.onChunk(chunk, bytes)
    },
  }
}

/** The fields of Node's net.Socket that `adoptForSlabReads` moves: Node's own, not its API. */
interface SocketInternals {
  _handle?: { useUserBuffer?: unknown } | null
  _server?: unknown
}

/**
 * A socket Node made for us (one a net.Server accepted, a child process's stdio pipe), moved onto
 * a socket of our own that reads through slabs; undefined, and `made` untouched, where this Node
 * does not allow it. Node offers `onread` only to `new Socket()` and `connect()`, so the native
 * handle is handed to a new Socket by its `handle` option, as Node itself makes such sockets, and
 * a server's count of its connections goes with it (closing the new socket counts down).
 * These are Node's internals, not its API: where they are missing the socket reads through 'data'
 * as before, and spec/transports/slab-reads.spec.ts fails, to say so. Per task, this saves the
 * manager (whose sockets are all accepted) ~4 µs of user CPU at c1, and lets a process pool
 * answer ~5 % more tasks at c256 (bench/RESULTS.md).
 *
 * Adopt a socket in the turn Node made it, before it can have read anything. The new socket is
 * made paused, and reads from its first `resume()`. `made` is left without a handle: nothing may
 * use it after.
 */
export function adoptForSlabReads(made: Socket): { socket: Socket; reads: SlabReads } | undefined {
  const old = made as unknown as SocketInternals
  const handle = old._handle
  if (handle == null || typeof handle.useUserBuffer !== 'function' || made.readableLength > 0) return undefined
  const reads = new SlabReads()
  old._handle = null
  // `handle` and `pauseOnCreate` are the options net.Server makes its sockets with
  const options = { handle, onread: reads.onread, readable: true, writable: true, pauseOnCreate: true } as SocketConstructorOpts
  const socket = new Socket(options)
  ;(socket as unknown as SocketInternals)._server = old._server
  return { socket, reads }
}
