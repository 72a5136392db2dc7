// A packet fuzzer against our CoapServer on loopback: random and mutated CoAP datagrams, DTLS
// records and CoAP-over-TCP byte streams, in two rounds (FUZZ_ROUNDS=n for more), while a
// well-behaved client keeps asking for /hello on every transport. The server runs in its own process
// (test/helpers/fuzz-server.mjs) so that a crash is an exit we can see, with its stderr, and its
// memory is its own. Inputs come from a seeded PRNG (test/helpers/fuzz-gen.ts): FUZZ_SEED=<n>
// repeats the UDP datagrams and TCP streams of a run byte for byte, and the DTLS records up to
// where they depend on the server's answers (cookies); the interleaving, and so what the server
// has seen when, depends on timing.
//
// If the server dies, the test fails with the seed, the server's stderr and a file holding the
// last inputs sent before the death, in hex, newest last.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import * as crypto from 'node:crypto'
import * as dgram from 'node:dgram'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { CoapClient } from '../dist/index.js'
import { sleep } from './helpers/bytes'
import {
  Rng, clientHello, csm, dtlsRecord, encodeTcpFrame, fuzzName, genDtls, genRequest, genTcpFrame, genUdp, handshake,
  helloVerifyCookie, type DtlsKind, type TcpFrameKind,
} from './helpers/fuzz-gen'
import { memoryOf, startServerProcess, stopServerProcess, type ServerProcess } from './helpers/server-process'

const HOST = '127.0.0.1'
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) >>> 0 : crypto.randomInt(0, 2 ** 32)
const MiB = 1024 * 1024

// Per round. The UDP sockets are few and kept for all rounds: libcoap keeps state (a session,
// its block-wise and observe entries) per source address, so their number, not the number of
// datagrams, decides how much the server may legitimately hold afterwards.
const UDP_DATAGRAMS = 100_000
const UDP_SOCKETS = 8
const UDP_BATCH = 32
const UDP_BATCH_BYTES = 16 * 1024
const DTLS_RECORDS = 3_000
const DTLS_SOCKETS = 4
const DTLS_FRESH_PORTS = 1_000
const DTLS_FRESH_CONCURRENCY = 25
/** Fresh ports that complete the cookie exchange (one in this many). */
const DTLS_COOKIE_EVERY = 5
const TCP_CONNECTIONS = 200
const TCP_CONCURRENCY = 20
const TCP_SILENT = 5
/** Gap between one well-behaved request's answer and the next, per transport. */
const CLIENT_GAP_MS = 5
const CLIENT_TIMEOUT_MS = 10_000

/** Flood rounds; more than two (FUZZ_ROUNDS=n) for a longer soak, each held to the round-2 bound. */
const ROUNDS = Math.max(2, Number(process.env.FUZZ_ROUNDS ?? 2) || 2)

// RSS bounds (see the 'RSS flat' test for why these numbers).
const ROUND1_GROWTH_MAX = 30 * MiB
const LATER_ROUND_GROWTH_MAX = 10 * MiB

