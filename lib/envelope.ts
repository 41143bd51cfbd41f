/**
 * The whole wire protocol: every envelope kind, its fields, and how it is encoded. Each frame
 * holds one envelope, a CBOR array `[kind, field1, field2, ...]` in the order of `FIELDS`
 * below. `docs/PROTOCOL.md` documents the same table for implementers in other languages and
 * changes in the same commit as this file.
 *
 * Compatibility: adding a kind, or an optional field at the end of a kind, keeps the version;
 * receivers skip trailing fields they do not know. Anything else bumps `PROTOCOL_VERSION`.
 */
import { CborError, CborReader, CborWriter, type ByteRange } from './cbor-lite.js'
import { decodeValue, encodeValue } from './codec.js'
import { TroupeError, asError, isErrorCode, taskError, type ErrorCode } from './errors.js'

/** Bump only for an incompatible change; `Hello` carries it and a mismatch is refused with `EPROTO`. */
export const PROTOCOL_VERSION = 1

/** Envelope kinds. By convention field 1 of every request kind is its integer `id`. */
export const Kind = {
  // connection layer (transports/connection.ts)
  Hello: 0,
  Auth: 1,
  Ping: 2,
  Pong: 3,
  Bye: 4,
  // actor core (actors/system.ts)
  Ask: 5,
  Tell: 6,
  Reply: 7,
  Fail: 8,
  Cancel: 9,
  // task grid (actors/manager-envelope.ts, manager-links.ts, pool.ts, client-calls.ts)
  Submit: 10,
  Withdraw: 11,
  Assign: 12,
  Revoke: 13,
  Done: 14,
  Failed: 15,
  Progress: 16,
  PoolState: 17,
  // broadcasts (actors/broadcasts.ts, job.ts)
  Cast: 18,
  CastDone: 19,
  CastFailed: 20,
  Barrier: 21,
  Release: 22,
  Broadcast: 23,
  BroadcastDone: 24,
  BroadcastFailed: 25,
  BroadcastWithdraw: 26,
  CastRevoke: 27,
} as const
export type Kind = (typeof Kind)[keyof typeof Kind]

/** An error as it travels: the code, a message, and for `ETASK` what the remote code threw. */
export interface WireError {
  code: ErrorCode
  message: string
  /** Name of the thrown error (`TypeError`, ...), for `ETASK`. */
  name?: string | undefined
  stack?: string | undefined
  /** The thrown error's own `code` property, when it had a string one. */
  remoteCode?: string | undefined
  /** The thrown error's `data`, CBOR-encoded. */
  data?: Uint8Array | undefined
}

/**
 * First frame each side sends: protocol version, node id, a fresh random challenge, and the
 * largest frame the sender accepts (optional: a peer older than this field leaves it out).
 */
export interface Hello { k: typeof Kind.Hello; v: number; node: string; nonce: Uint8Array; maxFrameBytes?: number | undefined }
/** Second frame: HMAC proof over both challenges (see transports/handshake.ts). */
export interface Auth { k: typeof Kind.Auth; proof: Uint8Array }
/** Liveness probe, sent when nothing arrived for one heartbeat interval. */
export interface Ping { k: typeof Kind.Ping }
export interface Pong { k: typeof Kind.Pong }
/** Sent just before closing on purpose, so the peer learns why. */
export interface Bye { k: typeof Kind.Bye; err: WireError }
/** A request to the actor `to`; `body` is the CBOR-encoded message. */
export interface Ask { k: typeof Kind.Ask; id: number; to: string; body: Uint8Array }
/** A one-way message to the actor `to`. */
export interface Tell { k: typeof Kind.Tell; to: string; body: Uint8Array }
/** The answer to `Ask` `id`. */
export interface Reply { k: typeof Kind.Reply; id: number; body: Uint8Array }
/** The failure of request `id`. */
export interface Fail { k: typeof Kind.Fail; id: number; err: WireError }
/** The asker gave up on request `id` (timeout or abort). */
export interface Cancel { k: typeof Kind.Cancel; id: number }

