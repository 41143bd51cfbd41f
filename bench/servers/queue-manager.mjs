// A manager with an unbounded queue, run from the compiled package (dist/, built by npm
// install) as users run it: the memory figure should not include the TypeScript loader.
import { Manager } from '../../dist/index.js'

const manager = await Manager.start({ listen: 'tcp://127.0.0.1:0', queueSize: Infinity })
manager.on('sysmsg', (msg) => {
  if (msg === 'rss') process.stdout.write(JSON.stringify({ rss: process.memoryUsage().rss }) + '\n')
})
process.stdout.write(JSON.stringify({ address: manager.address }) + '\n')
process.stdin.resume()
process.stdin.on('end', () => void manager.close().then(() => process.exit(0)))
