/**
 * Raw baselines measured in the same run as the figures they anchor: a plain async function
 * call, and a plain TCP echo of the same number of bytes as one of our frames, both one at a
 * time (c1) and pipelined with every reply answered by one write of as many new messages.
 */
import { spawn } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { parseAddress } from '../transports/index.js'
import { Latencies, closedLoop, sleep, type LoopOptions } from './measure.js'

export async function functionCall(options: LoopOptions) {
  const echo = async (x: unknown): Promise<unknown> => x
  return closedLoop((i) => echo(i), options)
}

async function open(address: string): Promise<Socket> {
  const parsed = parseAddress(address)
  if (parsed.scheme !== 'tcp') throw new Error(`the echo baseline needs a tcp:// address, not ${address}`)
  const socket = connect({ host: parsed.host, port: parsed.port, noDelay: true })
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  return socket
}

/**
 * `outstanding` messages of `messageBytes` in flight on one connection for `durationMs`.
 * Validates first that the echo returns exactly what was sent.
 */
export async function tcpEcho(address: string, messageBytes: number, outstanding: number, options: LoopOptions) {
  return echoLoop(await open(address), messageBytes, outstanding, options)
}

/**
 * The same over a socketpair to a child process that echoes its fd 3: the raw cost of the
 * channel between a pool and its processes.
 */
export async function socketpairEcho(messageBytes: number, outstanding: number, options: LoopOptions) {
  const child = spawn(process.execPath, ['-e', "const s = new (require('node:net').Socket)({ fd: 3, readable: true, writable: true }); s.on('error', () => process.exit(0)); s.pipe(s)"], {
    stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
  })
  try {
    return await echoLoop(child.stdio[3] as Socket, messageBytes, outstanding, options)
  } finally {
    child.kill()
  }
}

async function echoLoop(socket: Socket, messageBytes: number, outstanding: number, options: LoopOptions) {
  const message = Buffer.alloc(messageBytes, 7)
  await validateEcho(socket, message)
  const sentAt = new Float64Array(outstanding * 2 + 1024) // FIFO of send times; TCP keeps order
  let head = 0
  let tail = 0
  let pendingBytes = 0
  let measuring = false
  let stop = false
  let done = 0
  const latencies = new Latencies()
  const send = (n: number): void => {
    const out = n === 1 ? message : Buffer.alloc(messageBytes * n, 7)
    const now = performance.now()
    for (let i = 0; i < n; i++) sentAt[tail++ % sentAt.length] = now
    socket.write(out)
  }
  socket.on('data', (chunk: Buffer) => {
    pendingBytes += chunk.length
    const complete = Math.floor(pendingBytes / messageBytes)
    pendingBytes -= complete * messageBytes
    const now = performance.now()
    for (let i = 0; i < complete; i++) {
      const t0 = sentAt[head++ % sentAt.length] as number
      if (measuring) {
        latencies.record((now - t0) * 1000)
        done++
      }
    }
    if (!stop && complete > 0) send(complete)
  })
  send(outstanding)
  await sleep(options.warmupMs)
  measuring = true
  const start = performance.now()
  await sleep(options.durationMs)
  const elapsed = performance.now() - start
  measuring = false
  stop = true
  socket.destroy()
  return { opsPerS: (done / elapsed) * 1000, p50: latencies.percentile(50), p99: latencies.percentile(99) }
}

async function validateEcho(socket: Socket, message: Buffer): Promise<void> {
  const got = await new Promise<Buffer>((resolve) => {
    const parts: Buffer[] = []
    let n = 0
    const onData = (chunk: Buffer): void => {
      parts.push(chunk)
      n += chunk.length
      if (n >= message.length) {
        socket.off('data', onData)
        resolve(Buffer.concat(parts))
      }
    }
    socket.on('data', onData)
    socket.write(message)
  })
  if (!got.equals(message)) throw new Error('raw echo returned different bytes')
}
