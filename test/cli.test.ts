// The `libcoap` command line tool (lib/cli, bin `libcoap` → dist/cli/main.js), run for real as
// child processes: against libcoap's own coap-server (UDP, TCP, DTLS-PSK), against the tool's own
// `server` command (UDP, DTLS-PSK, TCP, TLS-PSK, WebSockets, TLS/DTLS with certificates), and
// against a CoapServer in this process (5.xx answers, observe notifications). Exit codes are
// checked against the exported table; expected failures must print one line, no stack trace.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import * as dgram from 'node:dgram'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { CoapClient, CoapServer } from '../dist/index.js'
import { ExitCode } from '../dist/cli/exit-codes.js'
import { makePki, type Pki } from './helpers/certs'
import { COAP_SERVER, freePort, startCoapServer } from './helpers/peers'
import { pattern, sleep } from './helpers/bytes'

const ROOT = path.resolve(__dirname, '..')
const MAIN = path.join(ROOT, 'dist/cli/main.js')

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  elapsed: number
}

// Everything started here is stopped in afterEach (children killed, servers and sockets closed).
const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

function track(child: ChildProcess): void {
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        const killer = setTimeout(() => child.kill('SIGKILL'), 2000)
        child.once('exit', () => {
          clearTimeout(killer)
          resolve()
        })
        child.kill('SIGTERM')
      }),
  )
}

/** Runs the tool to completion (killed after `timeoutMs`). */
function cli(args: string[], opts: { timeoutMs?: number; command?: string[]; onSpawn?: (c: ChildProcess) => void } = {}): Promise<Run> {
  const started = Date.now()
  const [cmd, ...pre] = opts.command ?? [process.execPath, MAIN]
  const child = spawn(cmd!, [...pre, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LIBCOAP_LOG_LEVEL: '' } })
  track(child)
  opts.onSpawn?.(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 10_000)
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, elapsed: Date.now() - started })
    })
  })
}

/** An expected failure: the given exit code and exactly one line on stderr, no stack trace. */
function expectFailure(r: Run, code: number, pattern?: RegExp): void {
  expect(r.code, `exit code; stderr: ${r.stderr}`).toBe(code)
  const lines = r.stderr.trimEnd().split('\n')
  expect(lines.filter((l) => !l.startsWith("Try 'libcoap --help'")), r.stderr).toHaveLength(1)
  expect(r.stderr).not.toMatch(/^\s+at /m)
  if (pattern) expect(r.stderr).toMatch(pattern)
}

/** Starts `libcoap server --json …` and returns its listen URLs by scheme. */
async function cliServer(args: string[]): Promise<{ urls: Record<string, string>; child: ChildProcess; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [MAIN, 'server', '--json', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  track(child)
  let out = ''
  let err = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 5000)
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (out.includes('\n')) {
        clearTimeout(timer)
        resolve(out.slice(0, out.indexOf('\n')))
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code}: ${err}`))
    })
  })
  const { listening } = JSON.parse(line) as { listening: string[] }
  const urls: Record<string, string> = {}
  for (const u of listening) urls[u.slice(0, u.indexOf('://'))] = u.replace('[::]', '[::1]').replace('0.0.0.0', '127.0.0.1')
  const stop = () =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) return resolve(child.exitCode)
      child.once('exit', (code) => resolve(code))
      child.kill('SIGTERM')
    })
  return { urls, child, stop }
}

/** libcoap's coap-server on [::1] (the helper in peers.ts binds 127.0.0.1 only). */
async function coapServerV6(): Promise<{ port: number }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort('udp')
    const child = spawn(COAP_SERVER, ['-A', '::1', '-p', String(port)], { stdio: 'ignore' })
    track(child)
    const probe = new CoapClient({ timeout: 300 })
    try {
      for (let i = 0; i < 30; i++) {
        if (child.exitCode !== null) break
        const ok = await probe.get(`coap://[::1]:${port}/`).then((r) => r.ok, () => false)
        if (ok) return { port }
        await sleep(100)
      }
    } finally {
      await probe.close()
    }
    child.kill('SIGKILL')
  }
  throw new Error('coap-server on [::1] did not come up')
}

