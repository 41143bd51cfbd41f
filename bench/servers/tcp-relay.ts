/**
 * The raw floor under a task's round trip: a plain TCP relay. Each connection it accepts gets a
 * connection of its own to the echo server at argv[2], and every byte is passed on both ways, so
 * a message crosses four sockets and wakes three processes, as a task does (client → manager →
 * pool → manager → client), with no framing, codec or routing.
 */
import { connect, createServer } from 'node:net'
import { parseAddress } from '../../transports/index.js'

const echoAddress = parseAddress(process.argv[2] as string)
if (echoAddress.scheme !== 'tcp') throw new Error(`the relay needs a tcp:// echo address, not ${process.argv[2]}`)
const { host, port } = echoAddress
const server = createServer({ noDelay: true }, (client) => {
  const echo = connect({ host, port, noDelay: true })
  client.on('data', (chunk) => echo.write(chunk))
  echo.on('data', (chunk) => client.write(chunk))
  client.on('error', () => echo.destroy())
  echo.on('error', () => client.destroy())
  client.on('close', () => echo.destroy())
  echo.on('close', () => client.destroy())
})
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number }
  process.stdout.write(JSON.stringify({ address: `tcp://127.0.0.1:${port}` }) + '\n')
})
process.stdin.resume()
process.stdin.on('end', () => process.exit(0))
