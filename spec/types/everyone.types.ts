/**
 * Compile-time checks of `Everyone<J>` (API.md §5), run by `npm test`'s typecheck: each
 * `@ts-expect-error` fails the build if the line below it compiles.
 */
import type { Everyone, Outcome } from '../../index.js'
import { Survey } from '../fixtures/jobs.js'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
const expectTrue = <T extends true>(): T => true as T

export async function check(all: Everyone<Survey>): Promise<void> {
  // each __method keeps its parameters and gathers its awaited result, one outcome per pool
  const counted = await all.__count('word')
  expectTrue<Equal<typeof counted, Outcome<number>[]>>()
  const first = counted[0]
  if (first?.ok) expectTrue<Equal<typeof first.value, number>>()
  if (first !== undefined && !first.ok) expectTrue<Equal<typeof first.error.code, import('../../index.js').ErrorCode>>()

  // @ts-expect-error a wrong argument type does not compile
  await all.__count(42)
  // @ts-expect-error a missing argument does not compile
  await all.__phase()
  // @ts-expect-error only __methods appear: not run
  void all.run
  // @ts-expect-error only __methods appear: not a field
  void all.seen
  // @ts-expect-error only __methods appear: not the base class's report
  void all.report
}