/** A UDP socket that takes every datagram and never answers. */
async function silentPeer(): Promise<number> {
  const sock = dgram.createSocket('udp4')
  sock.on('message', () => undefined)
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise<void>((resolve) => sock.close(() => resolve())))
  return sock.address().port
}

let pki: Pki
let tmp: string
beforeAll(async () => {
  if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} missing: run \`npm run build:ts\``)
  pki = await makePki()
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'libcoap-cli-'))
})
afterAll(() => {
  pki?.cleanup()
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
})

describe('exit code table', () => {
  it('is exported and distinct', () => {
    expect(ExitCode).toMatchObject({ OK: 0, INTERNAL: 1, USAGE: 2, CLIENT_ERROR: 3, SERVER_ERROR: 4, TIMEOUT: 5, SECURITY: 6, TRANSPORT: 7, INTERRUPTED: 130 })
    expect(new Set(Object.values(ExitCode)).size).toBe(Object.keys(ExitCode).length)
  })
})

describe('bad usage (exit 2)', () => {
  it('rejects mistakes with one line and a hint', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /missing command/],
      [['frobnicate', 'coap://[::1]/'], /unknown command 'frobnicate'/],
      [['get', '--bogus', 'coap://[::1]/'], /--bogus/],
      [['get'], /needs a URL/],
      [['get', 'coap://a/', 'coap://b/'], /one URL/],
      [['get', 'http://[::1]/'], /unsupported scheme/],
      [['put', '-e', 'x', '-f', 'y', 'coap://[::1]/'], /not both/],
      [['get', '-s', '2', 'coap://[::1]/'], /-s\/--duration does not apply to 'get'/],
      [['put', '-m', 'post', 'coap://[::1]/'], /contradicts/],
      [['get', '-t', 'no/such', 'coap://[::1]/'], /unknown media type/],
      [['get', '-B', 'soon', 'coap://[::1]/'], /-B\/--wait/],
      [['get', 'coaps://[::1]/'], /needs credentials/],
      [['put', '-f', '/nonexistent/file', 'coap://[::1]/'], /cannot read/],
      [['get', '-O', 'nocomma', 'coap://[::1]/'], /NUM,TEXT/],
      [['server', 'coap://[::1]/'], /takes no URL/],
    ]
    const runs = await Promise.all(cases.map(([args]) => cli(args)))
    runs.forEach((r, i) => {
      expect(r.code, `${cases[i]![0].join(' ')}: ${r.stderr}`).toBe(ExitCode.USAGE)
      expect(r.stderr, cases[i]![0].join(' ')).toMatch(cases[i]![1])
      expect(r.stderr).toMatch(/Try 'libcoap --help'/)
      expect(r.stderr).not.toMatch(/^\s+at /m)
      expect(r.stdout).toBe('')
    })
  })

  it('--help prints the usage with the flags and exit codes', async () => {
    const r = await cli(['--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^Usage: libcoap <command>/)
    for (const flag of ['-m, --method', '-e, --payload', '-f, --file', '-t, --content-format', '-A, --accept', '-N, --non', '-s, --duration', '-k, --psk-key', '-u, --psk-identity', '-c, --cert', '-j, --key', '-C, --ca', '-B, --wait', '--json', 'Exit codes:']) {
      expect(r.stdout).toContain(flag)
    }
  })

  it('--version names libcoap', async () => {
    const r = await cli(['--version', '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ package: expect.any(String), libcoap: expect.stringMatching(/4\.3\.5/) })
  })
})

describe("against libcoap's coap-server", () => {
  it('get coap://[::1]:PORT/time prints the time (also through the package bin with npx)', async () => {
    const { port } = await coapServerV6()
    const r = await cli(['get', `coap://[::1]:${port}/time`])
    expect(r.code, r.stderr).toBe(ExitCode.OK)
    expect(r.stdout).toMatch(/^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d\n$/)
    expect(r.stderr).toBe('')
    const viaNpx = await cli(['--no-install', 'libcoap', 'get', `coap://[::1]:${port}/time`], { command: ['npx'], timeoutMs: 20_000 })
    expect(viaNpx.code, viaNpx.stderr).toBe(ExitCode.OK)
    expect(viaNpx.stdout).toMatch(/^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d\n$/)
  })

  it('4.04 exits 3; --json; coap+tcp; discover; observe -s 2; block-wise upload and download with -f, -o and --progress', async () => {
    const server = await startCoapServer()
    cleanups.push(() => server.stop())
    const big = pattern(5000, 7).toString('base64').slice(0, 5000)
    const bodyFile = path.join(tmp, 'body.txt')
    const outFile = path.join(tmp, 'out.txt')
    fs.writeFileSync(bodyFile, big)
    const [notFound, json, tcp, discover, observe, upload, observeMissing] = await Promise.all([
      cli(['get', server.url('/nothing')]),
      cli(['get', '--json', server.url('/time')]),
      cli(['get', server.url('/time').replace('coap://', 'coap+tcp://')]),
      cli(['discover', server.url('/')]),
      cli(['observe', '-s', '2', '--json', server.url('/time')]),
      cli(['put', '-f', bodyFile, '-t', 'text', '-b', '256', '--progress', server.url('/example_data')]),
      cli(['observe', '-s', '2', server.url('/nothing')]),
    ])
    expectFailure(observeMissing, ExitCode.CLIENT_ERROR, /^4\.04 Not Found\n$/)
    expectFailure(notFound, ExitCode.CLIENT_ERROR, /^4\.04 Not Found\n$/)
    expect(notFound.stdout).toBe('')

    expect(json.code, json.stderr).toBe(ExitCode.OK)
    const res = JSON.parse(json.stdout)
    expect(res).toMatchObject({ method: 'GET', code: '2.05', reason: 'Content', ok: true, type: 'ACK', contentFormat: 0, mediaType: 'text/plain', encoding: 'utf8' })
    expect(res.payload).toMatch(/^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d$/)
    expect(res.options).toContainEqual({ number: 12, name: 'Content-Format', value: 0 })

    expect(tcp.code, tcp.stderr).toBe(ExitCode.OK)
    expect(tcp.stdout).toMatch(/\d\d:\d\d:\d\d\n$/)

    expect(discover.code, discover.stderr).toBe(ExitCode.OK)
    expect(discover.stdout).toMatch(/^<\/time>;.*;obs$/m)
    expect(discover.stdout).toMatch(/^<\/example_data>;/m)

    expect(observe.code, observe.stderr).toBe(ExitCode.OK)
    const notes = observe.stdout.trim().split('\n').map((l) => JSON.parse(l))
    expect(notes.length).toBeGreaterThanOrEqual(2)
    for (const n of notes) expect(n).toMatchObject({ code: '2.05', observe: expect.any(Number) })
    expect(observe.elapsed).toBeLessThan(5000)

    expect(upload.code, upload.stderr).toBe(ExitCode.OK)
    expect(upload.stderr).toMatch(/^upload: .*\(100%\)$/m)
    const down = await cli(['get', '-b', '256', '--progress', '-o', outFile, server.url('/example_data')])
    expect(down.code, down.stderr).toBe(ExitCode.OK)
    expect(down.stdout).toBe('')
    expect(down.stderr).toMatch(/^download: /m)
    expect(fs.readFileSync(outFile, 'utf8')).toBe(big)
  })

  it('DTLS-PSK: right key 2.05, wrong key a handshake failure (6) within -B', async () => {
    const server = await startCoapServer(['-k', 'cli-secret'])
    cleanups.push(() => server.stop())
    const url = `coaps://127.0.0.1:${server.port + 1}/time`
    const [good, bad] = await Promise.all([
      cli(['get', '-u', 'me', '-k', 'cli-secret', url]),
      cli(['get', '-B', '1.5', '-u', 'me', '-k', '0x0102', url]),
    ])
    expect(good.code, good.stderr).toBe(ExitCode.OK)
    expect(good.stdout).toMatch(/\d\d:\d\d:\d\d\n$/)
    expectFailure(bad, ExitCode.SECURITY, /handshake/)
    expect(bad.elapsed).toBeLessThan(5000)
  })
})

describe("the tool's own server command", () => {
  it('serves the demo over UDP, DTLS-PSK, TCP, TLS-PSK and WebSockets; wrong keys exit 6; SIGTERM exits 0', async () => {
    const server = await cliServer(['-l', 'coap://[::1]:0', '-l', 'coaps://[::1]:0', '-l', 'coap+tcp://[::1]:0', '-l', 'coaps+tcp://[::1]:0', '-l', 'coap+ws://[::1]:0', '-k', 'srv-key', '-u', 'dev1'])
    expect(Object.keys(server.urls).sort()).toEqual(['coap', 'coap+tcp', 'coap+ws', 'coaps', 'coaps+tcp'])
    const psk = ['-u', 'dev1', '-k', 'srv-key']
    const transports: Array<[string, string[]]> = [['coap', []], ['coaps', psk], ['coap+tcp', []], ['coaps+tcp', psk], ['coap+ws', []]]
    await Promise.all(
      transports.map(async ([scheme, creds]) => {
        const base = server.urls[scheme]!
        const put = await cli(['put', ...creds, '-e', `ON-${scheme}`, `${base}/alarm`])
        expect(put.code, `${scheme}: ${put.stderr}`).toBe(ExitCode.OK)
        const ping = await cli(['ping', '--json', ...creds, base])
        expect(ping.code, `${scheme}: ${ping.stderr}`).toBe(ExitCode.OK)
        expect(JSON.parse(ping.stdout)).toMatchObject({ rtt: expect.any(Number) })
        const time = await cli(['get', ...creds, `${base}/time`])
        expect(time.code, `${scheme}: ${time.stderr}`).toBe(ExitCode.OK)
        expect(time.stdout).toMatch(/^\d{4}-\d\d-\d\dT/)
      }),
    )
    const alarm = await cli(['get', server.urls['coap']! + '/alarm'])
    expect(alarm.stdout).toMatch(/^ON-coap[a-z+]*\n$/)
    const [wrongDtls, wrongTls, notAllowed] = await Promise.all([
      cli(['get', '-u', 'intruder', '-k', 'srv-key', '-B', '3', `${server.urls['coaps']}/alarm`]),
      cli(['get', '-u', 'dev1', '-k', 'not-the-key', '-B', '3', `${server.urls['coaps+tcp']}/alarm`]),
      cli(['delete', `${server.urls['coap']}/alarm`]),
    ])
    expectFailure(wrongDtls, ExitCode.SECURITY, /handshake/i)
    expectFailure(wrongTls, ExitCode.SECURITY, /handshake/i)
    expectFailure(notAllowed, ExitCode.CLIENT_ERROR, /^4\.05 Method Not Allowed$/m)
    expect(await server.stop()).toBe(0)
  })

  it('certificates: -c/-j on the server, -C on the client (DTLS, TLS, secure WebSockets); an untrusted CA exits 6', async () => {
    const server = await cliServer(['-l', 'coaps://127.0.0.1:0', '-l', 'coaps+tcp://127.0.0.1:0', '-l', 'coaps+ws://127.0.0.1:0', '-c', pki.server.cert.path, '-j', pki.server.key.path])
    const [dtls, tls, wss, untrusted] = await Promise.all([
      cli(['get', '-C', pki.ca.path, `${server.urls['coaps']}/alarm`]),
      cli(['get', '-C', pki.ca.path, `${server.urls['coaps+tcp']}/alarm`]),
      cli(['get', '-C', pki.ca.path, `${server.urls['coaps+ws']}/alarm`]),
      cli(['get', '-B', '3', '-C', pki.wrongCa.ca.path, `${server.urls['coaps']}/alarm`]),
    ])
    expect(dtls.code, dtls.stderr).toBe(ExitCode.OK)
    expect(dtls.stdout).toBe('OFF\n')
    expect(tls.code, tls.stderr).toBe(ExitCode.OK)
    expect(tls.stdout).toBe('OFF\n')
    expect(wss.code, wss.stderr).toBe(ExitCode.OK)
    expect(wss.stdout).toBe('OFF\n')
    expectFailure(untrusted, ExitCode.SECURITY, /handshake/i)
  })
})

describe('against a CoapServer in this process', () => {
  it('5.xx exits 4, a separate response arrives, observe -s 2 prints notifications, -O and -A reach the server', async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0', separateResponseAfter: 50 })
    cleanups.push(() => server.close())
    server.on('error', () => undefined)
    server.resource('/boom').get(() => {
      throw new Error('handler failed on purpose')
    })
    server.resource('/busy').get(() => ({ code: '5.03', payload: 'try later' }))
    server.resource('/slow').get(async () => {
      await sleep(300)
      return 'late'
    })
    let seen: { accept?: number; query: string[]; custom: unknown[] } | undefined
    server.resource('/echo').post((req) => {
      seen = { accept: req.accept, query: req.query, custom: req.option('Max-Age') }
      return { code: '2.04', payload: Buffer.from([0xff, 0x00, 0x80]), contentFormat: 'application/octet-stream' }
    })
    let n = 0
    const counter = server.resource('/counter', { observable: true }).get(() => String(n))
    const ticker = setInterval(() => {
      n++
      counter.notify()
    }, 250)
    cleanups.push(() => clearInterval(ticker))
    const [ep] = await server.listen()
    const base = `coap://127.0.0.1:${ep!.port}`
    const [boom, busy, slow, observe, echo] = await Promise.all([
      cli(['get', `${base}/boom`]),
      cli(['get', '--json', `${base}/busy`]),
      cli(['get', `${base}/slow`]),
      cli(['observe', '-s', '2', `${base}/counter`]),
      cli(['post', '--json', '-e', '{}', '-t', 'json', '-A', 'cbor', '-O', 'Max-Age,60', '-N', `${base}/echo?x=1`]),
    ])
    expectFailure(boom, ExitCode.SERVER_ERROR, /^5\.00 Internal Server Error/)
    expect(busy.code).toBe(ExitCode.SERVER_ERROR)
    expect(JSON.parse(busy.stdout)).toMatchObject({ code: '5.03', ok: false, payload: 'try later' })
    expect(slow.code, slow.stderr).toBe(ExitCode.OK)
    expect(slow.stdout).toBe('late\n')
    expect(observe.code, observe.stderr).toBe(ExitCode.OK)
    const values = observe.stdout.trim().split('\n').map(Number)
    expect(values.length).toBeGreaterThanOrEqual(3)
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThan(values[i - 1]!)
    expect(echo.code, echo.stderr).toBe(ExitCode.OK)
    expect(JSON.parse(echo.stdout)).toMatchObject({ method: 'POST', code: '2.04', type: 'NON', mediaType: 'application/octet-stream', payload: '/wCA', encoding: 'base64' })
    expect(seen).toEqual({ accept: 60, query: ['x=1'], custom: [60] })
    await sleep(100)
    expect(counter.observers, 'the observation was deregistered').toBe(0)
  })
})

describe('failures', () => {
  it('timeout (a peer that never answers) exits 5, with a --json error object', async () => {
    const port = await silentPeer()
    const [text, json] = await Promise.all([
      cli(['get', '-B', '1', `coap://127.0.0.1:${port}/x`]),
      cli(['get', '-B', '1', '--json', `coap://127.0.0.1:${port}/x`]),
    ])
    expectFailure(text, ExitCode.TIMEOUT, /no response/)
    expect(text.elapsed).toBeLessThan(4000)
    expect(JSON.parse(json.stdout)).toEqual({ error: { code: 'ERR_COAP_TIMEOUT', message: expect.any(String) }, exitCode: ExitCode.TIMEOUT })
  })

  it('connection refused (coap+tcp to a closed port) exits 7', async () => {
    const port = await freePort('tcp')
    const r = await cli(['get', '-B', '3', `coap+tcp://127.0.0.1:${port}/x`])
    expectFailure(r, ExitCode.TRANSPORT)
  })

  it('Ctrl-C while a request waits exits 130; an observation ended by Ctrl-C exits 0', async () => {
    const port = await silentPeer()
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    server.resource('/v', { observable: true }).get(() => 'v')
    const [ep] = await server.listen()
    const interrupted = (args: string[], afterMs: number) =>
      cli(args, {
        onSpawn: (c) => {
          const t = setTimeout(() => c.kill('SIGINT'), afterMs)
          c.once('exit', () => clearTimeout(t))
        },
      })
    const [req, obs] = await Promise.all([
      interrupted(['get', '-B', '20', `coap://127.0.0.1:${port}/x`], 1000),
      interrupted(['observe', `coap://127.0.0.1:${ep!.port}/v`], 1200),
    ])
    expect(req.code, req.stderr).toBe(ExitCode.INTERRUPTED)
    expect(req.elapsed).toBeLessThan(4000)
    expect(obs.code, obs.stderr).toBe(ExitCode.OK)
    expect(obs.stdout).toBe('v\n')
  })
})