console.log(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} repeats these inputs)`)

// ---------------------------------------------------------------------------------------------
// The server process

/** The kernel's view of a loopback UDP socket bound to `port`: bytes queued, datagrams dropped. */
function udpQueue(port: number): { rxQueue: number; drops: number } {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  for (const line of fs.readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 13 || !f[1].endsWith(`:${hexPort}`)) continue
    return { rxQueue: parseInt(f[4].split(':')[1], 16), drops: Number(f[f.length - 1]) }
  }
  return { rxQueue: 0, drops: 0 }
}

// Keeps the server's receive queue well below the default buffer: the fuzz is about what the
// server does with bad input, not about how many datagrams the kernel throws away — and the
// well-behaved client's datagrams share that queue. The queue counts the kernel's buffer
// sizes, not payload: a 60 KB datagram takes about 128 KiB of the 208 KiB, so large ones are
// only sent into an empty queue.
const RMEM = Number(fs.readFileSync('/proc/sys/net/core/rmem_default', 'utf8')) || 212_992
const LARGE = 8 * 1024
async function pace(port: number, limit = RMEM / 8): Promise<number> {
  let waits = 0
  while (udpQueue(port).rxQueue > limit && waits < 500) {
    waits++
    await sleep(1)
  }
  return waits
}

// ---------------------------------------------------------------------------------------------
// What was sent, and the last of it for a post-mortem

const RING = 4000
const ring: Array<{ transport: string; kind: string; buf: Buffer }> = []
let ringAt = 0
function remember(transport: string, kind: string, buf: Buffer): void {
  const e = { transport, kind, buf }
  if (ring.length < RING) ring.push(e)
  else ring[ringAt++ % RING] = e
}

function dumpRing(): string {
  const file = path.join(os.tmpdir(), `coap-fuzz-${SEED}-${process.pid}.txt`)
  const ordered = ring.length < RING ? ring : [...ring.slice(ringAt % RING), ...ring.slice(0, ringAt % RING)]
  fs.writeFileSync(file, ordered.map((e) => `${e.transport} ${e.kind} ${e.buf.toString('hex')}`).join('\n') + '\n')
  return file
}

type Counts = Record<string, number>
const bump = (c: Counts, k: string, n = 1) => void (c[k] = (c[k] ?? 0) + n)

// ---------------------------------------------------------------------------------------------
// UDP

/** A reset for a CON/NON message the server sent us: what a peer that asked nothing does. */
function resetFor(msg: Buffer): Buffer | undefined {
  if (msg.length < 4 || msg[0] >> 6 !== 1) return undefined
  const type = (msg[0] >> 4) & 3
  if (type > 1) return undefined
  return Buffer.from([0x70, 0x00, msg[2], msg[3]])
}

async function udpSockets(n: number, counts: Counts): Promise<dgram.Socket[]> {
  const out: dgram.Socket[] = []
  for (let i = 0; i < n; i++) {
    const s = dgram.createSocket('udp4')
    s.on('error', () => bump(counts, 'socket-errors'))
    await new Promise<void>((resolve) => s.bind(0, HOST, resolve))
    out.push(s)
  }
  return out
}

async function udpFlood(rng: Rng, sockets: dgram.Socket[], port: number, total: number, alive: () => boolean): Promise<{ kinds: Counts; sent: number; sendErrors: number; paceWaits: number }> {
  const kinds: Counts = {}
  const mids: number[] = []
  let sent = 0
  let done = 0
  let sendErrors = 0
  let paceWaits = 0
  const onSent = (err: Error | null) => {
    done++
    if (err) sendErrors++
  }
  while (sent < total && alive()) {
    let bytes = 0
    for (let i = 0; i < UDP_BATCH && bytes < UDP_BATCH_BYTES && sent < total; i++) {
      const { kind, buf } = genUdp(rng, mids)
      if (buf.length > LARGE) {
        await nextTurn()
        paceWaits += await pace(port, 0)
      }
      bump(kinds, kind)
      remember('udp', kind, buf)
      sockets[sent % sockets.length].send(buf, port, HOST, onSent)
      sent++
      bytes += buf.length
    }
    await nextTurn()
    paceWaits += await pace(port)
  }
  for (let i = 0; i < 500 && done < sent; i++) await sleep(2)
  return { kinds, sent, sendErrors, paceWaits }
}

// ---------------------------------------------------------------------------------------------
// DTLS

/** Waits (bounded) for the next datagram on `s` that `pick` accepts. */
function nextDatagram<T>(s: dgram.Socket, ms: number, pick: (b: Buffer) => T | undefined): Promise<T | undefined> {
  return new Promise((resolve) => {
    const onMessage = (b: Buffer) => {
      const v = pick(b)
      if (v === undefined) return
      finish(v)
    }
    const timer = setTimeout(() => finish(undefined), ms)
    const finish = (v: T | undefined) => {
      clearTimeout(timer)
      s.off('message', onMessage)
      resolve(v)
    }
    s.on('message', onMessage)
  })
}

const send = (s: dgram.Socket, buf: Buffer, port: number) =>
  new Promise<void>((resolve) => s.send(buf, port, HOST, () => resolve()))

interface DtlsStats {
  kinds: Counts
  records: number
  freshPorts: number
  cookies: number
  handshakesStarted: number
  portsReused: number
}

/**
 * ClientHello, HelloVerifyRequest, ClientHello with the cookie: past this point libcoap has a
 * session with its own OpenSSL handshake state for our address, which the records after it hit.
 */
async function cookieExchange(rng: Rng, s: dgram.Socket, port: number, st: DtlsStats, waitMs: number): Promise<boolean> {
  const random = rng.bytes(32)
  const sni = rng.chance(0.5) ? fuzzName(rng) : undefined
  const first = clientHello(rng, { random, sni })
  remember('dtls', 'hello', first)
  const cookie = nextDatagram(s, waitMs, helloVerifyCookie)
  await send(s, first, port)
  st.records++
  const c = await cookie
  if (!c) return false
  st.cookies++
  const second = clientHello(rng, { random, cookie: c, msgSeq: 1, sni }, 1)
  remember('dtls', 'hello-cookie', second)
  await send(s, second, port)
  st.records++
  st.handshakesStarted++
  if (rng.chance(0.7)) {
    // The rest of a PSK client's flight: an identity for the server's PSK lookup, then a
    // ChangeCipherSpec and a "Finished" the server cannot decrypt.
    const identity = fuzzName(rng)
    const cke = dtlsRecord(22, 0xfefd, 0, 2, handshake(16, Buffer.concat([Buffer.from([identity.length >> 8, identity.length & 0xff]), identity]), 2))
    const ccs = dtlsRecord(20, 0xfefd, 0, 3, Buffer.from([1]))
    const fin = dtlsRecord(22, 0xfefd, 1, 0, rng.bytes(rng.range(24, 64)))
    for (const b of rng.chance(0.5) ? [cke, ccs, fin] : [Buffer.concat([cke, ccs, fin])]) {
      remember('dtls', 'flight', b)
      await send(s, b, port)
      st.records++
    }
  }
  return true
}

/** A UDP socket on `port` if that is free (again), else on any port. */
async function udpSocketOn(port: number): Promise<{ s: dgram.Socket; onPort: boolean }> {
  if (port !== 0) {
    const s = dgram.createSocket('udp4')
    const ok = await new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false))
      s.bind(port, HOST, () => resolve(true))
    })
    if (ok) return { s, onPort: true }
    s.close()
  }
  const s = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => s.bind(0, HOST, resolve))
  return { s, onPort: false }
}

/**
 * `freshPorts` holds the source ports of the fresh-port part: empty, it is filled with what
 * the system gave; filled, those same ports are used again (where still free), so that a
 * second round meets the state the first one left instead of creating more of it.
 */
async function dtlsFlood(rng: Rng, sockets: dgram.Socket[], port: number, total: number, fresh: number, freshPorts: number[], alive: () => boolean, counts: Counts): Promise<DtlsStats> {
  const st: DtlsStats = { kinds: {}, records: 0, freshPorts: 0, cookies: 0, handshakesStarted: 0, portsReused: 0 }
  // Records from a few long-lived ports, into whatever handshake state libcoap holds for them.
  const perSocket = Math.ceil(total / sockets.length)
  await Promise.all(
    sockets.map(async (s, i) => {
      const r = new Rng(rng.u32() ^ i)
      for (let n = 0; n < perSocket && alive(); n++) {
        if (n % 150 === 0) await cookieExchange(r, s, port, st, 300)
        const { kind, buf } = genDtls(r)
        bump(st.kinds, kind)
        remember('dtls', kind, buf)
        s.send(buf, port, HOST)
        st.records++
        if (n % 16 === 15) {
          await nextTurn()
          await pace(port)
        }
      }
    }),
  )
  // ClientHellos (some mangled) from ports libcoap has not seen before: each one is a new
  // session and a trip through OpenSSL's cookie code; every DTLS_COOKIE_EVERY-th goes on to
  // answer the HelloVerifyRequest. A PRNG per port keeps each port's bytes independent of
  // which worker happens to send them.
  const freshSeed = rng.u32()
  let next = 0
  const worker = async () => {
    while (next < fresh && alive()) {
      const i = next++
      const r = new Rng(freshSeed + Math.imul(i, 0x9e3779b9))
      const { s, onPort } = await udpSocketOn(freshPorts[i] ?? 0)
      try {
        s.on('error', () => bump(counts, 'socket-errors'))
        if (onPort) st.portsReused++
        freshPorts[i] = s.address().port
        st.freshPorts++
        await pace(port)
        if (i % DTLS_COOKIE_EVERY === 0) {
          await cookieExchange(r, s, port, st, 250)
        } else {
          const { kind, buf } = r.chance(0.6) ? { kind: 'hello' as DtlsKind, buf: clientHello(r, { random: r.bytes(32), sni: r.chance(0.3) ? fuzzName(r) : undefined }) } : genDtls(r)
          bump(st.kinds, `fresh-${kind}`)
          remember('dtls-fresh', kind, buf)
          await send(s, buf, port)
          st.records++
        }
      } finally {
        s.close()
      }
    }
  }
  await Promise.all(Array.from({ length: DTLS_FRESH_CONCURRENCY }, worker))
  return st
}

// ---------------------------------------------------------------------------------------------
// TCP

type Ending = 'end' | 'destroy' | 'reset' | 'linger'
interface TcpStats {
  connections: number
  connectFailures: number
  bytes: number
  frames: Counts
  endings: Counts
  streams: Counts
}

/** A byte stream for one connection: random bytes, or frames with or without a CSM first. */
function tcpStream(r: Rng, st: TcpStats): Buffer {
  const shape = r.weighted<string>([[15, 'random'], [45, 'csm-frames'], [15, 'frames'], [10, 'csm-huge'], [15, 'csm-valid']])
  bump(st.streams, shape)
  if (shape === 'random') return r.bytes(r.range(1, 6000))
  const parts: Buffer[] = []
  if (shape !== 'frames') parts.push(csm(r))
  const n = r.range(1, 20)
  for (let i = 0; i < n; i++) {
    let f: { kind: TcpFrameKind | 'valid'; buf: Buffer }
    if (shape === 'csm-valid') {
      f = { kind: 'valid', buf: encodeValid(genRequest(r)) }
    } else if (shape === 'csm-huge' && i === n - 1) {
      f = genTcpFrame(r)
      for (let k = 0; k < 500 && f.kind !== 'huge-len'; k++) f = genTcpFrame(r)
    } else {
      f = genTcpFrame(r)
    }
    bump(st.frames, f.kind)
    parts.push(f.buf)
  }
  return Buffer.concat(parts)
}

function encodeValid(spec: ReturnType<typeof genRequest>): Buffer {
  // Over TCP a request has no type or message ID; only the code, token, options and payload.
  const code = spec.code >= 0x01 && spec.code <= 0x07 ? spec.code : 0x01
  return encodeTcpFrame(code, spec.token, spec.options, spec.payload)
}

async function tcpConnection(r: Rng, port: number, st: TcpStats): Promise<void> {
  const stream = tcpStream(r, st)
  const ending = r.weighted<Ending>([[3, 'end'], [3, 'destroy'], [3, 'reset'], [1, 'linger']])
  bump(st.endings, ending)
  const sock = net.connect(port, HOST)
  sock.on('error', () => {})
  sock.resume()
  const deadline = setTimeout(() => sock.destroy(), 3000)
  try {
    const connected = await new Promise<boolean>((resolve) => {
      sock.once('connect', () => resolve(true))
      sock.once('close', () => resolve(false))
    })
    if (!connected) {
      st.connectFailures++
      return
    }
    st.connections++
    // Cut at random points: libcoap must put frames together across reads.
    let at = 0
    const cutAt = ending === 'linger' ? stream.length : r.chance(0.3) ? r.int(stream.length + 1) : stream.length
    while (at < cutAt && !sock.destroyed) {
      const n = Math.min(cutAt - at, r.chance(0.2) ? r.range(1, 3) : r.range(1, 1500))
      const chunk = stream.subarray(at, at + n)
      remember('tcp', 'chunk', chunk)
      sock.write(chunk)
      st.bytes += n
      at += n
      if (r.chance(0.3)) await sleep(r.int(3))
      else await nextTurn()
    }
    if (ending === 'linger') await new Promise<void>((resolve) => { sock.once('close', () => resolve()); setTimeout(resolve, 200) })
    if (ending === 'reset' && typeof sock.resetAndDestroy === 'function') sock.resetAndDestroy()
    else if (ending === 'end' || ending === 'linger') sock.end()
    else sock.destroy()
    if (!sock.destroyed) await new Promise<void>((resolve) => { sock.once('close', () => resolve()); setTimeout(() => (sock.destroy(), resolve()), 500) })
  } finally {
    clearTimeout(deadline)
    sock.destroy()
  }
}

async function tcpFlood(rng: Rng, port: number, total: number, alive: () => boolean): Promise<TcpStats> {
  const st: TcpStats = { connections: 0, connectFailures: 0, bytes: 0, frames: {}, endings: {}, streams: {} }
  // A few that connect and say nothing until the round is over.
  const silent = Array.from({ length: TCP_SILENT }, () => {
    const s = net.connect(port, HOST)
    s.on('error', () => {})
    s.resume()
    return s
  })
  let next = 0
  const worker = async () => {
    while (next < total && alive()) {
      next++
      await tcpConnection(new Rng(rng.u32()), port, st)
    }
  }
  try {
    await Promise.all(Array.from({ length: TCP_CONCURRENCY }, worker))
  } finally {
    for (const s of silent) s.destroy()
  }
  return st
}

// ---------------------------------------------------------------------------------------------
// The well-behaved client

interface ClientStats {
  ok: number
  failures: string[]
  maxMs: number
}

async function politeLoop(client: CoapClient, url: string, hello: string, stop: () => boolean, st: ClientStats): Promise<void> {
  while (!stop()) {
    const t0 = Date.now()
    try {
      const res = await client.get(url, { timeout: CLIENT_TIMEOUT_MS })
      if (res.code === '2.05' && res.text() === hello) st.ok++
      else st.failures.push(`${new Date().toISOString()} ${res.code} ${JSON.stringify(res.text().slice(0, 80))}`)
    } catch (err) {
      st.failures.push(`${new Date().toISOString()} ${(err as { code?: string }).code ?? ''} ${(err as Error).message}`)
    }
    st.maxMs = Math.max(st.maxMs, Date.now() - t0)
    await sleep(CLIENT_GAP_MS)
  }
}

// ---------------------------------------------------------------------------------------------

let server: ServerProcess | undefined
let client: CoapClient | undefined
let udpFuzzSockets: dgram.Socket[] = []
let dtlsFuzzSockets: dgram.Socket[] = []
const dtlsFreshPorts: number[] = []
const socketCounts: Counts = {}
const rss: Array<{ stage: string; rss: number; hwm: number }> = []
let url: (scheme: 'coap' | 'coaps' | 'coap+tcp', p: string) => string

function alive(): boolean {
  return server !== undefined && server.exit() === undefined
}

function assertAlive(stage: string): void {
  if (alive()) return
  const file = dumpRing()
  throw new Error(
    `the fuzz server died during ${stage}: ${JSON.stringify(server?.exit())}; seed ${SEED} (FUZZ_SEED=${SEED}); ` +
      `the last ${ring.length} inputs are in ${file}\n--- server stderr ---\n${server?.stderr().slice(-8000)}`,
  )
}

async function measure(stage: string): Promise<void> {
  assertAlive(stage)
  const r = await server!.ask('gc', 'gc')
  const m = memoryOf(server!.ports.pid)
  rss.push({ stage, rss: m.rss, hwm: m.hwm })
  console.log(
    `RSS ${stage}: ${(m.rss / MiB).toFixed(1)} MiB (peak ${(m.hwm / MiB).toFixed(1)} MiB; JS heap ${(Number(r.heapUsed) / MiB).toFixed(1)} MiB, ` +
      `external ${(Number(r.external) / MiB).toFixed(1)} MiB; libcoap sessions ${JSON.stringify(r.live)})`,
  )
}

async function warmUp(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    for (const scheme of ['coap', 'coaps', 'coap+tcp'] as const) {
      const res = await client!.get(url(scheme, '/hello'))
      expect(res.code).toBe('2.05')
    }
  }
  for (const scheme of ['coap', 'coaps', 'coap+tcp'] as const) {
    for (let i = 0; i < 10; i++) {
      const big = await client!.get(url(scheme, '/big'))
      expect(big.payload.length).toBe(server!.ports.bigSize)
      const body = crypto.randomBytes(1 + i * 300)
      const echo = await client!.put(url(scheme, '/echo'), body)
      expect(echo.payload.equals(body)).toBe(true)
    }
  }
}

async function round(n: number): Promise<void> {
  assertAlive(`round ${n} start`)
  const rng = new Rng(SEED + n * 0x9e3779b9)
  const ports = server!.ports
  const before = { udp: udpQueue(ports.udp).drops, dtls: udpQueue(ports.dtls).drops }
  let floodOver = false
  const polite: Record<string, ClientStats> = {}
  const loops = (['coap', 'coaps', 'coap+tcp'] as const).map((scheme) => {
    const st = (polite[scheme] = { ok: 0, failures: [], maxMs: 0 })
    return politeLoop(client!, url(scheme, '/hello'), ports.hello, () => floodOver || !alive(), st)
  })
  const t0 = Date.now()
  const watchdog = new Promise<void>((resolve) => server!.child.once('exit', () => resolve()))
  let results: [Awaited<ReturnType<typeof udpFlood>>, DtlsStats, TcpStats]
  try {
    results = await Promise.all([
      udpFlood(new Rng(rng.u32()), udpFuzzSockets, ports.udp, UDP_DATAGRAMS, alive),
      dtlsFlood(new Rng(rng.u32()), dtlsFuzzSockets, ports.dtls, DTLS_RECORDS, DTLS_FRESH_PORTS, dtlsFreshPorts, alive, socketCounts),
      tcpFlood(new Rng(rng.u32()), ports.tcp, TCP_CONNECTIONS, alive),
    ])
  } finally {
    floodOver = true
    await Promise.race([Promise.all(loops), watchdog])
  }
  const ms = Date.now() - t0
  assertAlive(`round ${n}`)
  const [udp, dtls, tcp] = results
  const drops = { udp: udpQueue(ports.udp).drops - before.udp, dtls: udpQueue(ports.dtls).drops - before.dtls }
  const stats = (await server!.ask('stats', 'stats')).stats
  console.log(
    [
      `round ${n} (seed ${SEED}): ${ms} ms`,
      `  UDP: ${udp.sent} datagrams (${udp.sendErrors} send errors, ${udp.paceWaits} pacing waits) ${JSON.stringify(udp.kinds)}`,
      `  DTLS: ${dtls.records} records from ${DTLS_SOCKETS} ports + ${dtls.freshPorts} fresh ports (${dtls.portsReused} of them as in round 1); ${dtls.cookies} HelloVerifyRequests answered, ${dtls.handshakesStarted} handshakes started ${JSON.stringify(dtls.kinds)}`,
      `  TCP: ${tcp.connections} connections (+${TCP_SILENT} silent, ${tcp.connectFailures} refused), ${tcp.bytes} bytes; streams ${JSON.stringify(tcp.streams)} frames ${JSON.stringify(tcp.frames)} endings ${JSON.stringify(tcp.endings)}`,
      `  kernel drops at the server: UDP ${drops.udp}, DTLS ${drops.dtls}`,
      `  well-behaved client: ${Object.entries(polite).map(([k, v]) => `${k} ${v.ok} ok, ${v.failures.length} failed, slowest ${v.maxMs} ms`).join('; ')}`,
      `  server: ${JSON.stringify(stats)}`,
    ].join('\n'),
  )
  expect(udp.sent).toBe(UDP_DATAGRAMS)
  expect(dtls.freshPorts).toBe(DTLS_FRESH_PORTS)
  expect(tcp.connectFailures, 'TCP connections refused').toBe(0)
  expect(tcp.connections).toBe(TCP_CONNECTIONS)
  for (const [scheme, st] of Object.entries(polite)) {
    expect(st.failures, `${scheme}: well-behaved requests that failed during the flood (kernel drops: ${JSON.stringify(drops)})`).toEqual([])
    expect(st.ok, `${scheme}: well-behaved requests answered during the flood`).toBeGreaterThan(10)
  }
}

describe(`fuzzing our server (seed ${SEED})`, () => {
  beforeAll(async () => {
    server = await startServerProcess()
    const p = server.ports
    const port = { coap: p.udp, coaps: p.dtls, 'coap+tcp': p.tcp }
    url = (scheme, path) => `${scheme}://${HOST}:${port[scheme]}${path}`
    client = new CoapClient({ psk: { identity: 'fuzz-client', key: 'fuzz-key' }, timeout: CLIENT_TIMEOUT_MS })
    // Kept for both rounds, like the fresh DTLS ports: see the 'RSS flat' test.
    udpFuzzSockets = await udpSockets(UDP_SOCKETS, socketCounts)
    dtlsFuzzSockets = await udpSockets(DTLS_SOCKETS, socketCounts)
    for (const s of udpFuzzSockets) {
      s.on('message', (msg) => {
        const rst = resetFor(msg)
        if (rst) s.send(rst, p.udp, HOST)
      })
    }
    await warmUp()
    await measure('after warm-up')
  }, 60_000)

  afterAll(async () => {
    for (const s of [...udpFuzzSockets, ...dtlsFuzzSockets]) s.close()
    await client?.close()
    await stopServerProcess(server)
  })

  it('round 1: survives the flood and keeps serving a well-behaved client on UDP, DTLS and TCP', async () => {
    await round(1)
    await sleep(2000)
    await measure('after round 1')
  }, 45_000)

  for (let n = 2; n <= ROUNDS; n++) {
    it(`round ${n}: the same again, with new inputs from the same source addresses`, async () => {
      await round(n)
      await sleep(2000)
      await measure(`after round ${n}`)
    }, 45_000)
  }

  it('after the flood: still answers on every transport, old and new clients, small and block-wise', async () => {
    assertAlive('the check after the flood')
    const fresh = new CoapClient({ psk: { identity: 'fuzz-client', key: 'fuzz-key' }, timeout: CLIENT_TIMEOUT_MS })
    try {
      for (const c of [client!, fresh]) {
        for (const scheme of ['coap', 'coaps', 'coap+tcp'] as const) {
          const hello = await c.get(url(scheme, '/hello'))
          expect(hello.code, `${scheme} GET /hello`).toBe('2.05')
          expect(hello.text()).toBe(server!.ports.hello)
          const big = await c.get(url(scheme, '/big'))
          expect(big.payload.length, `${scheme} GET /big`).toBe(server!.ports.bigSize)
          const body = crypto.randomBytes(3000)
          const echo = await c.post(url(scheme, '/echo'), body)
          expect(echo.payload.equals(body), `${scheme} POST /echo`).toBe(true)
        }
      }
    } finally {
      await fresh.close()
    }
    assertAlive('the check after the flood')
  }, 30_000)

  // Bounds, in the server process after a full GC:
  //  - round 1 < 30 MiB over the warmed-up baseline (measured: 12-13 MiB). What the server may
  //    rightly still hold: state for 8 UDP and 4 long-lived DTLS source addresses (sessions,
  //    block-wise bodies of /big, kept up to 93 s, observers); some 700 libcoap sessions for
  //    the 1 000 fresh DTLS ports (libcoap retires a pending one only when a newer peer
  //    arrives, after 30 s), ~200 of them half-way through a handshake with OpenSSL state until
  //    it times out; and malloc's high-water mark from TCP frames that announced up to 8 MiB.
  //  - every later round < 10 MiB over the one before (measured: 3-5 MiB for round 2, then
  //    0.5-1 MiB a round up to round 5): the same source addresses (the fresh DTLS ports are
  //    bound again), so the same state, bar the ~200 handshakes round 1 ended, whose ports
  //    come back as pending sessions. A leak per datagram (100 000 a round) or per connection
  //    would show as more.
  it('RSS flat: memory after the floods stays within bounds', () => {
    expect(rss.length, 'every round measured').toBe(ROUNDS + 1)
    const growth = rss.slice(1).map((r, i) => r.rss - rss[i].rss)
    console.log(`RSS growth: ${growth.map((g, i) => `round ${i + 1} ${g >= 0 ? '+' : ''}${(g / MiB).toFixed(1)} MiB`).join(', ')}`)
    expect(growth[0], 'RSS growth over round 1').toBeLessThan(ROUND1_GROWTH_MAX)
    for (let i = 1; i < growth.length; i++) expect(growth[i], `RSS growth over round ${i + 1}`).toBeLessThan(LATER_ROUND_GROWTH_MAX)
  })
})

