// Every program in examples/ runs here as a child process (`node dist/examples/X.js …`, built by
// `npm run build:ts`) against real peers on loopback: the other examples, our CoapServer and
// CoapClient in this process, and libcoap's own coap-server/coap-client. Output and exit codes
// are checked, so an example that stops working, or a new one without a test, fails this file.
// Multicast runs in a network namespace made here (helpers/netns.ts), like test/multicast.test.ts.
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs'
import * as http from 'node:http'
import * as os from 'node:os'
import * as path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CoapClient, CoapServer } from '../dist/index.js'
import { native } from '../dist/native.js'
import { makePki, type Pki } from './helpers/certs'
import { coapClient, freePort, startCoapServer, COAP_SERVER_BANNER } from './helpers/peers'
import { netnsSupport, runInNetns } from './helpers/netns'

const ROOT = path.resolve(__dirname, '..')
const SOURCES = path.join(ROOT, 'examples')
const BUILT = path.join(ROOT, 'dist', 'examples')

// Examples that have a test below (registered when the file is collected, so the coverage check
// does not depend on which tests ran first or were filtered).
const covered = new Set<string>()
function example(name: string): string {
  covered.add(name)
  return name
}

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

// Children still running when a test ends are killed (SIGKILL) in afterEach.
const children = new Set<ChildProcess>()
const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
  for (const child of children) child.kill('SIGKILL')
  children.clear()
})

function spawnExample(name: string, args: string[]): ChildProcess {
  const file = path.join(BUILT, `${name}.js`)
  const child = spawn(process.execPath, [file, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

function collect(child: ChildProcess, timeoutMs: number): Promise<Run> {
  const started = Date.now()
  return new Promise((resolve) => {
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
  })
}

/** Runs an example to its end (killed after `timeoutMs`). */
function run(name: string, args: string[] = [], timeoutMs = 15_000): Promise<Run> {
  return collect(spawnExample(name, args), timeoutMs)
}

/** An example that keeps running (a server): started, and ready once its output matches `ready`. */
interface Running {
  match: RegExpMatchArray
  output: () => string
  /** Sends `signal` (default SIGINT) and waits for the exit (bounded: SIGKILL after 5 s). */
  stop: (signal?: NodeJS.Signals) => Promise<Run>
}

async function start(name: string, args: string[], ready: RegExp): Promise<Running> {
  const child = spawnExample(name, args)
  const done = collect(child, 60_000)
  let out = ''
  child.stdout!.on('data', (d: string) => (out += d))
  child.stderr!.on('data', (d: string) => (out += d))
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready within 10 s: ${out}`)), 10_000)
    const check = (): void => {
      const m = ready.exec(out)
      if (m) {
        clearTimeout(timer)
        child.stdout!.off('data', check)
        resolve(m)
      }
    }
    child.stdout!.on('data', check)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited (${code}) before it was ready: ${out}`))
    })
  })
  return {
    match,
    output: () => out,
    stop: async (signal = 'SIGINT') => {
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000)
      child.kill(signal)
      const result = await done
      clearTimeout(killer)
      return result
    },
  }
}

/** Expects a clean exit: code 0, nothing on stderr. */
function expectClean(r: Run): void {
  expect(r.stderr, r.stdout).toBe('')
  expect(r.signal, r.stdout).toBeNull()
  expect(r.code, r.stdout).toBe(0)
}

let pki: Pki
beforeAll(async () => {
  pki = await makePki()
})
afterAll(() => pki?.cleanup())

describe('examples/', () => {
  it('every example has a test here, a built .js, a run line in its header and a README row', () => {
    const sources = fs.readdirSync(SOURCES).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).map((f) => f.slice(0, -3)).sort()
    expect(sources.length).toBeGreaterThan(0)
    expect(sources.filter((s) => !covered.has(s)), 'examples without a test in test/examples.test.ts').toEqual([])
    expect([...covered].filter((c) => !sources.includes(c)), 'tests for examples that no longer exist').toEqual([])
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
    for (const name of sources) {
      expect(fs.existsSync(path.join(BUILT, `${name}.js`)), `dist/examples/${name}.js (npm run build:ts)`).toBe(true)
      expect(fs.readFileSync(path.join(SOURCES, `${name}.ts`), 'utf8'), `${name}.ts says how to run it`).toContain(`node dist/examples/${name}.js`)
      expect(readme, `README.md's Examples table lists ${name}`).toContain(`[\`${name}.ts\`](examples/${name}.ts)`)
    }
  })
})