/** Client → manager: run task `name` on `body`. `id` is the client's, unique among its open tasks. */
export interface Submit {
  k: typeof Kind.Submit
  id: number
  name: string
  body: Uint8Array
  priority: number
  runTimeoutMs?: number | undefined
  assignTimeoutMs?: number | undefined
  /** Coalescing key. */
  key?: string | undefined
}
/** Client → manager: the caller gave up on task `id`. */
export interface Withdraw { k: typeof Kind.Withdraw; id: number }
/** Manager → pool (and pool → its processes): run this. `id` is the assigner's; `attempt` counts from 1. */
export interface Assign {
  k: typeof Kind.Assign
  id: number
  name: string
  body: Uint8Array
  priority: number
  attempt: number
  runTimeoutMs?: number | undefined
  /** The pool, among those sharing the connection, that this concerns (absent: the first, 0). */
  pool?: number | undefined
}
/**
 * Manager → pool: stop assignment `id` (its callers are gone). Pool → its processes: abort run
 * `id` with `reason` (`ETO`, `EABORT`, `ECLOSED`), what the task's `ctx.signal.reason` becomes.
 */
export interface Revoke { k: typeof Kind.Revoke; id: number; reason?: WireError | undefined; pool?: number | undefined }
/** Task `id` finished with `body`, after running `ms` milliseconds. */
export interface Done { k: typeof Kind.Done; id: number; body: Uint8Array; ms: number; pool?: number | undefined }
/** Task `id` failed. From a pool, `EWORKERLOST` means its process died and it may run again. */
export interface Failed { k: typeof Kind.Failed; id: number; err: WireError; pool?: number | undefined }
/** Task `id` reported progress (`ctx.progress(value)`). */
export interface Progress { k: typeof Kind.Progress; id: number; value: number; pool?: number | undefined }
/** Pool → manager: its capacity changed, or it started draining (takes no new task). */
export interface PoolState { k: typeof Kind.PoolState; capacity: number; draining: boolean; pool?: number | undefined }

/**
 * Manager → pool: run broadcast subtask `name` on `body` now, outside the pool's task capacity
 * (on the job's home worker for a `Class.__method`). `id` is the manager's, in its own space.
 */
export interface Cast { k: typeof Kind.Cast; id: number; name: string; body: Uint8Array; timeoutMs: number; pool?: number | undefined }
/** Pool → manager: the result of cast `id`. */
export interface CastDone { k: typeof Kind.CastDone; id: number; body: Uint8Array; ms: number; pool?: number | undefined }
/** Pool → manager: the failure of cast `id` (`ETASK`, `ETO`, `EWORKERLOST`, `ENOTASK`). */
export interface CastFailed { k: typeof Kind.CastFailed; id: number; err: WireError; pool?: number | undefined }
/** Upward (process → pool → manager): run `id` reached the barrier `name`. */
export interface Barrier { k: typeof Kind.Barrier; id: number; name: string; pool?: number | undefined }
/** Downward (manager → pool → process): every run of the broadcast reached barrier `name`; go on. */
export interface Release { k: typeof Kind.Release; id: number; name: string; pool?: number | undefined }

/** One pool's answer in `BroadcastDone`: its result (`body`, `ms`) or its error. */
export type WireOutcome =
  | { worker: string; ok: true; body: Uint8Array; ms: number }
  | { worker: string; ok: false; err: WireError }

/** Client → manager: run `__task` (or `Class.__method`) `name` on every connected pool. `id` is the client's. */
export interface Broadcast { k: typeof Kind.Broadcast; id: number; name: string; body: Uint8Array; timeoutMs: number; min: number }
/** Manager → client: one outcome per pool for broadcast `id`. */
export interface BroadcastDone { k: typeof Kind.BroadcastDone; id: number; outcomes: WireOutcome[] }
/** Manager → client: broadcast `id` did not start (`EATO`: fewer than `min` pools, `EREJECTED`: too many broadcasts). */
export interface BroadcastFailed { k: typeof Kind.BroadcastFailed; id: number; err: WireError }
/** Client → manager: the client no longer waits for broadcast `id` (aborted); its runs stop. Nothing answers. */
export interface BroadcastWithdraw { k: typeof Kind.BroadcastWithdraw; id: number }
/** Manager → pool: abort the run of cast `id` (its broadcast was withdrawn); what it then reports is dropped. */
export interface CastRevoke { k: typeof Kind.CastRevoke; id: number; pool?: number | undefined }

