/**
 * Task modules and running one task: what a pool's worker (inline, thread or process) does with
 * an assignment once it has decoded it. Shared by the inline runtime and actors/worker-entry.ts.
 */
import { pathToFileURL } from 'node:url'
import { TroupeError } from '../lib/errors.js'
import { isJobClass, isSubtask, subtasks, takeReports, type Job, type JobRun } from './job.js'

/** What a task receives besides its input. */
export interface TaskContext {
  /** Aborts on the run timeout, when every caller gave up, or when the pool drains or closes. */
  readonly signal: AbortSignal
  /** Reports progress (any number; 0..1 by convention) to the caller's `onProgress`. */
  progress(value: number): void
  /** 1 on the first run; more after its worker was lost. */
  readonly attempt: number
  /** This run's id, unique within its pool. */
  readonly id: number
}

/** A task: input and context in, output (or a promise of it) out. */
export type TaskFunction<I = never, O = unknown> = (input: I, ctx: TaskContext) => O | Promise<O>

/** An object of named tasks. */
export type TaskMap = Record<string, TaskFunction<never, unknown>>

/**
 * Declares a task module's tasks; returns them unchanged, typed, so `client.typed<typeof tasks>()`
 * can check names, inputs and outputs.
 * @example
 * export default defineTasks({ add: ([a, b]: [number, number]) => a + b })
 */
export function defineTasks<T extends Record<string, (input: never, ctx: TaskContext) => unknown>>(tasks: T): T {
  return tasks
}

/** What a pool runs: its tasks by name, and its `Job` classes by class name. */
export interface TaskModule {
  tasks: TaskMap
  jobs: Map<string, new () => Job>
}

/** Where a pool's tasks come from: a module (URL or path), or an object (inline pools only). */
export type TasksSource = URL | string | TaskMap

/**
 * A module's location as a URL string, for a child process or thread to import: a URL as is, a
 * path resolved against the working directory. A scheme has two letters or more, so a Windows
 * drive (`C:`) reads as a path.
 */
export function moduleUrl(tasks: URL | string): string {
  if (tasks instanceof URL) return tasks.href
  return /^[a-z][a-z0-9+.-]+:/i.test(tasks) ? tasks : pathToFileURL(tasks).href
}

/**
 * Loads a task module: its default export's functions and its named function exports as tasks,
 * and every `Job` subclass among them as a job (named by its class name).
 * @throws TroupeError `ECONFIG` when it cannot be imported or a task is not a function.
 */
export async function loadTasks(source: TasksSource): Promise<TaskModule> {
  if (typeof source === 'object' && !(source instanceof URL)) return splitJobs(source, 'tasks')
  const url = moduleUrl(source)
  let mod: Record<string, unknown>
  try {
    mod = (await import(url)) as Record<string, unknown>
  } catch (err) {
    throw new TroupeError('ECONFIG', `cannot load the task module ${url}: ${(err as Error).message}`, { cause: err })
  }
  const tasks: Record<string, unknown> = {}
  const main = mod.default
  if (typeof main === 'object' && main !== null) Object.assign(tasks, main)
  for (const [name, value] of Object.entries(mod)) {
    if (name !== 'default' && typeof value === 'function' && (!isClass(value) || isJobClass(value))) tasks[name] = value
  }
  return splitJobs(tasks, url)
}

// `entries` is an object: WorkerPool.start checks a tasks object, and a module's is built here
function splitJobs(entries: Record<string, unknown>, where: string): TaskModule {
  const tasks: Record<string, unknown> = {}
  const jobs = new Map<string, new () => Job>()
  for (const [name, value] of Object.entries(entries)) {
    if (isJobClass(value)) jobs.set(value.name, value)
    else tasks[name] = value
  }
  return { tasks: checkedTasks(tasks, where), jobs }
}

function isClass(value: Function): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(value))
}

function checkedTasks(tasks: Record<string, unknown>, where: string): TaskMap {
  for (const [name, fn] of Object.entries(tasks)) {
    if (typeof fn !== 'function') throw new TroupeError('ECONFIG', `task "${name}" in ${where} is not a function`)
  }
  return tasks as TaskMap
}

/** Name under which `client.eval` sends code: its input is `[source, input]`. */
export const EVAL_TASK = '$eval'

/** Compiled `eval` sources, most recent last; bounded so a client cannot fill memory with code. */
const EVAL_CACHE_LIMIT = 256

/** A task ready to run: the function and the input it takes. */
export interface PreparedTask {
  fn: TaskFunction<unknown, unknown>
  input: unknown
}

/**
 * Broadcasts name a job's subtask `Class.__method`, and its report collection `Class:reports`,
 * each followed by `@jobRun`: the caller's job run it is part of, whose report lines it records
 * or collects.
 */
