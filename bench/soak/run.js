#!/usr/bin/env node
// Soak run (not part of npm test): `npm run soak [-- --minutes 30] [-- --rate 1500]`.
// Mixed traffic against our server in its own process for a long time, sampling the server's
// RSS, heap and open file descriptors every 10 s; every answer is checked. Writes
// bench/results/soak-<date>.json and .md. The rate is paced (default ≈ 1 500 operations/s) so
// that the run measures drift over time, not saturation.
//
// Per second, roughly: GET/PUT/POST on long-lived UDP, DTLS, TCP, TLS and WebSocket clients;
// 5 DTLS clients that handshake, GET once and leave; a 64 KiB block-wise GET (UDP) every 2 s
// and a 32 KiB PUT (TCP) every 5 s; 20 observers that each follow /counter for 10 notifications
// and register again; a ping every 5 s; a GET to a silent port (timeout path) and to a missing
// resource every second.
'use strict'
const { spawn } = require('node:child_process')
const dgram = require('node:dgram')
const fs = require('node:fs')
const path = require('node:path')
const { createInterface } = require('node:readline')
const { parseArgs } = require('node:util')
const { CoapClient, versions } = require(path.join(__dirname, '../../dist/index.js'))

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '30' }, rate: { type: 'string', default: '1500' } } })
const MINUTES = Number(values.minutes)
const RATE = Number(values.rate)
if (!(MINUTES > 0) || !(RATE > 0)) throw new RangeError('--minutes and --rate must be positive numbers')
const SAMPLE_MS = 10_000
const PSK = { identity: 'soak', key: 'soak-key' }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function memoryOf(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)[1]) * 1024
}
const fdsOf = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length

function startServer() {
  const child = spawn(process.execPath, ['--expose-gc', path.join(__dirname, 'server.js')], { stdio: ['pipe', 'pipe', 'inherit'] })
  const waiters = []
  let ports
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('soak server not ready in 15 s')), 15_000)
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('ready ')) {
        ports = JSON.parse(line.slice(6))
        clearTimeout(timer)
        resolve({ child, ports, stats })
      } else if (line.startsWith('{')) waiters.shift()?.(JSON.parse(line).stats)
    })
    child.once('exit', (code, signal) => reject(new Error(`soak server exited (${code ?? signal})`)))
  })
  function stats() {
    return new Promise((resolve) => {
      waiters.push(resolve)
      child.stdin.write('stats\n')
    })
  }
}

const ops = {}
const failures = {}
function count(kind, ok, why) {
  const o = (ops[kind] ??= { ok: 0, failed: 0 })
  if (ok) o.ok++
  else {
    o.failed++
    const key = `${kind}: ${why}`
    failures[key] = (failures[key] ?? 0) + 1
  }
}
async function op(kind, fn) {
  try {
    const why = await fn()
    count(kind, why === undefined, why)
  } catch (err) {
    count(kind, false, err.code ?? err.message)
  }
}

/** Runs `fn` `perSecond` times a second until `stopAt`, at most `inFlight` at once. */
async function paced(perSecond, inFlight, stopAt, fn) {
  const gap = 1000 / perSecond
  let running = 0
  let next = Date.now()
  const all = new Set()
  while (Date.now() < stopAt) {
    const wait = next - Date.now()
    if (wait > 0) await sleep(wait)
    next += gap
    if (running >= inFlight) continue // behind: skip rather than pile up
    running++
    const p = fn().finally(() => {
      running--
      all.delete(p)
    })
    all.add(p)
  }
  await Promise.all(all)
}

async function observer(client, url, stopAt) {
  while (Date.now() < stopAt) {
    await op('observe', async () => {
      let n = 0
      let last = -1
      for await (const res of client.observe(url, { timeout: 5000 })) {
        const v = Number(res.text())
        if (!(v > last)) return `out of order ${last} then ${v}`
        last = v
        if (++n === 10) break
      }
      return n === 10 ? undefined : `ended after ${n}`
    })
  }
}