export type Envelope =
  | Hello | Auth | Ping | Pong | Bye
  | Ask | Tell | Reply | Fail | Cancel
  | Submit | Withdraw | Assign | Revoke | Done | Failed | Progress | PoolState
  | Cast | CastDone | CastFailed | Barrier | Release
  | Broadcast | BroadcastDone | BroadcastFailed | BroadcastWithdraw | CastRevoke

// ---------------------------------------------------------------------------------------------
// encoding: one function per kind writes `[k, ...fields]`, every field present (null if absent)

const w = new CborWriter()

function optNumber(n: number | undefined): void {
  if (n === undefined) w.null()
  else w.number(n)
}

function optText(s: string | undefined): void {
  if (s === undefined) w.null()
  else w.text(s)
}

function optBytes(b: Uint8Array | undefined): void {
  if (b === undefined) w.null()
  else w.bytes(b)
}

// `pool`, the last field of the kinds a manager and its pools exchange, is written only when it
// is not 0: a connection with one pool sends the frames it sent before pools could share one
function withPool(e: { pool?: number | undefined }): number {
  return e.pool === undefined || e.pool === 0 ? 0 : 1
}

function pool(e: { pool?: number | undefined }): void {
  if (e.pool !== undefined && e.pool !== 0) w.number(e.pool)
}

function wireError(e: WireError): void {
  w.array(6)
  w.text(e.code)
  w.text(e.message)
  optText(e.name)
  optText(e.stack)
  optText(e.remoteCode)
  optBytes(e.data)
}

// the kinds on every ask's path, shared by ENCODE and the encoders from parts below
function ask(id: number, to: string, body: Uint8Array, start: number, end: number): void {
  w.array(4); w.number(Kind.Ask); w.number(id); w.text(to); w.bytesOf(body, start, end)
}
function tell(to: string, body: Uint8Array, start: number, end: number): void {
  w.array(3); w.number(Kind.Tell); w.text(to); w.bytesOf(body, start, end)
}
function reply(id: number, body: Uint8Array, start: number, end: number): void {
  w.array(3); w.number(Kind.Reply); w.number(id); w.bytesOf(body, start, end)
}

type Encoders = { readonly [K in Kind]: (e: Extract<Envelope, { k: K }>) => void }

