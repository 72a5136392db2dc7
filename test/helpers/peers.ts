// Helpers around libcoap's own coap-client and coap-server example programs, built from the pinned
// source by `node deps/build-tools.js` into deps/.work/bin. Used by interop tests; loopback only.
//
// Resources of a plain `coap-server` (examples/coap-server.c, init_resources()) tests can rely on:
//   /              GET: a text/plain banner starting "This is a test server made with libcoap"
//   /time          GET (observable; `?ticks` gives seconds since the epoch, else "Mon DD HH:MM:SS" UTC),
//                  FETCH (payload "ticks"), PUT (sets the clock), DELETE (later GETs give 4.04)
//   /async         GET: empty ACK, then a separate response "done" after 4 s (`?N` sets the delay to
//                  N seconds; `?0` gives 4.00)
//   /example_data  GET/FETCH (observable): 1500 bytes "a123456789b123456789..." until PUT; PUT
//                  replaces it (2.01 the first time, 2.04 after), stores the Content-Format, supports
//                  Block1; with `-e` the server echoes the PUT body back in the response
//   /.well-known/core  the link-format listing of the above
// Only with server flags: `-d N` lets PUT/POST create up to N dynamic resources at unknown paths;
// `-k key` (PSK) or `-c cert` (PKI) adds DTLS/TLS endpoints on port+1; `-w port` adds WebSockets.
// The server listens on UDP and TCP at the same port (coap:// and coap+tcp://).
//
// Things to know about the binaries:
//   - coap-client exits 0 even on a timeout, an ICMP "connection refused" or a 4.xx/5.xx response:
//     check stdout/stderr, not the exit code.
//   - Response payloads go to stdout, and coap-client adds one "\n" at the end when it got any
//     payload and no `-o` was given (`-o -` writes the exact payload to stdout; `-w` adds a newline
//     after each complete body). 4.xx/5.xx responses print "4.04 Not Found" (code, then any
//     diagnostic payload) to stderr. libcoap's log lines (levels ERR..DEBUG: e.g. WARN, and all
//     that `-v N` adds) also go to stdout, mixed with the payload; `-o file` keeps them apart.
//   - coap-client waits 90 s by default for a response; pass `-B seconds` (integer, >= 1).
//   - Useful client flags: `-m get|put|post|delete|fetch|patch|ipatch`, `-e text` payload,
//     `-f file`, `-t type` content format, `-A type` accept, `-N` NON, `-s secs` observe,
//     `-b size` block size, `-O num,text` extra option, `-T token`, `-k key -u id` PSK, `-v N`.
//   - Useful server flags: `-A addr`, `-p port`, `-v N` (0..8, default 4), `-e`, `-d N`, `-k key`.
import { spawn, type ChildProcess } from 'node:child_process'
import * as dgram from 'node:dgram'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'

export const COAP_CLIENT = path.resolve(__dirname, '../../deps/.work/bin/coap-client')
export const COAP_SERVER = path.resolve(__dirname, '../../deps/.work/bin/coap-server')

const HOST = '127.0.0.1'

function requireBinary(file: string): void {
  if (!fs.existsSync(file)) {
    throw new Error(`${file} not found: run \`node deps/build-tools.js\` first`)
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// Servers still running when the test process exits are killed, so none outlive a failed test.
const live = new Set<ChildProcess>()
let exitHookInstalled = false
function track(child: ChildProcess): void {
  live.add(child)
  child.once('exit', () => live.delete(child))
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL')
    })
  }
}

