/**
 * `client.job(J).run()` (API.md §5): waits for the pools asked for, runs `J`'s `run(all)` here with
 * `all` broadcasting each `__method` call, then gathers every pool's report lines.
 */
import { configError } from '../lib/errors.js'
import { durationOption, integerOption, knownOptions } from '../lib/options.js'
import { DEFAULT_BROADCAST_TIMEOUT_MS, JOB_OPTIONS, type BroadcastOptions, type JobOptions, type JobResult } from './client-options.js'
import type { Everyone, Job, JobClass, Outcome, ReportLine } from './job.js'
import { JOB_METHOD_SEPARATOR, JOB_REPORTS_SUFFIX, JOB_RUN_SEPARATOR } from './tasks.js'

/** What a job run needs of the client that runs it. */
export interface JobHost {
  /** A name for a new run, unique among the runs of every client. */
  nextJobRun(): string
  /** Resolves once `count` pools are connected; rejects with `EATO` past `timeoutMs`. */
  awaitPools(count: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<unknown>
  broadcast(name: string, input: unknown, options: BroadcastOptions): Promise<Outcome<unknown>[]>
}

/**
 * Runs job `Class` through `host`. A bad job or option rejects with `ECONFIG`.
 * @throws TroupeError `ECONFIG`, `EATO`, and whatever the job's own `run(all)` throws
 */
export async function runJob<J extends Job>(Class: JobClass<J>, options: JobOptions | undefined, host: JobHost): Promise<JobResult<Awaited<ReturnType<J['run']>>>> {
  if (typeof Class !== 'function' || typeof Class.prototype?.run !== 'function') throw configError('job', 'a Job subclass with a run(all) method', Class)
  const { workers: waitFor, ...o } = knownOptions('job()', options, JOB_OPTIONS)
  const workers = integerOption('workers', waitFor, 0, 0)
  const timeoutMs = durationOption('timeout', o.timeout) ?? DEFAULT_BROADCAST_TIMEOUT_MS
  if (workers > 0) await host.awaitPools(workers, timeoutMs, o.signal)
  // the pools file report lines under the job run whose subtask made them, so that each run
  // collects its own, even while other runs of the job overlap it
  const jobRun = host.nextJobRun()
  const named = (what: string): string => `${Class.name}${what}${JOB_RUN_SEPARATOR}${jobRun}`
  const collectReports = (): Promise<Outcome<unknown>[]> => host.broadcast(named(JOB_REPORTS_SUFFIX), null, { ...o, min: 0 })
  const outcomes: Outcome<unknown>[][] = []
  const all = new Proxy({}, {
    get: (_, method) => {
      if (typeof method !== 'string' || !method.startsWith('__')) return undefined
      return async (...args: unknown[]) => {
        const slot = outcomes.push([]) - 1 // in call order, even for broadcasts made at once
        const gathered = await host.broadcast(named(`${JOB_METHOD_SEPARATOR}${method}`), args, o)
        outcomes[slot] = gathered
        return gathered
      }
    },
  }) as Everyone<J>
  const job = new (Class as unknown as new () => J)()
  const run = job.run as unknown as (all: Everyone<J>) => unknown
  let value: Awaited<ReturnType<J['run']>>
  try {
    value = (await run.call(job, all)) as Awaited<ReturnType<J['run']>>
  } catch (err) {
    // a failed run's lines are taken off the pools all the same: left there, they would
    // crowd later runs' lines out of each instance's bounded store
    await collectReports().catch(() => {})
    throw err
  }
  const reports = (await collectReports()).flatMap((c) => reportLines(c, Date.now()))
  reports.sort((a, b) => a.time - b.time)
  return { value, outcomes, reports }
}

/** A pool's report lines, or one line telling why they are lost (none from a pool without the job). */
function reportLines(collected: Outcome<unknown>, now: number): JobResult<unknown>['reports'] {
  const { worker } = collected
  if (collected.ok) return (collected.value as ReportLine[]).map((line) => ({ worker, ...line }))
  if (collected.error.remoteCode === 'ENOTASK') return []
  return [{ worker, time: now, message: `report lines lost: ${collected.error.remoteCode ?? collected.error.code}: ${collected.error.message}` }]
}