const ENCODE: Encoders = {
  [Kind.Hello]: (e) => { w.array(5); w.number(e.k); w.number(e.v); w.text(e.node); w.bytes(e.nonce); optNumber(e.maxFrameBytes) },
  [Kind.Auth]: (e) => { w.array(2); w.number(e.k); w.bytes(e.proof) },
  [Kind.Ping]: (e) => { w.array(1); w.number(e.k) },
  [Kind.Pong]: (e) => { w.array(1); w.number(e.k) },
  [Kind.Bye]: (e) => { w.array(2); w.number(e.k); wireError(e.err) },
  [Kind.Ask]: (e) => ask(e.id, e.to, e.body, 0, e.body.length),
  [Kind.Tell]: (e) => tell(e.to, e.body, 0, e.body.length),
  [Kind.Reply]: (e) => reply(e.id, e.body, 0, e.body.length),
  [Kind.Fail]: (e) => { w.array(3); w.number(e.k); w.number(e.id); wireError(e.err) },
  [Kind.Cancel]: (e) => { w.array(2); w.number(e.k); w.number(e.id) },
  [Kind.Submit]: (e) => {
    w.array(8); w.number(e.k); w.number(e.id); w.text(e.name); w.bytes(e.body); w.number(e.priority)
    optNumber(e.runTimeoutMs); optNumber(e.assignTimeoutMs); optText(e.key)
  },
  [Kind.Withdraw]: (e) => { w.array(2); w.number(e.k); w.number(e.id) },
  [Kind.Assign]: (e) => {
    w.array(7 + withPool(e)); w.number(e.k); w.number(e.id); w.text(e.name); w.bytes(e.body); w.number(e.priority); w.number(e.attempt)
    optNumber(e.runTimeoutMs); pool(e)
  },
  [Kind.Revoke]: (e) => {
    w.array(3 + withPool(e)); w.number(e.k); w.number(e.id)
    if (e.reason === undefined) w.null()
    else wireError(e.reason)
    pool(e)
  },
  [Kind.Done]: (e) => { w.array(4 + withPool(e)); w.number(e.k); w.number(e.id); w.bytes(e.body); w.number(e.ms); pool(e) },
  [Kind.Failed]: (e) => { w.array(3 + withPool(e)); w.number(e.k); w.number(e.id); wireError(e.err); pool(e) },
  [Kind.Progress]: (e) => { w.array(3 + withPool(e)); w.number(e.k); w.number(e.id); w.number(e.value); pool(e) },
  [Kind.PoolState]: (e) => { w.array(3 + withPool(e)); w.number(e.k); w.number(e.capacity); w.boolean(e.draining); pool(e) },
  [Kind.Cast]: (e) => { w.array(5 + withPool(e)); w.number(e.k); w.number(e.id); w.text(e.name); w.bytes(e.body); w.number(e.timeoutMs); pool(e) },
  [Kind.CastDone]: (e) => { w.array(4 + withPool(e)); w.number(e.k); w.number(e.id); w.bytes(e.body); w.number(e.ms); pool(e) },
  [Kind.CastFailed]: (e) => { w.array(3 + withPool(e)); w.number(e.k); w.number(e.id); wireError(e.err); pool(e) },
  [Kind.Barrier]: (e) => { w.array(3 + withPool(e)); w.number(e.k); w.number(e.id); w.text(e.name); pool(e) },
  [Kind.Release]: (e) => { w.array(3 + withPool(e)); w.number(e.k); w.number(e.id); w.text(e.name); pool(e) },
  [Kind.Broadcast]: (e) => {
    w.array(6); w.number(e.k); w.number(e.id); w.text(e.name); w.bytes(e.body); w.number(e.timeoutMs); w.number(e.min)
  },
  [Kind.BroadcastDone]: (e) => {
    w.array(3); w.number(e.k); w.number(e.id)
    w.array(e.outcomes.length)
    for (const o of e.outcomes) {
      // [worker, true, body, ms] or [worker, false, error, 0]
      w.array(4); w.text(o.worker); w.boolean(o.ok)
      if (o.ok) { w.bytes(o.body); w.number(o.ms) } else { wireError(o.err); w.number(0) }
    }
  },
  [Kind.BroadcastFailed]: (e) => { w.array(3); w.number(e.k); w.number(e.id); wireError(e.err) },
  [Kind.BroadcastWithdraw]: (e) => { w.array(2); w.number(e.k); w.number(e.id) },
  [Kind.CastRevoke]: (e) => { w.array(2 + withPool(e)); w.number(e.k); w.number(e.id); pool(e) },
}

/** Encodes an envelope into a fresh view of a shared slab (never overwritten later). */
export function encodeEnvelope(env: Envelope): Uint8Array {
  encodeEnvelopeRange(env)
  return w.view()
}

/**
 * Encodes an envelope and returns the shared writer as its range, for a frame sent at once:
 * no view (~50 ns and 96 bytes; bench task.process.c256). Pass it on before the next encode.
 */
export function encodeEnvelopeRange(env: Envelope): ByteRange {
  w.begin()
  ;(ENCODE[env.k] as (e: Envelope) => void)(env)
  return w
}

// Asks, tells and replies are encoded from their parts: no envelope object, and neither the
// payload nor the frame gets a view of its own (~50 ns and 96 bytes each; bench ask.tcp.c256).
// The range returned is the shared writer: pass it on before the next encode. The bytes it
// points at stay put (a slab region is never rewritten).