async function main() {
  const server = await startServer()
  const { ports } = server
  const pid = server.child.pid
  const url = {
    udp: `coap://127.0.0.1:${ports.udp}`, dtls: `coaps://127.0.0.1:${ports.dtls}`, tcp: `coap+tcp://127.0.0.1:${ports.tcp}`,
    tls: `coaps+tcp://127.0.0.1:${ports.tls}`, ws: `coap+ws://127.0.0.1:${ports.ws}`,
  }
  const silent = dgram.createSocket('udp4')
  await new Promise((r) => silent.bind(0, '127.0.0.1', r))
  const client = new CoapClient({ psk: PSK, timeout: 10_000 })
  const started = Date.now()
  const stopAt = started + MINUTES * 60_000
  const samples = []
  const sample = async () => {
    const st = await server.stats()
    samples.push({
      t: Math.round((Date.now() - started) / 1000), rss: memoryOf(pid), fds: fdsOf(pid), heapUsed: st.heapUsed, heapTotal: st.heapTotal, external: st.external,
      observers: st.observers, requests: st.requests, sessions: st.sessions, closed: st.closed, clientRss: process.memoryUsage().rss,
    })
    const s = samples[samples.length - 1]
    process.stdout.write(`${String(s.t).padStart(5)} s  server RSS ${(s.rss / 2 ** 20).toFixed(1)} MiB  heap ${(s.heapUsed / 2 ** 20).toFixed(1)} MiB  fds ${s.fds}  observers ${s.observers}  requests ${s.requests}\n`)
  }
  await sample()
  const sampler = setInterval(() => void sample(), SAMPLE_MS)

  const body = (n) => Buffer.alloc(n, n & 0xff)
  const share = RATE / 1500 // the mix below adds up to ≈ 1 500 operations/s
  const transports = ['udp', 'dtls', 'tcp', 'tls', 'ws']
  await Promise.all([
    ...transports.map((t) => paced(150 * share, 32, stopAt, () => op(`GET ${t}`, async () => {
      const res = await client.get(`${url[t]}/hello`)
      return res.code === '2.05' && res.text() === 'hello' ? undefined : `answer ${res.code}`
    }))),
    ...transports.map((t) => paced(100 * share, 32, stopAt, () => op(`PUT ${t}`, async () => {
      const sent = body(1 + Math.floor(Math.random() * 900))
      const res = await client.put(`${url[t]}/echo`, sent)
      return res.code === '2.04' && res.payload.equals(sent) ? undefined : `answer ${res.code} ${res.payload.length} bytes`
    }))),
    ...transports.map((t) => paced(40 * share, 16, stopAt, () => op(`POST ${t}`, async () => {
      const res = await client.post(`${url[t]}/echo`, 'posted')
      return res.code === '2.01' && res.text() === 'posted' ? undefined : `answer ${res.code}`
    }))),
    paced(5, 5, stopAt, () => op('DTLS visit', async () => {
      const visitor = new CoapClient({ psk: PSK, timeout: 10_000 })
      try {
        const res = await visitor.get(`${url.dtls}/hello`)
        return res.code === '2.05' ? undefined : `answer ${res.code}`
      } finally {
        await visitor.close()
      }
    })),
    paced(0.5, 2, stopAt, () => op('GET 64 KiB udp', async () => {
      const res = await client.get(`${url.udp}/big`)
      return res.payload.length === 65536 && res.payload.every((b) => b === 0x5a) ? undefined : `got ${res.payload.length} bytes`
    })),
    paced(0.2, 2, stopAt, () => op('PUT 32 KiB tcp', async () => {
      const sent = body(32 * 1024)
      const res = await client.put(`${url.tcp}/echo`, sent)
      return res.payload.equals(sent) ? undefined : `echoed ${res.payload.length} bytes`
    })),
    paced(0.2, 1, stopAt, () => op('ping tcp', async () => void (await client.ping(url.tcp)))),
    paced(1, 2, stopAt, () => op('timeout', async () => {
      const err = await client.get(`coap://127.0.0.1:${silent.address().port}/x`, { timeout: 300 }).then(() => undefined, (e) => e)
      return err?.code === 'ERR_COAP_TIMEOUT' ? undefined : `got ${err?.code ?? 'an answer'}`
    })),
    paced(1, 2, stopAt, () => op('GET missing', async () => {
      const res = await client.get(`${url.udp}/missing`)
      return res.code === '4.04' ? undefined : `answer ${res.code}`
    })),
    ...Array.from({ length: 20 }, (_, i) => observer(client, `${i % 2 ? url.dtls : url.udp}/counter`, stopAt)),
  ])
  clearInterval(sampler)
  await client.close()
  silent.close()
  await sleep(1000)
  await sample()
  server.child.stdin.end()
  report(samples, (Date.now() - started) / 1000)
}

