/** An actor system with an `echo` actor, in its own process, for the tcp:// ask figures. */
import { ActorSystem } from '../../index.js'

const system = new ActorSystem({ name: 'bench-server' })
system.spawn('echo', (message: unknown) => message)
const address = await system.listen('tcp://127.0.0.1:0')
process.stdout.write(JSON.stringify({ address }) + '\n')
process.stdin.resume()
process.stdin.on('end', () => void system.close().then(() => process.exit(0)))