/** Encodes `Ask` `id` to `to` carrying the encoded message `body`. */
export function encodeAsk(id: number, to: string, body: ByteRange): ByteRange {
  w.begin()
  ask(id, to, body.buf, body.start, body.end)
  return w
}

/** Encodes a `Tell` to `to` carrying the encoded message `body`. */
export function encodeTell(to: string, body: ByteRange): ByteRange {
  w.begin()
  tell(to, body.buf, body.start, body.end)
  return w
}

/** Encodes the `Reply` to ask `id` carrying the encoded value `body`. */
export function encodeReply(id: number, body: ByteRange): ByteRange {
  w.begin()
  reply(id, body.buf, body.start, body.end)
  return w
}

// ---------------------------------------------------------------------------------------------
// decoding: one function per kind reads the fields in order

/** A frame that is not a valid envelope. `requestId` is set when the frame looked like a request. */
export class EnvelopeError extends TroupeError {
  readonly requestId: number | undefined
  constructor(message: string, requestId?: number, cause?: unknown) {
    super('EPROTO', message, cause === undefined ? {} : { cause })
    this.requestId = requestId
  }
}

/**
 * The kind of the frame at `start` of `buf` without decoding it: the array head (one byte, as
 * no kind has 24 fields), then the kind as a CBOR uint of one byte (< 24) or two (0x18, n).
 */
export function peekKind(buf: Uint8Array, start = 0, end = buf.length): number {
  if (end - start < 2) return -1
  const head = buf[start] as number
  if ((head & 0xe0) !== 0x80 || (head & 0x1f) >= 24) return -1
  const kind = buf[start + 1] as number
  if (kind < 24) return kind
  return kind === 0x18 && end - start >= 3 ? (buf[start + 2] as number) : -1
}

/**
 * Reads the fields of one envelope array. A field past the end of a shorter array (from an
 * older peer) reads as absent; fields past the ones this version knows are skipped by `finish()`.
 */
class FieldReader extends CborReader {
  remaining = 0

  #present(): boolean {
    if (this.remaining === 0) return false
    this.remaining--
    return !this.nil()
  }

  #required(): void {
    if (this.remaining === 0) throw new CborError('missing field')
    this.remaining--
  }

  reqUint(): number {
    this.#required()
    return this.uint()
  }

  reqNumber(): number {
    this.#required()
    const n = this.number()
    if (!Number.isFinite(n)) throw new CborError('expected a finite number')
    return n
  }

  reqText(): string {
    this.#required()
    return this.text()
  }

  reqBool(): boolean {
    this.#required()
    return this.boolean()
  }

  reqBytes(): Uint8Array {
    this.#required()
    return this.bytes()
  }

  reqError(): WireError {
    this.#required()
    return this.error()
  }

  /** An error, not counted as a field (one inside an outcome). */
  error(): WireError {
    const n = this.array()
    if (n < 2) throw new CborError('error needs a code and a message')
    const code = this.text()
    const err: WireError = { code: isErrorCode(code) ? code : 'EPROTO', message: this.text() }
    const optional = (i: number): boolean => i < n && !this.nil()
    if (optional(2)) err.name = this.text()
    if (optional(3)) err.stack = this.text()
    if (optional(4)) err.remoteCode = this.text()
    if (optional(5)) err.data = this.bytes()
    for (let i = 6; i < n; i++) this.skip()
    return err
  }

  reqOutcomes(): WireOutcome[] {
    this.#required()
    const n = this.array()
    const outcomes: WireOutcome[] = []
    for (let i = 0; i < n; i++) {
      if (this.array() !== 4) throw new CborError('an outcome is [worker, ok, body or error, ms]')
      const worker = this.text()
      if (this.boolean()) outcomes.push({ worker, ok: true, body: this.bytes(), ms: this.number() })
      else {
        outcomes.push({ worker, ok: false, err: this.error() })
        this.number()
      }
    }
    return outcomes
  }

  optUint(): number | undefined {
    return this.#present() ? this.uint() : undefined
  }

  optText(): string | undefined {
    return this.#present() ? this.text() : undefined
  }

  optError(): WireError | undefined {
    return this.#present() ? this.error() : undefined
  }

  finish(): void {
    for (; this.remaining > 0; this.remaining--) this.skip()
    if (!this.done) throw new CborError('bytes after the envelope')
  }
}