describe('UDP', () => {
  it(example('udp-client-server'), async () => {
    const r = await run('udp-client-server')
    expectClean(r)
    expect(r.stdout).toMatch(/^server on coap:\/\/127\.0\.0\.1:\d+$/m)
    for (const line of [
      'PUT /mode fast -> 2.04 ACK',
      'GET /mode -> 2.05 ACK fast',
      'GET /mode (NON) -> 2.05 NON fast',
      'POST /items (Location-Path items/lamp) -> 2.01 ACK',
      'GET /items?prefix=l -> 2.05 ACK ["lamp"]',
      'DELETE /items -> 2.02 ACK',
      'GET /nothing-here -> 4.04 ACK Not Found',
      'GET /slow -> 2.05 CON worth the wait', // a separate response
    ]) expect(r.stdout).toContain(`${line}\n`)
  })

  it(`${example('udp-client-server')} on a listen URL from argv (IPv6)`, async () => {
    const port = await freePort()
    const r = await run('udp-client-server', [`coap://[::1]:${port}`])
    expectClean(r)
    expect(r.stdout).toContain(`server on coap://[::1]:${port}\n`)
    expect(r.stdout).toContain('GET /slow -> 2.05 CON worth the wait\n')
  })

  it(`${example('discover')} lists coap-server's resources, and filters by rt`, async () => {
    const peer = await startCoapServer()
    cleanups.push(() => peer.stop())
    const all = await run('discover', [`coap://127.0.0.1:${peer.port}`])
    expectClean(all)
    const hrefs = all.stdout.split('\n').filter((l) => l.startsWith('/')).map((l) => l.split(' ')[0])
    expect(hrefs).toEqual(expect.arrayContaining(['/', '/time', '/async', '/example_data']))
    const ticks = await run('discover', [`coap://127.0.0.1:${peer.port}`, 'rt=ticks'])
    expectClean(ticks)
    expect(ticks.stdout.split('\n').filter((l) => l.startsWith('/')).map((l) => l.split(' ')[0])).toEqual(['/time'])
    expect(ticks.stdout).toContain("rt: 'ticks'")
  })

  it(`${example('discover')} fails with exit code 1 and the error code when nobody answers`, async () => {
    const port = await freePort()
    const r = await run('discover', [`coap://127.0.0.1:${port}`])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^ERR_COAP_CONNECTION: /)
  })

  it(`${example('observe')} follows five notifications and exits`, async () => {
    const r = await run('observe')
    expectClean(r)
    const lines = r.stdout.trim().split('\n')
    expect(lines).toHaveLength(5)
    const seq = lines.map((l) => {
      const m = /^temp = (-?\d+\.\d) \(Observe (\d+)\)$/.exec(l)
      expect(m, l).not.toBeNull()
      return Number(m![2])
    })
    for (let i = 1; i < seq.length; i++) expect(seq[i]).toBeGreaterThan(seq[i - 1]!)
  })

  it(`${example('large-upload')}: 4 MiB up and down block-wise, 6 MiB refused with 4.13`, async () => {
    const r = await run('large-upload', [], 30_000)
    expectClean(r)
    expect(r.stdout).toContain('-> 2.04\n')
    expect(r.stdout).toContain('upload 100% (4194304 of 4194304 bytes)')
    expect(r.stdout).toContain('download 100% (4194304 of 4194304 bytes)')
    expect(r.stdout).toContain('-> 2.05, 4194304 bytes, identical: true\n')
    expect(r.stdout).toContain('6 MiB upload -> 4.13 (the server takes at most 5242880 bytes)\n')
  })
})

