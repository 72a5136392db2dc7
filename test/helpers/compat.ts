// Helpers for test/compat.test.ts: promises around the node-coap style event API.
import { spawn } from 'node:child_process'
import type { IncomingMessage, OutgoingMessage, Server } from '../../dist/compat/index.js'

// Sends a request and resolves with its response; a 'timeout' or 'error' rejects.
export function send(req: OutgoingMessage, body?: string | Buffer): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    req.on('response', resolve)
    req.on('error', reject)
    req.on('timeout', reject)
    req.end(body)
  })
}

// Reads a Readable to its end.
export function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(Buffer.from(c)))
    stream.on('end', () => resolve(Buffer.concat(chunks)))
    stream.on('error', reject)
  })
}

// Starts a compat server; resolves once it listens (rejects on its 'error').
export function listen(server: Server, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, address, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

// Runs `node -e script`; resolves with how it ended. Killed (and reported as such) after `limitMs`.
export function runNode(script: string, limitMs: number): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; ms: number; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let killed = false
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => {
      killed = true
      child.kill('SIGKILL')
    }, limitMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started, killed })
    })
  })
}