/** Least-squares slope of value(sample) over t (per hour). */
function slopePerHour(points, value) {
  const n = points.length
  if (n < 2) return 0
  const mt = points.reduce((a, p) => a + p.t, 0) / n
  const my = points.reduce((a, p) => a + value(p), 0) / n
  const num = points.reduce((a, p) => a + (p.t - mt) * (value(p) - my), 0)
  const den = points.reduce((a, p) => a + (p.t - mt) ** 2, 0)
  return den === 0 ? 0 : (num / den) * 3600
}

function report(samples, seconds) {
  const MiB = 2 ** 20
  const second = samples.filter((s) => s.t >= samples[samples.length - 1].t / 2)
  const totalOps = Object.values(ops).reduce((a, o) => a + o.ok + o.failed, 0)
  const failed = Object.values(ops).reduce((a, o) => a + o.failed, 0)
  const summary = {
    minutes: +(seconds / 60).toFixed(1), operations: totalOps, failed, perSecond: Math.round(totalOps / seconds),
    rssStart: samples[0].rss, rssEnd: samples[samples.length - 1].rss, rssMax: Math.max(...samples.map((s) => s.rss)),
    rssSlopeSecondHalfPerHour: slopePerHour(second, (s) => s.rss), heapSlopeSecondHalfPerHour: slopePerHour(second, (s) => s.heapUsed),
    // V8 grows its reserved heap in steps under load; RSS without it is what would show a native leak.
    outsideHeapSlopeSecondHalfPerHour: slopePerHour(second, (s) => s.rss - s.heapTotal),
    fdsMin: Math.min(...samples.map((s) => s.fds)), fdsMax: Math.max(...samples.map((s) => s.fds)),
    fdsStart: samples[0].fds, fdsEnd: samples[samples.length - 1].fds,
  }
  const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\..*/, '')
  const dir = path.join(__dirname, '..', 'results')
  fs.mkdirSync(dir, { recursive: true })
  const base = path.join(dir, `soak-${stamp}`)
  const v = versions()
  fs.writeFileSync(`${base}.json`, JSON.stringify({ summary, ops, failures, samples, node: process.version, libcoap: v.libcoap, tls: v.tlsLibrary }, null, 2) + '\n')
  const mib = (b) => (b / MiB).toFixed(1)
  const lines = [
    `# Soak run ${stamp}`, '',
    `${summary.minutes} minutes, ${totalOps} operations (${summary.perSecond}/s), ${failed} failed; Node ${process.version}, ${v.libcoap}, ${v.tlsLibrary}.`, '',
    '| measure | value |', '|---|---|',
    `| server RSS start → end (max) | ${mib(summary.rssStart)} → ${mib(summary.rssEnd)} MiB (${mib(summary.rssMax)}) |`,
    `| server RSS trend, second half | ${mib(summary.rssSlopeSecondHalfPerHour)} MiB/hour |`,
    `| server RSS outside the V8 heap trend, second half | ${mib(summary.outsideHeapSlopeSecondHalfPerHour)} MiB/hour |`,
    `| server JS heap trend, second half | ${mib(summary.heapSlopeSecondHalfPerHour)} MiB/hour |`,
    `| server fds start → end (min–max) | ${summary.fdsStart} → ${summary.fdsEnd} (${summary.fdsMin}–${summary.fdsMax}) |`,
    '', '| operation | ok | failed |', '|---|---|---|',
    ...Object.entries(ops).map(([k, o]) => `| ${k} | ${o.ok} | ${o.failed} |`),
    '', failed ? 'Failures:' : 'No failures.', ...Object.entries(failures).map(([k, n]) => `- ${k}: ${n}`),
    // RSS minus V8's reserved heap is what the native side (libcoap, OpenSSL, buffers) holds.
    '', 'Samples (one per minute; heap used after a full GC, V8 heap reserved, RSS outside that heap):', '',
    '| t (s) | server RSS (MiB) | heap used (MiB) | heap reserved (MiB) | RSS outside the heap (MiB) | fds | observers | server requests |', '|---|---|---|---|---|---|---|---|',
    ...samples.filter((s, i) => i % 6 === 0 || i === samples.length - 1).map((s) => `| ${s.t} | ${mib(s.rss)} | ${mib(s.heapUsed)} | ${mib(s.heapTotal)} | ${mib(s.rss - s.heapTotal)} | ${s.fds} | ${s.observers} | ${s.requests} |`),
    '',
  ]
  fs.writeFileSync(`${base}.md`, lines.join('\n'))
  console.log(lines.slice(0, 13).join('\n'))
  console.log(`written ${base}.json and .md`)
  if (failed > 0) process.exitCode = 1
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