describe('the lab alarm', () => {
  it(`${example('alarm-server')} + ${example('alarm-client')}: PUT/GET, DTLS-PSK with coap-client, observe, bad input, SIGINT`, async () => {
    const server = await start('alarm-server', ['coap://127.0.0.1:0', 'coaps://127.0.0.1:0'], /coap:\/\/127\.0\.0\.1:(\d+)\n.*coaps:\/\/127\.0\.0\.1:(\d+)\n/s)
    const [, port, dtlsPort] = server.match
    const url = `coap://127.0.0.1:${port}/alarm`

    // An observer (our client, in this process) hears the changes the alarm-client makes.
    const observer = new CoapClient({ timeout: 5000 })
    cleanups.push(() => observer.close())
    const seen: string[] = []
    const observing = (async () => {
      for await (const n of observer.observe(url)) {
        seen.push(n.text())
        if (seen.length === 3) break
      }
    })()
    for (let i = 0; i < 50 && seen.length === 0; i++) await sleep(20)
    expect(seen).toEqual(['OFF'])

    const on = await run('alarm-client', [url, 'ON'])
    expectClean(on)
    expect(on.stdout).toBe(`PUT ${url} ON -> 2.04\nGET ${url} -> 2.05 ON\n`)
    const psk = await coapClient(['-B', '5', '-u', 'demo', '-k', 'demo-secret', '-m', 'get', `coaps://127.0.0.1:${dtlsPort}/alarm`])
    expect(psk.stdout.trim(), psk.stderr).toBe('ON')
    const off = await run('alarm-client', [url, 'off'])
    expectClean(off)
    expect(off.stdout).toContain(`GET ${url} -> 2.05 OFF\n`)
    await observing
    expect(seen).toEqual(['OFF', 'ON', 'OFF'])

    // Not a state: 4.00, and alarm-client says so with exit code 1.
    const bad = await run('alarm-client', [url, 'BLUE'])
    expect(bad.code).toBe(1)
    expect(bad.stdout).toBe(`PUT ${url} BLUE -> 4.00\nGET ${url} -> 2.05 OFF\n`)
    expect(server.output()).toMatch(/alarm ON \(set by 127\.0\.0\.1:\d+\)\n/)

    const stopped = await server.stop('SIGINT')
    expect(stopped.code).toBe(0)
    expect(stopped.stdout).toMatch(/closed\n$/)
    expect(stopped.stderr).toBe('')
  })

  it(`${example('alarm-client')} against the lab demo (npm start, lib/demo) as README.md shows, and against nobody`, async () => {
    const [port, dtlsPort] = [await freePort(), await freePort()]
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/demo/server.js'), '--host', '127.0.0.1', '--port', String(port), '--dtls-port', String(dtlsPort)], { stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    await new Promise<void>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error(`demo not ready: ${out}`)), 10_000)
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d
        if (out.includes('listening')) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    const r = await run('alarm-client', [`coap://127.0.0.1:${port}/alarm`, 'OFF'])
    expectClean(r)
    expect(r.stdout).toContain('-> 2.05 OFF\n')

    const dead = await run('alarm-client', [`coap://127.0.0.1:${await freePort()}/alarm`, 'ON'])
    expect(dead.code).toBe(1)
    expect(dead.stderr).toMatch(/^ERR_COAP_CONNECTION: /)
  })
})

