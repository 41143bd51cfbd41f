/**
 * The manager's queue: one FIFO ring per priority level, levels kept sorted highest first.
 * Enqueueing is O(1) for a known level and O(log L + L) to add a new one (L distinct priorities,
 * a handful in practice); taking from a level is O(1). Removing a task that is still queued
 * (its caller gave up) only marks it; a marked task is skipped when it reaches the head.
 */
import { RingBuffer } from '../lib/ring.js'

/** What the queue needs to know of a task. */
export interface Queued {
  readonly priority: number
  /** False once the task left the queue some other way (withdrawn, timed out); it is skipped. */
  queued: boolean
}

interface Level<T> {
  priority: number
  ring: RingBuffer<T>
}

export class TaskQueue<T extends Queued> {
  // highest priority first
  readonly #levels: Level<T>[] = []
  readonly #byPriority = new Map<number, Level<T>>()
  #size = 0

  /** Tasks waiting (marked ones excluded). */
  get size(): number {
    return this.#size
  }

  /** Adds at the tail of its priority (FIFO among equals). */
  push(task: T): void {
    this.#level(task.priority).ring.push(task)
    task.queued = true
    this.#size++
  }

  /** Adds at the head of its priority: a task whose worker died goes before its equals. */
  pushFront(task: T): void {
    this.#level(task.priority).ring.unshift(task)
    task.queued = true
    this.#size++
  }

  /** Marks a queued task as gone; it is dropped when it reaches the head. */
  remove(task: T): void {
    if (!task.queued) return
    task.queued = false
    if (--this.#size === 0) this.#clear()
  }

  /** The oldest waiting task of each priority, highest priority first. */
  heads(): T[] {
    const heads: T[] = []
    for (let i = 0; i < this.#levels.length; ) {
      const level = this.#levels[i] as Level<T>
      const head = this.#head(level)
      if (head === undefined) {
        // a level whose tasks all left: drop it (and stay at this index)
        this.#levels.splice(i, 1)
        this.#byPriority.delete(level.priority)
      } else {
        heads.push(head)
        i++
      }
    }
    return heads
  }

  /** Takes `head`, which must be the head of its priority as returned by `heads()`. */
  take(head: T): void {
    const level = this.#byPriority.get(head.priority)
    if (level === undefined || this.#head(level) !== head) throw new Error('take() of a task that is not at the head')
    level.ring.shift()
    head.queued = false
    if (--this.#size === 0) this.#clear()
  }

  // Nothing waits: drop every level with the marked tasks still in it, so they are not held
  // until the next heads() (the dispatcher skips heads() while the queue is empty).
  #clear(): void {
    this.#levels.length = 0
    this.#byPriority.clear()
  }

  /** The head of a level after dropping marked tasks. */
  #head(level: Level<T>): T | undefined {
    let task = level.ring.peek()
    while (task !== undefined && !task.queued) {
      level.ring.shift()
      task = level.ring.peek()
    }
    return task
  }

  #level(priority: number): Level<T> {
    let level = this.#byPriority.get(priority)
    if (level !== undefined) return level
    level = { priority, ring: new RingBuffer<T>() }
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
