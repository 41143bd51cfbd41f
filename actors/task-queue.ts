/**
 * The manager's queue: for each priority, one FIFO ring per task name, priorities kept sorted
 * highest first. A ring per name means a task that no pool may take yet (code for `allowEval`
 * pools only, or one a `selectWorker` keeps back) holds up only tasks of its own name and
 * priority, not the others a free pool could run.
 *
 * Enqueueing is O(1) for a known priority and name, O(log L + L) for a new priority (L distinct
 * priorities, a handful in practice); taking a head is O(1). Removing a task that is still
 * queued (its caller gave up) marks it; a ring compacts once most of it is marked, so tasks
 * withdrawn behind one that waits do not pile up.
 *
 * A task may leave its payload with the queue while it waits: each ring has a `ByteRing` beside
 * it, one entry per task in the same order, so waiting payloads cost no object each.
 */
import { ByteRing } from '../lib/byte-ring.js'
import { RingBuffer } from '../lib/ring.js'

/** What the queue needs to know of a task. */
export interface Queued {
  readonly priority: number
  readonly name: string
  /** False once the task left the queue some other way (withdrawn, timed out); it is skipped. */
  queued: boolean
  /** Arrival order, set by the queue: among equal priorities the lower goes first. */
  order: number
}

interface Line<T> {
  readonly ring: RingBuffer<T>
  /** The payloads left with the queue: one entry for each task in `ring`, absent for those that kept theirs. */
  payloads: ByteRing
  /** Marked tasks still in the ring. */
  marked: number
}

interface Level<T> {
  readonly priority: number
  readonly lines: Map<string, Line<T>>
}

/** A ring compacts when more than this many of its tasks, and more than half, are marked. */
const COMPACT_AFTER = 64

export class TaskQueue<T extends Queued> {
  // highest priority first
  readonly #levels: Level<T>[] = []
  readonly #byPriority = new Map<number, Level<T>>()
  #size = 0
  // push numbers up from 0, pushFront down from 0: order alone says who goes first
  #lastBack = 0
  #lastFront = 0

  /** Tasks waiting (marked ones excluded). */
  get size(): number {
    return this.#size
  }

  /**
   * Adds at the tail of its priority (FIFO among equals). A `payload` (at most
   * `ByteRing.MAX_ENTRY` bytes) is copied and held for the task: `take()` gives it back.
   */
  push(task: T, payload?: Uint8Array): void {
    task.order = ++this.#lastBack
    const line = this.#line(task)
    line.ring.push(task)
    line.payloads.push(payload)
    task.queued = true
    this.#size++
  }

  /** Adds at the head of its priority: a task whose worker died goes before its equals. */
  pushFront(task: T): void {
    task.order = --this.#lastFront
    const line = this.#line(task)
    line.ring.unshift(task)
    line.payloads.unshift(undefined)
    task.queued = true
    this.#size++
  }

  /**
   * Marks a queued task as gone. A ring left with only marked tasks goes at once (a caller
   * withdrawing under ever new names or priorities leaves nothing behind); otherwise the task
   * is dropped when it reaches the head or its ring compacts.
   */
  remove(task: T): void {
    if (!task.queued) return
    task.queued = false
    if (--this.#size === 0) return this.#clear()
    const level = this.#byPriority.get(task.priority)
    const line = level?.lines.get(task.name)
    if (level === undefined || line === undefined) return
    if (++line.marked === line.ring.length) return this.#dropLine(level, task.name)
    if (line.marked <= COMPACT_AFTER || line.marked * 2 <= line.ring.length) return
    const payloads = new ByteRing()
    // retain() visits the tasks in order, once each: each one's payload is the next entry
    line.ring.retain((t) => {
      const payload = line.payloads.shift()
      if (t.queued) payloads.push(payload)
      return t.queued
    })
    line.payloads = payloads
    line.marked = 0
  }

  /**
   * The oldest waiting task of each priority and name: highest priority first, then in order of
   * arrival.
   */
  heads(): T[] {
    const heads: T[] = []
    for (let i = 0; i < this.#levels.length; ) {
      const level = this.#levels[i] as Level<T>
      const first = heads.length
      for (const [name, line] of level.lines) {
        const head = this.#head(line)
        if (head === undefined) level.lines.delete(name)
        else heads.push(head)
      }
      if (heads.length === first) {
        // a level whose tasks all left: drop it (and stay at this index)
        this.#levels.splice(i, 1)
        this.#byPriority.delete(level.priority)
        continue
      }
      // runs for every task started: sorting (and its copy) only for a level of several names
      if (heads.length - first > 1) for (const head of heads.splice(first).sort(byArrival)) heads.push(head)
      i++
    }
    return heads
  }

  /** Takes `head`, which must be a head as returned by `heads()`, and returns the payload it left here. */
  take(head: T): Uint8Array | undefined {
    const line = this.#byPriority.get(head.priority)?.lines.get(head.name)
    if (line === undefined || this.#head(line) !== head) throw new Error('take() of a task that is not at the head')
    line.ring.shift()
    const payload = line.payloads.shift()
    head.queued = false
    if (--this.#size === 0) this.#clear()
    return payload
  }

  #dropLine(level: Level<T>, name: string): void {
    level.lines.delete(name)
    if (level.lines.size > 0) return
    this.#levels.splice(this.#levels.indexOf(level), 1)
    this.#byPriority.delete(level.priority)
  }

  // Nothing waits: drop every level with the marked tasks still in it, so they are not held
  // until the next heads() (the dispatcher skips heads() while the queue is empty).
  #clear(): void {
    this.#levels.length = 0
    this.#byPriority.clear()
  }

  /** The head of a line after dropping marked tasks. */
  #head(line: Line<T>): T | undefined {
    let task = line.ring.peek()
    while (task !== undefined && !task.queued) {
      line.ring.shift()
      line.payloads.dropHead()
      line.marked--
      task = line.ring.peek()
    }
    return task
  }

  #line(task: T): Line<T> {
    const lines = this.#level(task.priority).lines
    let line = lines.get(task.name)
    if (line === undefined) lines.set(task.name, (line = { ring: new RingBuffer<T>(), payloads: new ByteRing(), marked: 0 }))
    return line
  }

  #level(priority: number): Level<T> {
    let level = this.#byPriority.get(priority)
    if (level !== undefined) return level
    level = { priority, lines: new Map() }
    // binary search for the first level with a lower priority
    let lo = 0
    let hi = this.#levels.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.#levels[mid] as Level<T>).priority > priority) lo = mid + 1
      else hi = mid
    }
    this.#levels.splice(lo, 0, level)
    this.#byPriority.set(priority, level)
    return level
  }
}

function byArrival(a: Queued, b: Queued): number {
  return a.order - b.order
}
