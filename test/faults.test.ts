// Faults (issue 9): a peer that crashes (SIGKILL) mid-exchange and comes back on the same port,
// over UDP, DTLS-PSK and TCP. Requests in flight must settle within a bound with a documented
// CoapError code, never hang; the same client must then recover; a server whose client dies
// mid-exchange keeps serving. The peer that dies always runs in a child process, so the kill is a
// real crash (no close(), no FIN from our code, no DTLS close_notify).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import * as diagnosticsChannel from 'node:diagnostics_channel'
import * as path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { CoapClient, CoapError, CoapServer } from '../dist/index.js'
import { COAP_CLIENT, COAP_SERVER, freePort } from './helpers/peers'

const HOST = '127.0.0.1'
const PSK = { identity: 'faults', key: 'faults-key' }
// Every code README's Errors table documents; anything else is a bug.
const DOCUMENTED = [
  'ERR_COAP_TIMEOUT', 'ERR_COAP_RESET', 'ERR_COAP_CONNECTION', 'ERR_COAP_CLOSED', 'ERR_COAP_ABORTED',
  'ERR_COAP_INVALID_URI', 'ERR_COAP_LISTEN', 'ERR_COAP_SEND', 'ERR_COAP_DTLS_HANDSHAKE', 'ERR_COAP_TLS',
  'ERR_COAP_BAD_RESPONSE', 'ERR_COAP_TOO_LARGE',
]
const REQUEST_TIMEOUT = 2500
// Slack over the request timeout for "settled in bounded time": timers, not retransmissions.
const SETTLE_SLACK = 2000

type Transport = 'udp' | 'dtls' | 'tcp'
const SCHEME: Record<Transport, string> = { udp: 'coap', dtls: 'coaps', tcp: 'coap+tcp' }
// After a crash nothing is sent to a UDP/DTLS peer that already ACKed (the client just waits for
// the separate response), so only the timeout can end those requests. A TCP client sees the
// kernel close the dead process's connection.
const EXPECTED_CODE: Record<Transport, string> = { udp: 'ERR_COAP_TIMEOUT', dtls: 'ERR_COAP_TIMEOUT', tcp: 'ERR_COAP_CONNECTION' }

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

interface Child {
  proc: ChildProcess
  out: () => string
  /** Resolves once stdout matched `re` `count` times; rejects after `ms`. */
  waitFor: (re: RegExp, count?: number, ms?: number) => Promise<void>
  kill: () => Promise<void>
}

function launch(file: string, args: string[]): Child {
  const proc = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } })
  let out = ''
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d))
  const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  const kill = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    await Promise.race([gone, sleep(3000)])
  }
  cleanups.push(kill)
  const waitFor = async (re: RegExp, count = 1, ms = 5000): Promise<void> => {
    const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g')
    const deadline = Date.now() + ms
    while ((out.match(g)?.length ?? 0) < count) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${path.basename(file)} exited early:\n${out}`)
      if (Date.now() > deadline) throw new Error(`${path.basename(file)}: no ${count}× ${re} within ${ms} ms; output:\n${out}`)
      await sleep(20)
    }
  }
  return { proc, out: () => out, waitFor, kill }
}

/** Our CoapServer in a child process (test/helpers/crash-server.mjs). */
async function ourServer(t: Transport, port: number): Promise<Child> {
  const args = [path.join(__dirname, 'helpers/crash-server.mjs'), `${SCHEME[t]}://${HOST}:${port}`]
  if (t === 'dtls') args.push(PSK.key)
  const c = launch(process.execPath, args)
  await c.waitFor(/^listening \d+$/m)
  return c
}

/**
 * libcoap's coap-server on `base` (UDP and TCP there, DTLS on base+1 with -k). Ready once a plain
 * GET / answers; probed with a throwaway client so the client under test sees no extra traffic.
 */
async function libcoapServer(base: number): Promise<Child> {
  const c = launch(COAP_SERVER, ['-A', HOST, '-p', String(base), '-k', PSK.key])
  const probe = new CoapClient({ timeout: 300 })
  try {
    for (let i = 0; i < 30; i++) {
      if (c.proc.exitCode !== null) break
      const ok = await probe.get(`coap://${HOST}:${base}/`).then((r) => r.code === '2.05', () => false)
      if (ok) return c
      await sleep(100)
    }
  } finally {
    await probe.close()
  }
  throw new Error(`coap-server on ${base} did not come up:\n${c.out()}`)
}