describe('DTLS', () => {
  it(`${example('dtls-psk-server')} + ${example('dtls-psk-client')}, and coap-client; an unknown identity is refused; SIGINT`, async () => {
    const server = await start('dtls-psk-server', ['coaps://127.0.0.1:0'], /DTLS-PSK server on coaps:\/\/127\.0\.0\.1:(\d+)\n/)
    const base = `coaps://127.0.0.1:${server.match[1]}`
    const ours = await run('dtls-psk-client', [`${base}/whoami`, 'dev1', 'secret-1'])
    expectClean(ours)
    expect(ours.stdout).toBe('server hint: example-gw\n2.05 you are dev1\n')
    const theirs = await coapClient(['-B', '5', '-u', 'dev2', '-k', 'secret-2', '-m', 'get', `${base}/whoami`])
    expect(theirs.stdout.trim(), theirs.stderr).toBe('you are dev2')
    const stranger = await run('dtls-psk-client', [`${base}/whoami`, 'dev9', 'secret-1'])
    expect(stranger.code).toBe(1)
    expect(stranger.stderr).toMatch(/^ERR_COAP_DTLS_HANDSHAKE: .*unknown PSK identity/)
    expect(server.output()).toMatch(/connected as dev1\n/)
    expect(server.output()).toMatch(/connected as dev2\n/)
    const stopped = await server.stop('SIGINT')
    expect(stopped.code).toBe(0)
    expect(stopped.stderr).toBe('')
  })

  it(`${example('dtls-psk-client')} against libcoap's coap-server -k`, async () => {
    const peer = await startCoapServer(['-k', 'example-key', '-h', 'their-hint'])
    cleanups.push(() => peer.stop())
    const r = await run('dtls-psk-client', [`coaps://127.0.0.1:${peer.port + 1}/`, 'anyone', 'example-key'])
    expectClean(r)
    expect(r.stdout).toMatch(/^server hint: their-hint\n2\.05 /)
    expect(r.stdout.slice(r.stdout.indexOf('2.05 ') + 5)).toMatch(COAP_SERVER_BANNER)
  })

  it(`${example('dtls-pki-server')} with certificates made by the openssl commands in its header; ${example('dtls-pki-client')} and coap-client`, async () => {
    // The header's commands, run as written (continuation lines joined), so they cannot rot.
    const header = fs.readFileSync(path.join(SOURCES, 'dtls-pki-server.ts'), 'utf8').split('*/')[0]!
    const commands = header
      .split('\n')
      .map((l) => l.replace(/^ \* ?/, ''))
      .join('\n')
      .replace(/\\\n\s*/g, '')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^(openssl|printf) /.test(l))
    expect(commands.length).toBeGreaterThanOrEqual(5)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libcoap-example-pki-'))
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
    for (const cmd of commands) {
      await new Promise<void>((resolve, reject) => {
        execFile('sh', ['-c', cmd], { cwd: dir, timeout: 15_000 }, (err, _out, stderr) => (err ? reject(new Error(`${cmd}: ${err.message}\n${stderr}`)) : resolve()))
      })
    }
    const f = (name: string): string => path.join(dir, name)

    const server = await start('dtls-pki-server', [f('server.pem'), f('server.key'), f('ca.pem'), 'coaps://127.0.0.1:0'], /DTLS-PKI server on coaps:\/\/127\.0\.0\.1:(\d+)\n/)
    const url = `coaps://127.0.0.1:${server.match[1]}/whoami`
    const ours = await run('dtls-pki-client', [url, f('ca.pem'), f('client.pem'), f('client.key')])
    expectClean(ours)
    expect(ours.stdout).toBe('2.05 you are client1\n')
    const theirs = await coapClient(['-B', '5', '-c', f('client.pem'), '-j', f('client.key'), '-C', f('ca.pem'), '-m', 'get', url])
    expect(theirs.stdout.trim(), theirs.stderr).toBe('you are client1')
    // The server has a CA: a client without a certificate is refused.
    const anonymous = await run('dtls-pki-client', [url, f('ca.pem')])
    expect(anonymous.code).toBe(1)
    expect(anonymous.stderr).toMatch(/^ERR_COAP_DTLS_HANDSHAKE: /)
    expect(server.output()).toMatch(/client certificate: CN=client1\n/)
    const stopped = await server.stop('SIGINT')
    expect(stopped.code).toBe(0)
    expect(stopped.stdout).toMatch(/closed\n$/)
    expect(stopped.stderr).toBe('')
  })

  it(`${example('dtls-pki-client')} against libcoap's coap-server -c -j -C (mutual authentication); usage error without arguments`, async () => {
    const peer = await startCoapServer(['-c', pki.server.cert.path, '-j', pki.server.key.path, '-C', pki.ca.path])
    cleanups.push(() => peer.stop())
    const r = await run('dtls-pki-client', [`coaps://127.0.0.1:${peer.port + 1}/`, pki.ca.path, pki.client.cert.path, pki.client.key.path])
    expectClean(r)
    expect(r.stdout.slice(0, 5)).toBe('2.05 ')
    expect(r.stdout.slice(5)).toMatch(COAP_SERVER_BANNER)
    const usage = await run('dtls-pki-client')
    expect(usage.code).toBe(2)
    expect(usage.stderr).toMatch(/^usage: /)
  })
})