// What the flood found, reduced to the bytes that cause it, each against a server of its own.
describe('inputs that broke the server', () => {
  let own: ServerProcess | undefined
  beforeEach(async (ctx) => {
    own = await startServerProcess(ctx.task.name.includes('maxHandshakes') ? ['--default-max-handshakes'] : [])
  }, 20_000)
  afterEach(() => stopServerProcess(own))

  const expectAlive = async (what: string) => {
    await sleep(500)
    const exit = own!.exit()
    expect(exit, `${what}: the server died (${JSON.stringify(exit)})\n${own!.stderr().slice(-4000)}`).toBeUndefined()
    const c = new CoapClient({ timeout: 3000 })
    try {
      expect((await c.get(`coap://${HOST}:${own!.ports.udp}/hello`)).code, `${what}: GET /hello afterwards`).toBe('2.05')
    } finally {
      await c.close()
    }
  }

  // Found by the flood. RFC 7959 makes Size1 optional. Block1 0/M/16 with 16 bytes and no
  // Size1: libcoap 4.3.5 took the body to be 16 bytes long, so complete, while M says more is
  // coming, and copied the token of a last block it never received (NULL): SIGSEGV in
  // coap_handle_request_put_block. Fixed by deps/patches/0015 (2.31 Continue instead).
  it('UDP: PUT /echo with Block1 0/M/16 and no Size1 (29 bytes) is answered, not a crash', async () => {
    const datagram = Buffer.from('40031234b46563686fd10308ff' + '41'.repeat(16), 'hex')
    const s = dgram.createSocket('udp4')
    try {
      await new Promise<void>((resolve) => s.bind(0, HOST, resolve))
      s.send(datagram, own!.ports.udp, HOST)
      await expectAlive(`datagram ${datagram.toString('hex')}`)
    } finally {
      s.close()
    }
  })

  it('TCP: the same request after a CSM (31 bytes) is answered, not a crash', async () => {
    const bytes = Buffer.from('00e1' + 'd00c03b46563686fd10308ff' + '41'.repeat(16), 'hex')
    const sock = net.connect(own!.ports.tcp, HOST)
    sock.on('error', () => {})
    sock.resume()
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('connect', () => resolve())
        sock.once('error', reject)
      })
      sock.write(bytes)
      await expectAlive(`stream ${bytes.toString('hex')}`)
    } finally {
      sock.destroy()
    }
  })

  // Found by the flood, not a crash: an outage for new DTLS peers. libcoap 4.3.5 makes a session
  // for every ClientHello from a new address before any cookie is checked, counts it as a
  // handshake in progress, and retired it only when a newer peer arrived 30 s later. With the
  // default maxHandshakes (100), 101 spoofable 67-byte datagrams made the server ignore every
  // new DTLS client for 30 s. deps/patches/0016 lets the oldest Client Hello session make room.
  it('DTLS, default maxHandshakes: 101 ClientHellos from other ports do not lock a new client out', async () => {
    const hello = Buffer.from('16fefd000000000000000000360100002a000000000000002afefd' + '07'.repeat(32) + '0000000200a80100', 'hex')
    for (let i = 0; i < 101; i++) {
      const s = dgram.createSocket('udp4')
      try {
        await new Promise<void>((resolve) => s.bind(0, HOST, resolve))
        await new Promise<void>((resolve) => s.send(hello, own!.ports.dtls, HOST, () => resolve()))
      } finally {
        s.close()
      }
    }
    const c = new CoapClient({ psk: { identity: 'fuzz-client', key: 'fuzz-key' }, timeout: 5000 })
    try {
      const res = await c.get(`coaps://${HOST}:${own!.ports.dtls}/hello`).catch((err: Error & { code?: string }) => err)
      expect(res instanceof Error ? `${res.code}: ${res.message}` : res.code, 'a new DTLS client after 101 ClientHellos from other ports').toBe('2.05')
    } finally {
      await c.close()
    }
  }, 20_000)
})