/** Ports where a server for `t` can listen: UDP for udp/dtls, TCP for tcp (and coap-server's base). */
async function portFor(t: Transport): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await freePort(t === 'tcp' ? 'tcp' : 'udp')
    if (p < 65535) return p
  }
  throw new Error('no free port')
}

function clientFor(t: Transport): CoapClient {
  const client = new CoapClient({ timeout: REQUEST_TIMEOUT, ...(t === 'dtls' ? { psk: PSK } : {}) })
  cleanups.push(() => client.close())
  return client
}

interface Outcome { ok: boolean; code: string; ms: number; message: string }

/** Settles `p`, recording how and when; never throws. */
async function outcome(p: Promise<{ code: string }>, started: number): Promise<Outcome> {
  try {
    const res = await p
    return { ok: true, code: res.code, ms: Date.now() - started, message: '' }
  } catch (err) {
    const code = err instanceof CoapError ? err.code : `not a CoapError: ${(err as Error)?.name}`
    return { ok: false, code, ms: Date.now() - started, message: String((err as Error)?.message ?? err) }
  }
}

/** All of `ps`, or an error naming how many were still pending after `ms`: a hang fails, never blocks. */
async function settleWithin<T>(ps: Array<Promise<T>>, ms: number): Promise<T[]> {
  let timer: NodeJS.Timeout | undefined
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`requests still pending ${ms} ms after the crash`)), ms)
  })
  try {
    return await Promise.race([Promise.all(ps), bound])
  } finally {
    clearTimeout(timer)
  }
}

/** The first request after the restart; a bound, not a retry loop, so a slow recovery is seen. */
async function expectRecovers(client: CoapClient, url: string, t: Transport): Promise<number> {
  const started = Date.now()
  const o = await outcome(client.get(url, { timeout: 5000 }), started)
  expect(o, `${t}: the first request after the restart, from the same client`).toMatchObject({ ok: true, code: '2.05' })
  return o.ms
}

/**
 * UDP/TCP: the same client's next request gets 2.05. DTLS: only a fresh client is checked here
 * (the restarted server is fine); the same client's recovery is the known bug tested below.
 */
/** Every request pending on a crashed server fails, in time, with the transport's documented code. */
async function expectCrashOutcomes(pending: Array<Promise<Outcome>>, t: Transport): Promise<void> {
  const outcomes = await settleWithin(pending, REQUEST_TIMEOUT + SETTLE_SLACK)
  for (const o of outcomes) {
    expect(o.ok, `${t}: a request to a crashed server resolved: ${JSON.stringify(o)}`).toBe(false)
    expect(DOCUMENTED, `${t}: ${o.message}`).toContain(o.code)
    expect(o.code, `${t}: ${o.message}`).toBe(EXPECTED_CODE[t])
  }
}

async function recovers(client: CoapClient, url: string, t: Transport): Promise<void> {
  if (t !== 'dtls') return void (await expectRecovers(client, url, t))
  const fresh = clientFor(t)
  await expectRecovers(fresh, url, t)
}