export const JOB_METHOD_SEPARATOR = '.'
export const JOB_REPORTS_SUFFIX = ':reports'
export const JOB_RUN_SEPARATOR = '@'

/**
 * The job a broadcast name is for: `Class.__method` (a subtask, `method` set) or `Class:reports`
 * (no `method`), with the job run after the last `@` if any; undefined for a name that names no job.
 */
export function parseJobName(name: string): { className: string; method: string | undefined; jobRun: string | undefined } | undefined {
  const at = name.lastIndexOf(JOB_RUN_SEPARATOR)
  const jobRun = at > 0 ? name.slice(at + 1) : undefined
  const target = at > 0 ? name.slice(0, at) : name
  if (target.endsWith(JOB_REPORTS_SUFFIX)) return { className: target.slice(0, -JOB_REPORTS_SUFFIX.length), method: undefined, jobRun }
  const dot = target.indexOf(JOB_METHOD_SEPARATOR)
  return dot > 0 ? { className: target.slice(0, dot), method: target.slice(dot + 1), jobRun } : undefined
}

/** Finds tasks by name in one task map, runs job subtasks, and compiles `eval` code where allowed. */
export class TaskRunner {
  readonly #tasks: TaskMap
  readonly #jobs: Map<string, new () => Job>
  readonly #instances = new Map<string, Job>()
  readonly #allowEval: boolean
  readonly #compiled = new Map<string, TaskFunction<unknown, unknown>>()

  constructor(module: TaskModule, allowEval: boolean) {
    this.#tasks = module.tasks
    this.#jobs = module.jobs
    this.#allowEval = allowEval
  }

  /**
   * What to run for task `name`, or why nothing can run (`ENOTASK`, `EEVAL`): these keep their
   * own codes, while anything the task itself throws becomes `ETASK`.
   */
  prepare(name: string, input: unknown): PreparedTask | TroupeError {
    if (name === EVAL_TASK) return this.#prepareEval(input)
    const job = this.#jobs.size > 0 ? this.#prepareJob(name, input) : undefined
    if (job !== undefined) return job
    const fn = Object.hasOwn(this.#tasks, name) ? this.#tasks[name] : undefined
    if (fn === undefined) return new TroupeError('ENOTASK', `no task named "${name}"`)
    return { fn: fn as TaskFunction<unknown, unknown>, input }
  }

  /** `Class.__method@jobRun` with its argument list, or `Class:reports@jobRun`, on this worker's one instance of the job. */
  #prepareJob(name: string, input: unknown): PreparedTask | TroupeError | undefined {
    const parsed = parseJobName(name)
    const Class = parsed === undefined ? undefined : this.#jobs.get(parsed.className)
    if (parsed === undefined || Class === undefined) return undefined // a plain task, perhaps with a dot in its name
    const { className, method, jobRun } = parsed
    if (method !== undefined && !isSubtask(Class, method)) {
      return new TroupeError('ENOTASK', `job "${className}" has no subtask "${method}" (subtasks are methods named __something)`)
    }
    const instance = (): Job => {
      let job = this.#instances.get(className)
      if (job === undefined) this.#instances.set(className, (job = new Class()))
      return job
    }
    if (method === undefined) return { fn: () => takeReports(instance(), jobRun), input }
    const args = Array.isArray(input) ? input : [input]
    const fn = (_: unknown, ctx: TaskContext): unknown => {
      const job = instance()
      return subtasks().run({ run: ctx as unknown as JobRun, jobRun }, () => (job as unknown as Record<string, (...a: unknown[]) => unknown>)[method]?.(...args))
    }
    return { fn, input }
  }

  #prepareEval(input: unknown): PreparedTask | TroupeError {
    if (!this.#allowEval) return new TroupeError('EEVAL', 'this pool was started without allowEval: code sent by clients is not run')
    if (!Array.isArray(input) || typeof input[0] !== 'string') return new TroupeError('EEVAL', 'eval needs [source, input]')
    const [source, argument] = input as [string, unknown]
    let fn = this.#compiled.get(source)
    if (fn === undefined) {
      try {
        fn = new Function(`return (${source})`)() as TaskFunction<unknown, unknown>
      } catch (err) {
        return new TroupeError('EEVAL', `the code does not compile: ${(err as Error).message}`, { cause: err })
      }
      if (typeof fn !== 'function') return new TroupeError('EEVAL', 'the code is not a function')
      if (this.#compiled.size >= EVAL_CACHE_LIMIT) this.#compiled.delete(this.#compiled.keys().next().value as string)
      this.#compiled.set(source, fn)
    }
    return { fn, input: argument }
  }
}
