/**
 * The progress of `troupe run --each`: a bar redrawn in place on a terminal, plain lines at each
 * tenth otherwise (logs and pipes get something readable, not carriage returns).
 */
export interface ProgressStream {
  write(text: string): unknown
  isTTY?: boolean | undefined
}

/** Redraws at most this often on a terminal. */
const REDRAW_MS = 100
const BAR_WIDTH = 30

export class Progress {
  readonly #total: number
  readonly #stream: ProgressStream
  readonly #startedAt = Date.now()
  #done = 0
  #failed = 0
  #drawnAt = 0
  #lastTenth = -1

  constructor(total: number, stream: ProgressStream) {
    this.#total = total
    this.#stream = stream
  }

  /** Tasks that ended with an error so far. */
  get failed(): number {
    return this.#failed
  }

  /** One more task ended. */
  tick(ok: boolean): void {
    this.#done++
    if (!ok) this.#failed++
    if (this.#stream.isTTY === true) {
      const now = Date.now()
      if (now - this.#drawnAt >= REDRAW_MS || this.#done === this.#total) {
        this.#drawnAt = now
        this.#stream.write(`\r${this.line()}`)
      }
      return
    }
    const tenth = this.#total === 0 ? 10 : Math.floor((this.#done * 10) / this.#total)
    if (tenth > this.#lastTenth) {
      this.#lastTenth = tenth
      this.#stream.write(this.line() + '\n')
    }
  }

  /** Ends the bar's line on a terminal. */
  finish(): void {
    if (this.#stream.isTTY === true) this.#stream.write(`\r${this.line()}\n`)
  }

  /** e.g. `[#####-----]  50% 500/1000 done, 2 failed, 812/s, ETA 1s` */
  line(): string {
    const fraction = this.#total === 0 ? 1 : this.#done / this.#total
    const filled = Math.round(fraction * BAR_WIDTH)
    const seconds = (Date.now() - this.#startedAt) / 1000
    const rate = seconds > 0 ? this.#done / seconds : 0
    const eta = rate > 0 ? Math.ceil((this.#total - this.#done) / rate) : undefined
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4)
    return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${percent} ${this.#done}/${this.#total} done, ${this.#failed} failed, ${Math.round(rate)}/s, ETA ${eta === undefined ? '?' : `${eta}s`}`
  }
}