describe.each<Transport>(['udp', 'dtls', 'tcp'])('%s: the server crashes mid-exchange and restarts', (t) => {
  it('our CoapServer (child process): pending requests settle with a documented code, the next one recovers (DTLS: from a new client)', { timeout: 20_000 }, async () => {
    const port = await portFor(t)
    const url = (p: string) => `${SCHEME[t]}://${HOST}:${port}${p}`
    let server = await ourServer(t, port)
    const client = clientFor(t)
    // Opens the session (and does the DTLS handshake / TCP+CSM) before the crash.
    expect((await client.get(url('/hello'))).code).toBe('2.05')

    const started = Date.now()
    const pending = [0, 1, 2].map(() => outcome(client.get(url('/slow')), started))
    await server.waitFor(/^req \/slow$/m, 3)
    // Past separateResponseAfter (500 ms): the empty ACKs have gone out, answers are still due.
    await sleep(800)
    await server.kill()
    await expectCrashOutcomes(pending, t)

    server = await ourServer(t, port)
    await recovers(client, url('/hello'), t)
  })

  it("libcoap's coap-server (/async?3): pending requests settle with a documented code, the next one recovers (DTLS: from a new client)", { timeout: 20_000 }, async () => {
    // coap-server listens for DTLS on base+1; the base must also be free for its UDP/TCP.
    const base = await portFor(t === 'tcp' ? 'tcp' : 'udp')
    const port = t === 'dtls' ? base + 1 : base
    const url = (p: string) => `${SCHEME[t]}://${HOST}:${port}${p}`
    let server = await libcoapServer(base)
    const client = clientFor(t)
    expect((await client.get(url('/'))).code).toBe('2.05')

    const started = Date.now()
    const pending = [0, 1, 2].map(() => outcome(client.get(url('/async?3')), started))
    // coap-server logs nothing per request at its default level; its empty ACK to /async comes at
    // once, so a short wait is past it and well before the 3 s answer.
    await sleep(600)
    await server.kill()
    await expectCrashOutcomes(pending, t)

    server = await libcoapServer(base)
    await recovers(client, url('/'), t)
  })
})

// Found by this file: after a DTLS server loses its state (crash + restart on the same port) it
// silently drops the old session's records, and the client used to keep that session for good
// (every later request ERR_COAP_TIMEOUT). CoapClient now drops a DTLS session on a timeout with
// nothing answered on it since the request went out: that request fails, the next one does a new
// handshake.
describe('dtls: the same client after a server restart', () => {
  it('the request after a timeout does a new handshake and gets 2.05', { timeout: 15_000 }, async () => {
    const port = await portFor('dtls')
    const url = `coaps://${HOST}:${port}/hello`
    let server = await ourServer('dtls', port)
    const client = clientFor('dtls')
    expect((await client.get(url)).code).toBe('2.05')
    await server.kill()
    server = await ourServer('dtls', port)
    const first = await outcome(client.get(url, { timeout: 3000 }), Date.now())
    expect(first).toMatchObject({ ok: false, code: 'ERR_COAP_TIMEOUT' })
    const next = await outcome(client.get(url, { timeout: 3000 }), Date.now())
    expect(next).toMatchObject({ ok: true, code: '2.05' })
  })

  it('the dropped session is released once an observation that still waited on it ends', { timeout: 15_000 }, async () => {
    const port = await portFor('dtls')
    const url = (p: string) => `coaps://${HOST}:${port}${p}`
    let server = await ourServer('dtls', port)
    const client = clientFor('dtls')
    const closed: unknown[] = []
    const onClose = (m: unknown): void => {
      if ((m as { session: { context: unknown } }).session.context === client.context) closed.push(m)
    }
    diagnosticsChannel.subscribe('libcoap:session:close', onClose)
    cleanups.push(() => diagnosticsChannel.unsubscribe('libcoap:session:close', onClose))
    const ctl = new AbortController()
    const values: string[] = []
    const watching = (async () => {
      for await (const res of client.observe(url('/count'), { signal: ctl.signal })) values.push(res.text())
    })().catch((err: unknown) => err)
    for (let i = 0; i < 100 && values.length === 0; i++) await sleep(20)
    expect(values.length, 'no notification before the restart').toBeGreaterThan(0)
    await server.kill()
    server = await ourServer('dtls', port)
    expect(await outcome(client.get(url('/hello'), { timeout: 1500 }), Date.now())).toMatchObject({ ok: false, code: 'ERR_COAP_TIMEOUT' })
    expect(closed, 'released while the observation still waited on it').toHaveLength(0)
    expect((await client.get(url('/hello'), { timeout: 3000 })).code).toBe('2.05')
    ctl.abort()
    expect(await watching).toMatchObject({ code: 'ERR_COAP_ABORTED' })
    for (let i = 0; i < 100 && closed.length === 0; i++) await sleep(20)
    expect(closed, 'the dropped session was never released').toHaveLength(1)
  })
})

