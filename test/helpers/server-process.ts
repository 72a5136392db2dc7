// The server under test in its own process (helpers/fuzz-server.mjs): a crash shows as an exit
// with its stderr, and its memory can be read from /proc without the load generator's mixed in.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { createInterface } from 'node:readline'

export interface Ports {
  udp: number
  dtls: number
  tcp: number
  pid: number
  hello: string
  bigSize: number
}

export interface ServerProcess {
  child: ChildProcessWithoutNullStreams
  ports: Ports
  stderr: () => string
  exit: () => { code: number | null; signal: NodeJS.Signals | null } | undefined
  /** Sends a command line and waits (bounded) for the JSON line that answers it. */
  ask: (cmd: string, key: string, ms?: number) => Promise<Record<string, unknown>>
}

export async function startServerProcess(args: string[] = []): Promise<ServerProcess> {
  const script = path.join(__dirname, 'fuzz-server.mjs')
  const child = spawn(process.execPath, ['--expose-gc', '--max-semi-space-size=1', script, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    // vitest's worker options are not the server's business.
    env: { ...process.env, NODE_OPTIONS: '' },
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-64 * 1024)
  })
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined
  child.on('exit', (code, signal) => {
    exited = { code, signal }
  })
  const waiters: Array<{ key: string; resolve: (o: Record<string, unknown>) => void }> = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    let o: Record<string, unknown>
    try {
      o = JSON.parse(line) as Record<string, unknown>
    } catch {
      return
    }
    const i = waiters.findIndex((w) => w.key in o)
    if (i >= 0) waiters.splice(i, 1)[0].resolve(o)
  })
  const wait = (key: string, ms: number) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fuzz server: no '${key}' answer within ${ms} ms (exit ${JSON.stringify(exited)})\n${stderr}`)), ms)
      waiters.push({ key, resolve: (o) => (clearTimeout(timer), resolve(o)) })
    })
  const ports = (await wait('udp', 15_000)) as unknown as Ports
  return {
    child,
    ports,
    stderr: () => stderr,
    exit: () => exited,
    ask: (cmd, key, ms = 10_000) => {
      const answer = wait(key, ms)
      child.stdin.write(cmd + '\n')
      return answer
    },
  }
}

export async function stopServerProcess(s: ServerProcess | undefined): Promise<void> {
  if (!s || s.exit()) return
  const gone = new Promise<void>((resolve) => s.child.once('exit', () => resolve()))
  s.child.stdin.end('exit\n')
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 3000)
  await gone
  clearTimeout(timer)
}

/** VmRSS and VmHWM of a process, in bytes. */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
}
