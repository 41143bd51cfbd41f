/**
 * The loop behind `client.each()`: one task per input, each outcome yielded as it finishes, with
 * at most `window` tasks open or finished but not yet taken, so memory stays bounded and a slow
 * loop body holds back the input. Leaving the loop early cancels the rest and closes the input.
 * Once the caller's signal aborts or the client closes, no more input is pulled: the outcomes of
 * the inputs already received are yielded, then the loop throws that `EABORT`/`ECLOSED` unless the
 * input had run out. A value an async input delivers after that (its `next()` was pending) is not
 * run and has no outcome: the loop does not wait for it, as it may never come. An input that
 * throws ends the loop with its error.
 */
import { TroupeError } from '../lib/errors.js'
import { RingBuffer } from '../lib/ring.js'
import type { EachResult } from './client-options.js'

/**
 * Runs `run(input, signal)` for each of `inputs` and yields the outcomes as they finish. The
 * signal given to every run aborts with `signal` and when the loop ends.
 */
export async function* each<R>(
  inputs: Iterable<unknown> | AsyncIterable<unknown>,
  window: number,
  signal: AbortSignal | undefined,
  run: (input: unknown, signal: AbortSignal) => Promise<R>,
): AsyncGenerator<EachResult<R>> {
  const group = callGroup(signal)
  const isAsync = Symbol.asyncIterator in inputs
  const source = (isAsync ? inputs[Symbol.asyncIterator]() : (inputs as Iterable<unknown>)[Symbol.iterator]()) as Iterator<unknown> | AsyncIterator<unknown>
  // outcomes not yet yielded; with the open calls never more than `window` in all
  const held = new RingBuffer<EachResult<R>>()
  let open = 0
  let index = 0
  let ended = false // the input ran out or threw: there is nothing to close
  // set by the first EABORT of the caller's signal or ECLOSED: every later call would fail at
  // once the same way, so pulling on would spin through an endless input without yielding
  let stopped: TroupeError | undefined
  // an async input has at most one next() pending, raced against the open calls: a finished
  // outcome must not wait for the next input (a loop that feeds its own input would deadlock).
  // Its answer is kept as a function that returns or throws it, so take() reads it as a sync next()
  let pulling = false
  let pulled: (() => IteratorResult<unknown>) | undefined
  let wake: (() => void) | undefined

  const finish = (outcome: EachResult<R>): void => {
    open--
    held.push(outcome)
    wake?.()
  }
  const answered = (next: () => IteratorResult<unknown>): void => {
    pulled = next
    wake?.()
  }
  const pull = (): void => {
    pulling = true
    new Promise<IteratorResult<unknown>>((resolve) => resolve(source.next())).then(
      (result) => answered(() => result),
      (err: unknown) => answered(() => {
        throw err
      }),
    )
  }
  // starts the input's next value, or notes that it ran out; an input that threw is not closed
  // (the iterator protocol calls return() only on one that is still going)
  const take = (next: () => IteratorResult<unknown>): void => {
    let result: IteratorResult<unknown>
    try {
      result = next()
      if (result.done === true) ended = true
    } catch (err) {
      ended = true
      throw err
    }
    if (ended || stopped !== undefined) return
    const at = index++
    open++
    run(result.value, group.signal).then(
      (value) => finish({ index: at, ok: true, value }),
      (error: TroupeError) => {
        if ((error.code === 'EABORT' && group.signal.aborted) || error.code === 'ECLOSED') stopped ??= error
        finish({ index: at, ok: false, error })
      },
    )
  }

  try {
    for (;;) {
      // fill the window: a sync input at once, an async one a next() at a time
      while (!ended && stopped === undefined && !pulling && open + held.length < window) {
        if (isAsync) pull()
        else take(() => (source as Iterator<unknown>).next())
      }
      if (pulled !== undefined) {
        const next = pulled
        pulled = undefined
        pulling = false
        take(next)
        continue
      }
      const outcome = held.shift()
      if (outcome !== undefined) {
        yield outcome
        continue
      }
      if (open === 0 && ended) return
      // a next() still pending is not waited for: it may never settle
      if (open === 0 && stopped !== undefined) throw stopped
      await new Promise<void>((resolve) => (wake = resolve))
      wake = undefined
    }
  } finally {
    group.end(new TroupeError('EABORT', 'the each() loop ended early'))
    if (!ended) closeInput(source)
  }
}

/**
 * Closes an input `each()` left before its end, so that a generator's `finally` runs and a stream
 * closes. Not awaited: return() waits behind a next() still pending, which may never settle, and
 * the loop has already ended, so its failure has nobody to go to.
 */
function closeInput(source: Iterator<unknown> | AsyncIterator<unknown>): void {
  try {
    Promise.resolve(source.return?.()).catch(() => {})
  } catch {
    // a sync iterator's return() threw: as above
  }
}

/**
 * The signal shared by the calls of `all()` and `each()`: it aborts with `outer` (at once when
 * `outer` already has, so nothing is sent) and on `end()`.
 */
export function callGroup(outer: AbortSignal | undefined): { signal: AbortSignal; end(reason: TroupeError): void } {
  const group = new AbortController()
  const forward = (): void => group.abort(outer?.reason)
  if (outer?.aborted === true) forward()
  else outer?.addEventListener('abort', forward, { once: true })
  return {
    signal: group.signal,
    end(reason) {
      group.abort(reason)
      outer?.removeEventListener('abort', forward)
    },
  }
}
