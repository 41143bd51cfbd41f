/**
 * Starts bench servers in processes of their own, and stops them by pid once the figure that
 * started them is measured.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const started: ChildProcess[] = []

export interface Server {
  address: string
  /** The server's next line of output, parsed. */
  nextLine(): Promise<unknown>
}

export async function startServer(name: string, args: string[] = []): Promise<Server> {
  const file = fileURLToPath(new URL(`./servers/${name}`, import.meta.url))
  // a .mjs server runs as plain JavaScript, without this process's TypeScript loader
  const execArgv = file.endsWith('.mjs') ? [] : process.execArgv
  const child = spawn(process.execPath, [...execArgv, file, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  started.push(child)
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]()
  const nextLine = async (): Promise<unknown> => {
    const line = await lines.next()
    if (line.done === true) throw new Error(`bench server ${name} exited`)
    return JSON.parse(line.value)
  }
  const { address } = (await nextLine()) as { address: string }
  return { address, nextLine }
}

/** Ends every server we started: closing stdin asks it to exit; SIGKILL if it has not after 2 s. */
export async function stopServers(): Promise<void> {
  await Promise.all(
    started.splice(0).map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve()
          const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
          child.once('exit', () => (clearTimeout(timer), resolve()))
          child.stdin?.end()
        }),
    ),
  )
}
