/** The raw baseline: a plain TCP server that writes back every byte it reads. */
import { createServer } from 'node:net'

const server = createServer({ noDelay: true }, (socket) => {
  socket.on('data', (chunk) => socket.write(chunk))
  socket.on('error', () => {})
})
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number }
  process.stdout.write(JSON.stringify({ address: `tcp://127.0.0.1:${port}` }) + '\n')
})
process.stdin.resume()
process.stdin.on('end', () => process.exit(0))