describe('TCP, TLS and WebSockets', () => {
  it(`${example('tcp')}: ping and a 1 MiB PUT over coap+tcp`, async () => {
    const r = await run('tcp')
    expectClean(r)
    expect(r.stdout).toMatch(/^server: tcp session from 127\.0\.0\.1:\d+$/m)
    expect(r.stdout).toMatch(/^ping: \d+\.\d\d ms$/m)
    expect(r.stdout).toContain('2.04 got 1048576 bytes\n')
  })

  it(`${example('websocket')}: PUT then GET over coap+ws`, async () => {
    const r = await run('websocket')
    expectClean(r)
    expect(r.stdout).toMatch(/^2\.05 ON \(over coap\+ws:\/\/127\.0\.0\.1:\d+\/alarm\)\n$/)
  })

  for (const mode of ['pre-shared key', 'certificates'] as const) {
    it(`${example('tls')} with ${mode}: coaps+tcp and coaps+ws`, async () => {
      const args = mode === 'certificates' ? [pki.server.cert.path, pki.server.key.path, pki.ca.path] : []
      const r = await run('tls', args)
      expectClean(r)
      expect(r.stdout).toContain(`security: ${mode}\n`)
      for (const [scheme, proto] of [['coaps+tcp', 'tls'], ['coaps+ws', 'wss']] as const) {
        expect(r.stdout).toMatch(new RegExp(`^server: ${proto} session from 127\\.0\\.0\\.1:\\d+$`, 'm'))
        expect(r.stdout).toMatch(new RegExp(`^${scheme.replace('+', '\\+')}://127\\.0\\.0\\.1:\\d+: ping \\d+\\.\\d\\d ms$`, 'm'))
        expect(r.stdout).toMatch(new RegExp(`: PUT -> 2\\.04 stored 100000 bytes over ${proto}\\n`))
      }
      expect(r.stdout.match(/GET -> 2\.05 100000 bytes\n/g)).toHaveLength(2)
    })
  }
})

describe('multicast', () => {
  it(`${example('multicast')}: one member answers NON for IPv4 and IPv6 groups on lo (in a network namespace); errors are suppressed`, async () => {
    const support = await netnsSupport('single')
    // Never skipped: a machine that cannot make namespaces fails with the reason.
    if (!support.ok) throw new Error(`the multicast example's test needs a network namespace: ${support.reason}`)
    const script = path.join(BUILT, 'multicast.js')
    const [v4, v6] = await Promise.all([
      runInNetns(script, ['224.0.1.187', 'lo'], { timeoutMs: 15_000, cwd: ROOT }),
      runInNetns(script, ['ff02::fd', 'lo', '5690'], { timeoutMs: 15_000, cwd: ROOT }),
    ])
    for (const [r, group, from] of [[v4, '224.0.1.187%lo on port 5683', '127.0.0.1:5683'], [v6, 'ff02::fd%lo on port 5690', '[::1]:5690']] as const) {
      expect(r.stderr, r.stdout).toBe('')
      expect(r.code, r.stdout).toBe(0)
      expect(r.stdout).toContain(`member of ${group}\n`)
      expect(r.stdout).toContain(`GET /.well-known/core?rt=temperature-c: ${from} answered 2.05 NON </sensors/temp>;title="Temperature";rt="temperature-c"\n`)
      expect(r.stdout).toContain(`GET /sensors/temp: ${from} answered 2.05 NON 21.5 C (asked by NON)\n`)
      expect(r.stdout).toContain('GET /sensors/temp: 1 answer(s)\n')
      expect(r.stdout).toContain('GET /no-such-resource: 0 answer(s)\n')
    }
  })
})