describe.each<Transport>(['udp', 'dtls', 'tcp'])('%s: a client crashes mid-exchange', (t) => {
  it("libcoap's coap-client is SIGKILLed while our server handles its request: the server keeps serving", { timeout: 15_000 }, async () => {
    const server = new CoapServer({ listen: `${SCHEME[t]}://${HOST}:0`, ...(t === 'dtls' ? { psk: { key: PSK.key } } : {}) })
    cleanups.push(() => server.close())
    const errors: unknown[] = []
    server.on('error', (err) => errors.push(err))
    let entered = 0
    let finished = 0
    server.resource('/hello').get(() => 'hello')
    server.resource('/slow').get(async () => {
      entered++
      await sleep(1500)
      finished++
      return 'slow'
    })
    const [ep] = await server.listen()
    const url = (p: string) => `${SCHEME[t]}://${HOST}:${ep.port}${p}`
    const closed: string[] = []
    const opened: string[] = []
    server.on('session', (s) => opened.push(String(s.remote)))
    server.on('session-closed', (s) => closed.push(String(s.remote)))

    const args = ['-B', '10', '-m', 'get', ...(t === 'dtls' ? ['-k', PSK.key, '-u', PSK.identity] : []), url('/slow')]
    const victim = launch(COAP_CLIENT, args)
    for (let i = 0; i < 100 && entered === 0; i++) await sleep(20)
    expect(entered, `coap-client's request never reached the handler:\n${victim.out()}`).toBe(1)
    await victim.kill()

    // While the dead client's handler is still running, and after its answer went nowhere.
    const client = clientFor(t)
    expect((await client.get(url('/hello'))).text()).toBe('hello')
    for (let i = 0; i < 100 && finished === 0; i++) await sleep(20)
    expect(finished).toBe(1)
    await sleep(300)
    expect((await client.get(url('/hello'))).text()).toBe('hello')

    if (t === 'tcp') {
      // The dead client's connection and ours: the dead one must be reported gone.
      for (let i = 0; i < 100 && closed.length === 0; i++) await sleep(50)
      expect(closed.length, `no 'session-closed' for the killed TCP client (sessions: ${opened.join(',')})`).toBeGreaterThanOrEqual(1)
    }
    expect(errors, 'handler errors from answering a dead client').toEqual([])
  })
})

// netem (loss/duplication/reordering/delay on a veth link in a namespace of our own). Probed once:
// the kernel must offer the netem qdisc and we must be able to make a namespace with a veth pair.
function netemSupport(): { ok: boolean; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `netem needs Linux, not ${process.platform}` }
  const asRoot = process.getuid?.() === 0
  const r = spawnSync('unshare', [...(asRoot ? ['-n'] : ['-r', '-n']), '--', 'sh', '-c',
    'ip link add name fa0 type veth peer name fa1 && ip link set fa0 up && tc qdisc add dev fa0 root netem loss 30% duplicate 5% reorder 10% delay 20ms 10ms'],
  { encoding: 'utf8', timeout: 10_000 })
  if (r.error) return { ok: false, reason: `unshare/ip/tc could not run: ${r.error.message}` }
  if (r.status !== 0) return { ok: false, reason: `\`tc qdisc add … netem\` in a fresh namespace failed (exit ${r.status}${asRoot ? ', as root' : ', not root'}): ${(r.stderr || r.stdout).trim()}` }
  return { ok: true, reason: '' }
}
const NETEM = netemSupport()

describe('netem: 30 % loss, duplication, reordering and delay on a veth link', () => {
  if (!NETEM.ok) {
    console.warn(`\n*** test/faults.test.ts: the netem tests are SKIPPED, NOT PASSED: ${NETEM.reason}\n` +
      '*** (the kernel needs sch_netem: CONFIG_NET_SCH_NETEM; loss/duplicates over a UDP relay are covered by test/lossy.test.ts)\n')
  }
  // The body is not written: this machine's kernel has no netem, so it could never have been run
  // here, and an unrun test would claim coverage it does not give. The probe above stays so that
  // a kernel with netem makes this fail loudly until someone writes it.
  it.skipIf(!NETEM.ok)(`netem is available${NETEM.ok ? '' : ` — SKIPPED: ${NETEM.reason}`}`, () => {
    expect.fail('netem is available here: write the netem fault test (issue 9) — it could not be developed on a kernel without netem')
  })
})