// one reader for every frame; readEnvelope never re-enters itself
const reader = new FieldReader()

type Decoders = { readonly [K in Kind]: (r: FieldReader) => Extract<Envelope, { k: K }> }

const DECODE: Decoders = {
  [Kind.Hello]: (r) => ({ k: Kind.Hello, v: r.reqUint(), node: r.reqText(), nonce: r.reqBytes(), maxFrameBytes: r.optUint() }),
  [Kind.Auth]: (r) => ({ k: Kind.Auth, proof: r.reqBytes() }),
  [Kind.Ping]: () => ({ k: Kind.Ping }),
  [Kind.Pong]: () => ({ k: Kind.Pong }),
  [Kind.Bye]: (r) => ({ k: Kind.Bye, err: r.reqError() }),
  [Kind.Ask]: (r) => ({ k: Kind.Ask, id: r.reqUint(), to: r.reqText(), body: r.reqBytes() }),
  [Kind.Tell]: (r) => ({ k: Kind.Tell, to: r.reqText(), body: r.reqBytes() }),
  [Kind.Reply]: (r) => ({ k: Kind.Reply, id: r.reqUint(), body: r.reqBytes() }),
  [Kind.Fail]: (r) => ({ k: Kind.Fail, id: r.reqUint(), err: r.reqError() }),
  [Kind.Cancel]: (r) => ({ k: Kind.Cancel, id: r.reqUint() }),
  [Kind.Submit]: (r) => ({
    k: Kind.Submit, id: r.reqUint(), name: r.reqText(), body: r.reqBytes(), priority: r.reqNumber(),
    runTimeoutMs: r.optUint(), assignTimeoutMs: r.optUint(), key: r.optText(),
  }),
  [Kind.Withdraw]: (r) => ({ k: Kind.Withdraw, id: r.reqUint() }),
  [Kind.Assign]: (r) => ({
    k: Kind.Assign, id: r.reqUint(), name: r.reqText(), body: r.reqBytes(), priority: r.reqNumber(), attempt: r.reqUint(),
    runTimeoutMs: r.optUint(), pool: r.optUint(),
  }),
  [Kind.Revoke]: (r) => ({ k: Kind.Revoke, id: r.reqUint(), reason: r.optError(), pool: r.optUint() }),
  [Kind.Done]: (r) => ({ k: Kind.Done, id: r.reqUint(), body: r.reqBytes(), ms: r.reqNumber(), pool: r.optUint() }),
  [Kind.Failed]: (r) => ({ k: Kind.Failed, id: r.reqUint(), err: r.reqError(), pool: r.optUint() }),
  [Kind.Progress]: (r) => ({ k: Kind.Progress, id: r.reqUint(), value: r.reqNumber(), pool: r.optUint() }),
  [Kind.PoolState]: (r) => ({ k: Kind.PoolState, capacity: r.reqUint(), draining: r.reqBool(), pool: r.optUint() }),
  [Kind.Cast]: (r) => ({ k: Kind.Cast, id: r.reqUint(), name: r.reqText(), body: r.reqBytes(), timeoutMs: r.reqUint(), pool: r.optUint() }),
  [Kind.CastDone]: (r) => ({ k: Kind.CastDone, id: r.reqUint(), body: r.reqBytes(), ms: r.reqNumber(), pool: r.optUint() }),
  [Kind.CastFailed]: (r) => ({ k: Kind.CastFailed, id: r.reqUint(), err: r.reqError(), pool: r.optUint() }),
  [Kind.Barrier]: (r) => ({ k: Kind.Barrier, id: r.reqUint(), name: r.reqText(), pool: r.optUint() }),
  [Kind.Release]: (r) => ({ k: Kind.Release, id: r.reqUint(), name: r.reqText(), pool: r.optUint() }),
  [Kind.Broadcast]: (r) => ({ k: Kind.Broadcast, id: r.reqUint(), name: r.reqText(), body: r.reqBytes(), timeoutMs: r.reqUint(), min: r.reqUint() }),
  [Kind.BroadcastDone]: (r) => ({ k: Kind.BroadcastDone, id: r.reqUint(), outcomes: r.reqOutcomes() }),
  [Kind.BroadcastFailed]: (r) => ({ k: Kind.BroadcastFailed, id: r.reqUint(), err: r.reqError() }),
  [Kind.BroadcastWithdraw]: (r) => ({ k: Kind.BroadcastWithdraw, id: r.reqUint() }),
  [Kind.CastRevoke]: (r) => ({ k: Kind.CastRevoke, id: r.reqUint(), pool: r.optUint() }),
}