describe('observability and node-coap compatibility', () => {
  it(`${example('request-log')}: one log line per request from diagnostics_channel, handshakes too`, async () => {
    // onLog needs the addon's log hook (native/log.cc): an addon built before it cannot run this.
    if (typeof (native as { setLogHook?: unknown }).setLogHook !== 'function') throw new Error('the built addon predates native/log.cc (no setLogHook): run `npm run build:addon`')
    const r = await run('request-log')
    expectClean(r)
    const url = String.raw`coaps?://127\.0\.0\.1:\d+`
    expect(r.stdout).toMatch(new RegExp(String.raw`^GET ${url}/hello -> 2\.05 in \d+\.\d ms$`, 'm'))
    expect(r.stdout).toMatch(new RegExp(String.raw`^GET ${url}/missing -> 4\.04 in \d+\.\d ms$`, 'm'))
    expect(r.stdout).toMatch(/^GET coaps:\/\/127\.0\.0\.1:\d+\/hello -> 2\.05 in \d+\.\d ms$/m)
    expect(r.stdout).toMatch(/^client DTLS handshake with 127\.0\.0\.1:\d+: ok$/m)
    expect(r.stdout).toMatch(/^server DTLS handshake with 127\.0\.0\.1:\d+: ok$/m)
    // A NON PUT to a resource without a PUT handler: 4.05, or nothing within its 300 ms.
    expect(r.stdout).toMatch(/^PUT coap:\/\/127\.0\.0\.1:\d+\/hello -> (4\.05|ERR_COAP_TIMEOUT) in \d+\.\d ms$/m)
  })

  it(`${example('compat-migration')}: the node-coap API answers, observes three ticks, and Node exits by itself`, async () => {
    const r = await run('compat-migration', [String(await freePort())])
    expectClean(r)
    const lines = r.stdout.trim().split('\n')
    expect(lines[0]).toBe('Hello Matteo')
    expect(lines.slice(1)).toHaveLength(3)
    for (const l of lines.slice(1)) expect(l).toMatch(/^tick \d{4}-\d\d-\d\dT/)
  })
})

