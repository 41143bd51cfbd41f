/** The task module of the grid benchmarks. */
import { defineTasks } from '../index.js'

export default defineTasks({
  echo: (x: unknown) => x,
})
