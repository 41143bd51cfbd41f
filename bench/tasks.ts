/** The task module of the grid and broadcast benchmarks. */
import { defineTasks } from '../index.js'

export default defineTasks({
  echo: (x: unknown) => x,
  /** The broadcast figures' subtask: answers with its input. */
  __ping: (x: unknown) => x,
})