/**
 * Decodes and checks one frame: bytes [start, end) of `buf`. Byte fields are views into `buf`.
 * @throws EnvelopeError (`EPROTO`) when the frame is not an envelope this version understands.
 */
export function readEnvelope(buf: Uint8Array, start = 0, end = buf.length): Envelope {
  const r = reader
  r.reset(buf, start, end)
  let k: number
  try {
    r.remaining = r.array()
    k = r.reqUint()
  } catch (caught) {
    throw new EnvelopeError(`malformed envelope: ${asError(caught).message}`, undefined, caught)
  }
  const decode = (DECODE as Record<number, ((r: FieldReader) => Envelope) | undefined>)[k]
  if (decode === undefined) throw new EnvelopeError(`unknown envelope kind ${k}`, leadingId(r))
  try {
    const env = decode(r)
    r.finish()
    return env
  } catch (caught) {
    throw new EnvelopeError(`malformed kind ${k} envelope: ${asError(caught).message}`, undefined, caught)
  }
}

/** Field 1 of a request kind is its id: lets an unknown kind still be answered with `EPROTO`. */
function leadingId(r: FieldReader): number | undefined {
  try {
    return r.remaining > 0 && r.peekMajor() === 0 ? r.uint() : undefined
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// errors on the wire

/**
 * The error without what can make it large (its data and stack; its message, name and code cut
 * short), for a `Failed` that did not fit a frame: the caller still learns the code and why,
 * in well under the smallest maxFrame (1024 bytes).
 */
export function slimWireError(err: WireError): WireError {
  const cut = (text: string, chars: number): string => (text.length > chars ? `${text.slice(0, chars)}…` : text)
  return {
    code: err.code,
    name: err.name === undefined ? undefined : cut(err.name, 40),
    remoteCode: err.remoteCode === undefined ? undefined : cut(err.remoteCode, 40),
    message: `${cut(err.message, 120)} (its data and stack left out: too large for maxFrame)`,
  }
}

/** The wire form of a Troupe error (its own code, message and data). */
export function toWireError(err: TroupeError): WireError {
  const wire: WireError = { code: err.code, message: err.message }
  if (err.remoteName !== undefined) wire.name = err.remoteName
  if (err.remoteStack !== undefined) wire.stack = err.remoteStack
  if (err.remoteCode !== undefined) wire.remoteCode = err.remoteCode
  if (err.data !== undefined) wire.data = encodeDataSafely(err.data)
  return wire
}

/**
 * The wire form of something a task or handler threw: always `ETASK`, carrying the thrown
 * error's name, message, stack, own `code` and `data`.
 */
export function thrownToWire(thrown: unknown): WireError {
  return toWireError(taskError(thrown))
}

function encodeDataSafely(data: unknown): Uint8Array | undefined {
  try {
    return encodeValue(data)
  } catch {
    return undefined // error data that cannot be encoded is dropped, the error still travels
  }
}

/** Rebuilds a `TroupeError` from its wire form. */
export function fromWireError(wire: WireError): TroupeError {
  let data: unknown
  if (wire.data !== undefined) {
    try {
      data = decodeValue(wire.data)
    } catch {
      data = undefined
    }
  }
  return new TroupeError(wire.code, wire.message, {
    data,
    remoteName: wire.name,
    remoteStack: wire.stack,
    remoteCode: wire.remoteCode,
  })
}
