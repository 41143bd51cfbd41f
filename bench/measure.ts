/**
 * Measuring: a closed loop of `concurrency` lanes, each awaiting one operation after another,
 * after a warm-up; latencies go into a preallocated array so recording costs no allocation.
 */

export interface Figure {
  name: string
  ops_per_s: number
  p50_us: number
  p99_us: number
  /** Name of the raw figure this one is compared with (null for a baseline itself). */
  baseline: string | null
  /** ops_per_s ÷ the baseline's ops_per_s. */
  ratio: number | null
  /** The baseline as this figure's ratios use it: the mean of its runs just before and just after. */
  baseline_ops_per_s?: number
  baseline_p50_us?: number
  /** p50_us ÷ the baseline's p50_us, for figures whose target is a latency (the c1 figures, broadcast.tcp.4). */
  p50_ratio?: number
  /** For a figure that is the median of several runs (one with a target): each run's, in order of the value. */
  runs_ops_per_s?: number[]
  runs_p50_us?: number[]
  /** For memory figures: the resident set size of the process measured. */
  rss_mb?: number
}

export interface LoopOptions {
  concurrency: number
  durationMs: number
  warmupMs: number
}

/** Latencies in µs, at most `capacity` of them (later ones overwrite a ring). */
export class Latencies {
  readonly #values: Float64Array
  #count = 0

  constructor(capacity = 2_000_000) {
    this.#values = new Float64Array(capacity)
  }

  record(us: number): void {
    this.#values[this.#count++ % this.#values.length] = us
  }

  percentile(p: number): number {
    const n = Math.min(this.#count, this.#values.length)
    if (n === 0) return NaN
    const sorted = this.#values.slice(0, n).sort()
    return sorted[Math.min(n - 1, Math.floor((p / 100) * n))] as number
  }
}

/**
 * Runs `op` in a closed loop and returns throughput and latency percentiles. Lanes read the
 * clock themselves rather than waiting for a timer: an in-process loop is a pure microtask
 * chain that never lets a timer fire.
 */
export async function closedLoop(op: (i: number) => Promise<unknown>, options: LoopOptions): Promise<{ opsPerS: number; p50: number; p99: number }> {
  const { concurrency, durationMs, warmupMs } = options
  const measureFrom = performance.now() + warmupMs
  const measureUntil = measureFrom + durationMs
  let done = 0
  let seq = 0
  const latencies = new Latencies()
  const lane = async (): Promise<void> => {
    for (;;) {
      const start = performance.now()
      if (start >= measureUntil) return
      await op(seq++)
      if (start >= measureFrom) {
        latencies.record((performance.now() - start) * 1000)
        done++
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane))
  return { opsPerS: (done / durationMs) * 1000, p50: latencies.percentile(50), p99: latencies.percentile(99) }
}

/** Runs a synchronous `op` in batches for `durationMs` (codec figures). */
export function tightLoop(op: (i: number) => void, durationMs: number, warmupMs: number): { opsPerS: number; p50: number; p99: number } {
  const batch = 1000
  const latencies = new Latencies(100_000)
  let i = 0
  const run = (ms: number, record: boolean): number => {
    const end = performance.now() + ms
    let n = 0
    while (performance.now() < end) {
      const t0 = performance.now()
      for (let b = 0; b < batch; b++) op(i++)
      if (record) latencies.record(((performance.now() - t0) * 1000) / batch)
      n += batch
    }
    return n
  }
  run(warmupMs, false)
  const start = performance.now()
  const n = run(durationMs, true)
  return { opsPerS: (n / (performance.now() - start)) * 1000, p50: latencies.percentile(50), p99: latencies.percentile(99) }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
