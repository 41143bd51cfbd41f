/**
 * Reads into slabs of our own, through Node's `onread` socket option, for the sockets we create
 * ourselves: dialled tcp:// and unix://, and a child's end of its channel. A socket read this way
 * has no Readable stream machinery and no Buffer per read: ~1.5 µs less user CPU per read in the
 * pool and in the client of bench `task.tcp.c1` (17.3–18.0 → 15.3–16.7 µs and 17.7–19.7 →
 * 16.8–18.2 µs per task; a bare TCP echo client saves more, 11.3 → 7.6 µs). Node offers `onread`
 * only when a socket is created, so accepted sockets (and TLS ones) still read through 'data'.
 *
 * Each read lands just after the last one in the current slab, and a slab is never written over:
 * frames handed on as ranges of a read stay valid for as long as anyone holds them, as they do
 * with the Buffers Node would have made. What a held view keeps alive differs: its whole 64 KiB
 * slab, where Node's Buffer held only the bytes of one read; so links' users copy what they keep
 * (LinkEvents.frame), and only byte strings over 8 KiB in a decoded value stay views (lib/codec.ts).
 */

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
