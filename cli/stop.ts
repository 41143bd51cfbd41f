/** `troupe stop`: asks a pool or the manager (or everyone) to drain and exit. */
import type { Client } from '../index.js'
import { DEFAULT_MANAGER, NETWORK_FLAGS, NETWORK_ROWS, STOP_MESSAGE, UsageError, connect, flagTable, networkOptions, parse, type Io } from './common.js'

const USAGE = `usage: troupe stop NODE_ID [options]
       troupe stop --all [options]

Asks the node NODE_ID (a pool, or the manager; ids are in troupe status), or every node,
to finish what it runs, then exit. Only nodes started by the troupe CLI obey it; it travels
as a system message, so it needs the grid's key.

${flagTable([
  ['--manager URL', `default: $TROUPE_MANAGER or ${DEFAULT_MANAGER}`],
  ['--all', 'every pool and the manager'],
  ...NETWORK_ROWS,
])}`

export async function stopCommand(argv: string[], io: Io): Promise<number> {
  const args = parse(argv, { ...NETWORK_FLAGS, manager: { type: 'string' }, all: { type: 'boolean' } }, USAGE, io, 1)
  if (args === undefined) return 0
  const [node] = args.positionals
  if ((node === undefined) === (args.values.all !== true)) throw new UsageError(`give a NODE_ID or --all\n\n${USAGE}`)
  const client = await connect(args.values.manager, networkOptions(args.values))
  try {
    const acked = node === undefined ? await stopAll(client) : await client.systemMessage(STOP_MESSAGE, { to: node })
    for (const id of acked) io.out(`${id} is draining`)
    if (acked.length === 0) io.err(node === undefined ? 'no node acknowledged' : `no node ${node} acknowledged (is it connected? see troupe status)`)
    return acked.length === 0 ? 1 : 0
  } finally {
    await client.close()
  }
}

/**
 * Stops the pools, then the manager. One message to everyone would not do: the manager drains
 * as it gets it, and closes this connection before the pools' acknowledgements come back.
 */
async function stopAll(client: Client): Promise<string[]> {
  const { id, pools } = await client.stats()
  // a standalone pool is its own manager: it is told once, below
  const others = pools.filter((p) => p.id !== id)
  const acked = await Promise.all(others.map((p) => client.systemMessage(STOP_MESSAGE, { to: p.id })))
  return [...acked.flat(), ...(await client.systemMessage(STOP_MESSAGE, { to: 'manager' }))]
}