describe('HTTP→CoAP gateway', () => {
  // Our CoAP server, in this process, with an answer for each mapping.
  async function coapServer(): Promise<{ base: string; server: CoapServer }> {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    let state = 'idle'
    server
      .resource('/state')
      .get(() => ({ payload: JSON.stringify({ state }), contentFormat: 'application/json', options: { ETag: Buffer.from([1, 2, 3]), 'Max-Age': 30 } }))
      .put((req) => {
        if (req.contentFormat !== 0) return { code: '4.15' }
        state = req.text()
        return { code: '2.04' }
      })
      .post((req) => ({ code: '2.01', options: { 'Location-Path': ['state', 'v2'], 'Location-Query': [`len=${req.payload.length}`] } }))
      .delete(() => ({ code: '2.02' }))
      .patch(() => ({ code: '2.04', payload: 'patched' }))
    server.resource('/echo').put((req) => ({ payload: req.payload, contentFormat: req.contentFormat ?? 42 })).get((req) => `accept=${req.accept ?? '-'} q=${req.query.join('&')}`)
    server.resource('/busy').get(() => ({ code: '5.03', payload: 'try later', options: { 'Max-Age': 5 } }))
    server.resource('/forbidden').get(() => ({ code: '4.01' }))
    server.resource('/broken').get(() => {
      throw new Error('handler bug (expected by the test)')
    })
    server.on('error', () => undefined)
    server.resource('/slow').get(async () => {
      await sleep(3000)
      return 'late'
    })
    server.resource('/bit-slow').get(async () => {
      await sleep(700)
      return 'worth it'
    })
    const [ep] = await server.listen()
    return { base: `127.0.0.1:${ep!.port}`, server }
  }

  async function gateway(): Promise<{ http: string; gw: Running }> {
    const gw = await start('http-gateway', ['--port', '0', '--timeout', '1500', '--max-body', '1000'], /gateway on (http:\/\/127\.0\.0\.1:\d+)\n/)
    return { http: gw.match[1]!, gw }
  }

  it(`${example('http-gateway')}: methods, status codes, Content-Format ↔ Content-Type, ETag, Max-Age, Location, query`, async () => {
    const [{ base }, { http: gw }] = await Promise.all([coapServer(), gateway()])
    const at = (p: string): string => `${gw}/coap/${base}${p}`

    let res = await fetch(at('/state'))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.headers.get('etag')).toBe('"010203"')
    expect(res.headers.get('cache-control')).toBe('max-age=30')
    expect(await res.json()).toEqual({ state: 'idle' })

    res = await fetch(at('/state'), { method: 'PUT', body: 'running', headers: { 'Content-Type': 'text/plain; charset=utf-8' } })
    expect(res.status).toBe(204) // 2.04 without a body
    expect(await res.text()).toBe('')
    expect((await (await fetch(at('/state'))).json())).toEqual({ state: 'running' })
    // No Content-Type: no Content-Format; the server says 4.15 → 415.
    res = await fetch(at('/state'), { method: 'PUT', body: Buffer.from([1, 2]) })
    expect(res.status).toBe(415)

    res = await fetch(at('/state'), { method: 'POST', body: 'abc', headers: { 'Content-Type': 'text/plain' } })
    expect(res.status).toBe(201)
    expect(res.headers.get('location')).toBe(`/coap/${base}/state/v2?len=3`)
    res = await fetch(`${gw}/?url=${encodeURIComponent(`coap://${base}/state`)}`, { method: 'POST' })
    expect(res.status).toBe(201)
    expect(res.headers.get('location')).toBe(`/?url=${encodeURIComponent(`coap://${base}/state/v2?len=0`)}`)

    res = await fetch(at('/state'), { method: 'DELETE' })
    expect(res.status).toBe(204) // 2.02 without a body
    res = await fetch(at('/state'), { method: 'PATCH', body: '{}', headers: { 'Content-Type': 'application/merge-patch+json' } })
    expect(res.status).toBe(200) // 2.04 with a body
    expect(await res.text()).toBe('patched')

    // Binary in, binary out; a query and a single Accept type are passed on.
    res = await fetch(at('/echo'), { method: 'PUT', body: Buffer.from([0, 255, 7]), headers: { 'Content-Type': 'application/octet-stream' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/octet-stream')
    expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.from([0, 255, 7]))
    res = await fetch(`${at('/echo')}?a=1&b=x%20y`, { headers: { Accept: 'text/plain' } })
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(await res.text()).toBe('accept=0 q=a=1&b=x y')
    res = await fetch(at('/echo'), { headers: { Accept: 'text/html,*/*' } })
    expect(await res.text()).toBe('accept=- q=')

    // Errors of the CoAP server, with their diagnostic payloads.
    const statuses: Record<string, number> = { '/nothing': 404, '/busy': 503, '/forbidden': 403, '/broken': 500 }
    for (const [p, status] of Object.entries(statuses)) {
      res = await fetch(at(p))
      expect(res.status, p).toBe(status)
      await res.arrayBuffer()
    }
    res = await fetch(at('/busy'))
    expect(res.headers.get('cache-control')).toBe('max-age=5')
    expect(await res.text()).toBe('try later')
    res = await fetch(at('/echo'), { method: 'POST', body: 'x', headers: { 'Content-Type': 'text/plain' } })
    expect(res.status).toBe(405) // 4.05 from libcoap: no POST handler
    await res.arrayBuffer()
  })

  it(`${example('http-gateway')}: gateway errors — 504, 502, 413, 415, 405, 404 — and libcoap's coap-server behind it`, async () => {
    const [{ base }, { http: gw }, peer] = await Promise.all([coapServer(), gateway(), startCoapServer()])
    cleanups.push(() => peer.stop())
    // A real libcoap peer, over UDP and TCP (coap-server listens on both).
    let res = await fetch(`${gw}/coap/127.0.0.1:${peer.port}/`)
    expect(res.status).toBe(200)
    expect(await res.text()).toMatch(COAP_SERVER_BANNER)
    res = await fetch(`${gw}/coap+tcp/127.0.0.1:${peer.port}/time?ticks`)
    expect(res.status).toBe(200)
    expect(Number(await res.text())).toBeGreaterThan(1_600_000_000)
    res = await fetch(`${gw}/?url=${encodeURIComponent(`coap://127.0.0.1:${peer.port}/example_data`)}`)
    expect(res.status).toBe(502) // its 1500 bytes are over --max-body (1000 bytes)
    expect(await res.text()).toMatch(/^ERR_COAP_TOO_LARGE: /)

    // No answer within --timeout (1500 ms): 504.
    const t0 = Date.now()
    res = await fetch(`${gw}/coap/${base}/slow`)
    expect(res.status).toBe(504)
    expect(await res.text()).toMatch(/^ERR_COAP_TIMEOUT: /)
    expect(Date.now() - t0).toBeLessThan(3000)
    // Nobody there: 502.
    const closed = await freePort('tcp')
    res = await fetch(`${gw}/coap+tcp/127.0.0.1:${closed}/x`)
    expect(res.status).toBe(502)
    expect(await res.text()).toMatch(/^ERR_COAP_CONNECTION: /)

    // Bodies over --max-body: 413, whether announced (Content-Length) or chunked.
    res = await fetch(`${gw}/coap/${base}/echo`, { method: 'PUT', body: 'x'.repeat(1001), headers: { 'Content-Type': 'text/plain' } })
    expect(res.status).toBe(413)
    await res.arrayBuffer()
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${gw}/coap/${base}/echo`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } }, (r) => {
        r.resume()
        resolve(r.statusCode!)
      })
      req.on('error', reject)
      req.write('y'.repeat(600))
      req.end('y'.repeat(600))
    })
    expect(chunked).toBe(413)
    res = await fetch(`${gw}/coap/${base}/echo`, { method: 'PUT', body: 'x'.repeat(1000), headers: { 'Content-Type': 'text/plain' } })
    expect(res.status).toBe(200) // exactly the limit is fine

    res = await fetch(`${gw}/coap/${base}/echo`, { method: 'PUT', body: '<a/>', headers: { 'Content-Type': 'text/html' } })
    expect(res.status).toBe(415)
    await res.arrayBuffer()
    res = await fetch(`${gw}/coap/${base}/echo`, { method: 'OPTIONS' })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('GET, POST, PUT, DELETE, PATCH')
    await res.arrayBuffer()
    for (const p of ['/', '/nope/127.0.0.1/x', '/coap/']) {
      res = await fetch(`${gw}${p}`)
      expect(res.status, p).toBe(404)
      await res.arrayBuffer()
    }
    res = await fetch(`${gw}/?url=${encodeURIComponent('coaps://127.0.0.1/x')}`)
    expect(res.status).toBe(400)
    await res.arrayBuffer()
    res = await fetch(`${gw}/?url=${encodeURIComponent('coap://user@127.0.0.1/x')}`)
    expect(res.status).toBe(400)
    await res.arrayBuffer()
  })

  it(`${example('http-gateway')}: SIGINT lets a request in flight finish, then exits`, async () => {
    const [{ base }, { http: gw, gw: proc }] = await Promise.all([coapServer(), gateway()])
    const inFlight = fetch(`${gw}/coap/${base}/bit-slow`)
    await sleep(200)
    const stopping = proc.stop('SIGINT')
    const res = await inFlight
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('worth it')
    const stopped = await stopping
    expect(stopped.stderr).toBe('')
    expect(stopped.code).toBe(0)
    expect(stopped.stdout).toMatch(/GET \/coap\/\S+\/bit-slow coap:\/\/\S+ -> 2\.05 -> 200 \(\d+ ms\)\nclosed\n$/)
    expect(stopped.ms).toBeLessThan(1500)
  })
})
