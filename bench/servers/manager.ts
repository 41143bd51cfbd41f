/** A manager in its own process; argv[2] is its queueSize ('Infinity' allowed). Reports RSS on request. */
import { Manager } from '../../index.js'

const queueSize = process.argv[2] === undefined ? undefined : Number(process.argv[2])
const manager = await Manager.start({ listen: 'tcp://127.0.0.1:0', queueSize })
manager.on('sysmsg', (msg) => {
  if (msg === 'rss') process.stdout.write(JSON.stringify({ rss: process.memoryUsage().rss }) + '\n')
})
process.stdout.write(JSON.stringify({ address: manager.address }) + '\n')
process.stdin.resume()
process.stdin.on('end', () => void manager.close().then(() => process.exit(0)))