export async function freePort(kind: 'udp' | 'tcp' = 'udp'): Promise<number> {
  if (kind === 'udp') {
    const sock = dgram.createSocket('udp4')
    return new Promise<number>((resolve, reject) => {
      sock.once('error', (err) => {
        sock.close()
        reject(err)
      })
      sock.bind(0, HOST, () => {
        const { port } = sock.address()
        sock.close(() => resolve(port))
      })
    })
  }
  const server = net.createServer()
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

// Whether `port` can be bound right now on 127.0.0.1 for `kind`.
async function canBind(kind: 'udp' | 'tcp', port: number): Promise<boolean> {
  if (kind === 'udp') {
    const sock = dgram.createSocket('udp4')
    return new Promise<boolean>((resolve) => {
      sock.once('error', () => {
        sock.close()
        resolve(false)
      })
      sock.bind(port, HOST, () => sock.close(() => resolve(true)))
    })
  }
  const server = net.createServer()
  return new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(port, HOST, () => server.close(() => resolve(true)))
  })
}

// coap-server binds UDP and TCP on `port`, and on port+1 for DTLS/TLS when keys are given, so
// pick a port where all four are free (bounded number of tries).
async function serverPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await freePort('udp')
    if (port >= 65535) continue
    if ((await canBind('tcp', port)) && (await canBind('udp', port + 1)) && (await canBind('tcp', port + 1))) {
      return port
    }
  }
  return freePort('udp')
}

export async function coapClient(
  args: string[],
  opts?: { timeoutMs?: number },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  requireBinary(COAP_CLIENT)
  const timeoutMs = opts?.timeoutMs ?? 10_000
  return new Promise((resolve, reject) => {
    const child = spawn(COAP_CLIENT, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    // 'close' (not 'exit') so all output has been read.
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

// One readiness probe: GET / and look for the banner. A refused datagram (server not bound yet)
// makes coap-client log "ICMP: Connection refused" and then idle until -B; end it early instead.
async function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(COAP_CLIENT, ['-B', '2', '-m', 'get', `coap://${HOST}:${port}/`], {
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    let out = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (/Connection refused/i.test(out)) child.kill('SIGKILL')
    })
    child.once('error', () => {
      clearTimeout(timer)
      resolve(false)
    })
    child.once('close', () => {
      clearTimeout(timer)
      resolve(out.includes('libcoap'))
    })
  })
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 2000)
    child.once('exit', () => {
      clearTimeout(killer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

export async function startCoapServer(
  args: string[] = [],
  opts?: { port?: number },
): Promise<{ port: number; url: (path?: string) => string; stop: () => Promise<void>; output: () => string }> {
  requireBinary(COAP_SERVER)
  requireBinary(COAP_CLIENT)
  // With an automatic port, a port lost to a race is retried on a new one (bounded).
  const attempts = opts?.port ? 1 : 3
  let lastError: Error | undefined
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = opts?.port ?? (await serverPort())
    const child = spawn(COAP_SERVER, ['-A', HOST, '-p', String(port), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    track(child)
    let out = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d))
    let spawnError: Error | undefined
    child.once('error', (err) => (spawnError = err))

    let ready = false
    for (let i = 0; i < 50 && !ready; i++) {
      if (spawnError) break
      if (child.exitCode !== null || child.signalCode !== null) break
      if (/cannot create endpoint/.test(out)) break // e.g. TCP port taken: not the server we expect
      if (i > 0) await sleep(100)
      ready = await probe(port)
    }
    if (ready && !/cannot create endpoint/.test(out)) {
      return {
        port,
        url: (p = '/') => `coap://${HOST}:${port}${p.startsWith('/') ? p : `/${p}`}`,
        stop: () => stopChild(child),
        output: () => out,
      }
    }
    const exited = child.exitCode ?? child.signalCode
    await stopChild(child)
    lastError =
      spawnError ??
      new Error(
        `coap-server ${['-A', HOST, '-p', String(port), ...args].join(' ')} did not come up` +
          (exited !== null ? ` (exited with ${exited})` : '') +
          (out ? `; its output:\n${out}` : ''),
      )
  }
  throw lastError
}

/** What coap-server's `/` answers with (its banner text, checked by its first words only). */
export const COAP_SERVER_BANNER = /^This is a test server made with libcoap \(see https:\/\/libcoap\.net\)\n/
