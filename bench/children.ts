/** Starts a bench server in its own process and stops it by pid when the bench ends. */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const started: ChildProcess[] = []

export async function startServer(name: string): Promise<string> {
  const file = fileURLToPath(new URL(`./servers/${name}`, import.meta.url))
  const child = spawn(process.execPath, [...process.execArgv, file], { stdio: ['pipe', 'pipe', 'inherit'] })
  started.push(child)
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]()
  const first = await lines.next()
  if (first.done === true) throw new Error(`bench server ${name} exited before listening`)
  return (JSON.parse(first.value) as { address: string }).address
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
