// CoAP over TCP, TLS and WebSockets (RFC 8323): our CoapClient ↔ our CoapServer on loopback, and
// hand-made RFC 8323 peers (test/helpers/raw-peers.ts, messages framed by test/helpers/rfc8323.mjs)
// for what our own pair never does: a peer that stops answering (keepalive), one that sends an
// Abort, one that never answers a Ping, and a client that writes its messages one byte at a time.
//
// Transports: coap+tcp, coaps+tcp with PSK and with PKI, coap+ws, coaps+ws with PKI and with PSK.
// Keys and certificates are generated at test time by test/helpers/certs.ts (openssl CLI).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import * as net from 'node:net'
import { CoapClient, CoapError, CoapServer } from '../dist/index.js'
import type { CoapRequest } from '../dist/index.js'
import { makePki, type Pki } from './helpers/certs'
import { freePort } from './helpers/peers'
import { expectSameBytes, pattern, settle, sleep, waitFor } from './helpers/bytes'
import { startRawServer, startRelay, type RawFrame, type RawPeer } from './helpers/raw-peers'
import { Code, Opt, TcpFrameParser, codeString, decodeBlock, decodeUint, encodeTcp, encodeUint } from './helpers/rfc8323.mjs'

// Loosely typed on purpose: these are the options of the API under test.
type AnyOptions = Record<string, unknown>
type AnySession = { proto?: string; remote?: string; maxPduSize?: number; pskIdentity?: string; peerCommonName?: string }
type ParsedFrame = { code: number; token: Buffer; options: Array<[number, Buffer]>; payload: Buffer; size: number }

const HOST = '127.0.0.1'
const PSK_KEY = 'reliable-psk-key'
const KiB = 1024
const SIZES = [0, 1, KiB, 64 * KiB, 1024 * KiB]

let pki: Pki
beforeAll(async () => {
  pki = await makePki()
})
afterAll(() => pki?.cleanup())

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

interface Transport {
  name: string
  scheme: 'coap+tcp' | 'coaps+tcp' | 'coap+ws' | 'coaps+ws'
  proto: 'tcp' | 'tls' | 'ws' | 'wss'
  server: () => AnyOptions
  client: () => AnyOptions
}

const pskServer = () => ({ psk: { hint: 'reliable-hint', key: PSK_KEY } })
const pskClient = () => ({ psk: { identity: 'reliable-client', key: PSK_KEY } })
const pkiServer = () => ({ pki: { cert: pki.server.cert.pem, key: pki.server.key.pem } })
const pkiClient = () => ({ pki: { ca: pki.ca.pem } })

const TCP: Transport = { name: 'coap+tcp', scheme: 'coap+tcp', proto: 'tcp', server: () => ({}), client: () => ({}) }
const TLS_PSK: Transport = { name: 'coaps+tcp (PSK)', scheme: 'coaps+tcp', proto: 'tls', server: pskServer, client: pskClient }
const TLS_PKI: Transport = { name: 'coaps+tcp (PKI)', scheme: 'coaps+tcp', proto: 'tls', server: pkiServer, client: pkiClient }
const WS: Transport = { name: 'coap+ws', scheme: 'coap+ws', proto: 'ws', server: () => ({}), client: () => ({}) }
const WSS_PKI: Transport = { name: 'coaps+ws (PKI)', scheme: 'coaps+ws', proto: 'wss', server: pkiServer, client: pkiClient }
const WSS_PSK: Transport = { name: 'coaps+ws (PSK)', scheme: 'coaps+ws', proto: 'wss', server: pskServer, client: pskClient }
const TRANSPORTS = [TCP, TLS_PSK, TLS_PKI, WS, WSS_PKI, WSS_PSK]

function newClient(t: Transport | undefined, extra: AnyOptions = {}): CoapClient {
  const client = new CoapClient({ timeout: 10_000, ...(t?.client() ?? {}), ...extra } as ConstructorParameters<typeof CoapClient>[0])
  cleanups.push(() => client.close())
  return client
}

// What the client's context reports: libcoap's session events, with the session they concern.
function clientEvents(client: CoapClient): Array<{ name: string; session: AnySession; at: number }> {
  const out: Array<{ name: string; session: AnySession; at: number }> = []
  const on = client.context.on.bind(client.context) as (name: string, fn: (...args: any[]) => void) => unknown
  on('event', (name: string, session: AnySession) => out.push({ name, session, at: Date.now() }))
  return out
}

interface Seen {
  method: string
  path: string
  proto?: string
  remote?: string
  payload: Buffer
  maxPduSize?: number
}

interface Started {
  server: CoapServer
  port: number
  host: string
  url: (path: string) => string
  seen: Seen[]
  blob: () => Buffer
  /** Resolvers of the /hang requests still waiting. */
  hangs: Array<(v: string) => void>
  sessions: AnySession[]
  closedSessions: AnySession[]
  events: Array<[string, AnySession]>
  errors: unknown[]
}

// A server on one RFC 8323 listen URL with:
//   /who    GET: JSON { proto, remote, maxPduSize } of the request's session
//   /echo   PUT/POST: answers with the request body
//   /blob   GET/PUT: stores a body, returns it
//   /n      GET: answers with the Uri-Query, joined by '&'
//   /hang   GET: answers only when the test ends (a request that stays pending)
//   /byte-at-a-time/resource-with-a-long-name  GET: 'long path ok'
async function startServer(t: Transport, extra: AnyOptions = {}, at: { host?: string; port?: number } = {}): Promise<Started> {
  const host = at.host ?? HOST
  const hostPart = host.includes(':') ? `[${host}]` : host
  const server = new CoapServer({ listen: `${t.scheme}://${hostPart}:${at.port ?? 0}`, ...t.server(), ...extra } as ConstructorParameters<typeof CoapServer>[0])
  const hangs: Array<(v: string) => void> = []
  cleanups.push(async () => {
    for (const resolve of hangs.splice(0)) resolve('late')
    await server.close()
  })
  const seen: Seen[] = []
  const sessions: AnySession[] = []
  const closedSessions: AnySession[] = []
  const events: Array<[string, AnySession]> = []
  const errors: unknown[] = []
  const on = server.on.bind(server) as (name: string, fn: (...args: any[]) => void) => unknown
  on('session', (s: AnySession) => sessions.push(snapshot(s)))
  on('session-closed', (s: AnySession) => closedSessions.push(snapshot(s)))
  on('event', (name: string, s: AnySession) => events.push([name, snapshot(s)]))
  server.on('error', (err) => void errors.push(err))
  const record = (req: CoapRequest) => {
    const s = req.session as unknown as AnySession
    seen.push({ method: req.method, path: req.path, proto: s.proto, remote: s.remote, payload: req.payload, maxPduSize: s.maxPduSize })
  }
  let blob = Buffer.alloc(0)
  server.resource('/who').get((req) => {
    record(req)
    const s = req.session as unknown as AnySession
    return JSON.stringify({ proto: s.proto ?? null, remote: s.remote ?? null, maxPduSize: s.maxPduSize ?? null })
  })
  server
    .resource('/echo')
    .put((req) => {
      record(req)
      return { payload: req.payload }
    })
    .post((req) => {
      record(req)
      return { payload: req.payload }
    })
  server
    .resource('/blob')
    .get((req) => {
      record(req)
      return blob
    })
    .put((req) => {
      record(req)
      blob = Buffer.from(req.payload)
    })
  server.resource('/n').get((req) => {
    record(req)
    return req.query.join('&')
  })
  server.resource('/hang').get((req) => {
    record(req)
    return new Promise<string>((resolve) => hangs.push(resolve))
  })
  server.resource('/byte-at-a-time/resource-with-a-long-name').get((req) => {
    record(req)
    return 'long path ok'
  })
  const endpoints = await server.listen()
  expect(endpoints, `endpoints of ${t.scheme}://${hostPart}`).toHaveLength(1)
  expect(endpoints[0].proto).toBe(t.proto)
  expect(endpoints[0].host).toBe(host)
  expect(endpoints[0].port).toBeGreaterThan(0)
  if (at.port) expect(endpoints[0].port).toBe(at.port)
  const port = endpoints[0].port
  return {
    server, port, host, seen, hangs, sessions, closedSessions, events, errors,
    url: (p) => `${t.scheme}://${hostPart}:${port}${p}`,
    blob: () => blob,
  }
}

function snapshot(s: AnySession): AnySession {
  return { proto: s.proto, remote: s.remote, pskIdentity: s.pskIdentity, peerCommonName: s.peerCommonName }
}

// Asserts a rejection with a CoapError whose code is one of `codes`; returns it and the time taken.
async function expectRejection(promise: Promise<unknown>, codes: string[], what: string): Promise<{ err: CoapError; elapsed: number }> {
  const r = await settle(promise)
  const got = r.error === undefined ? `a resolution (${describeValue(r.value)})` : `${(r.error as CoapError).code ?? ''} ${String(r.error)}`
  expect(r.error, `${what}: expected a CoapError ${codes.join(' or ')}, got ${got}`).toBeInstanceOf(CoapError)
  expect(codes, `${what}: ${String(r.error)}`).toContain((r.error as CoapError).code)
  return { err: r.error as CoapError, elapsed: r.elapsed }
}

function describeValue(v: unknown): string {
  const r = v as { code?: string; text?: () => string } | undefined
  return r && typeof r.text === 'function' ? `${r.code} ${r.text().slice(0, 80)}` : String(v)
}

describe.each(TRANSPORTS)('$name: our client ↔ our server', (t) => {
  it('GET, PUT, POST and DELETE round trips on one connection; the handler sees the transport', async () => {
    const s = await startServer(t)
    const client = newClient(t)
    const who = await client.get(s.url('/who'))
    expect(who.code).toBe('2.05')
    expect(who.type, 'responses on reliable transports are reported as CON').toBe('CON')
    expect((who.json() as { proto: string }).proto).toBe(t.proto)
    const put = await client.put(s.url('/blob'), `stored over ${t.name}`)
    expect(put.code).toBe('2.04')
    expect((await client.get(s.url('/blob'))).text()).toBe(`stored over ${t.name}`)
    const post = await client.post(s.url('/echo'), 'posted ✓', { contentFormat: 'text/plain' })
    expect(post.ok).toBe(true)
    expect(post.text()).toBe('posted ✓')
    const del = await client.delete(s.url('/blob'))
    expect(del.code, 'no DELETE handler').toBe('4.05')
    const missing = await client.get(s.url('/no/such/resource'))
    expect(missing.code).toBe('4.04')
    // `confirmable: false` has no meaning on a reliable transport: ignored, not an error.
    const non = await client.get(s.url('/who'), { confirmable: false })
    expect(non.code).toBe('2.05')
    expect(non.type).toBe('CON')
    expect(s.seen.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /who', 'PUT /blob', 'GET /blob', 'POST /echo', 'GET /who'])
    expect(new Set(s.seen.map((r) => r.proto))).toEqual(new Set([t.proto]))
    expect(new Set(s.seen.map((r) => r.remote)).size, 'every request came over the same connection').toBe(1)
    await waitFor(() => s.sessions.length >= 1, 2000, "the server's 'session' event")
    expect(s.sessions, 'one connection for all requests').toHaveLength(1)
    expect(s.sessions[0].proto).toBe(t.proto)
    expect(s.sessions[0].remote).toBe(s.seen[0].remote)
    if (t === TLS_PSK || t === WSS_PSK) expect(s.sessions[0].pskIdentity).toBe('reliable-client')
    expect(s.errors).toEqual([])
  })

  it('bodies of 0 B, 1 B, 1 KiB, 64 KiB and 1 MiB arrive byte for byte both ways', async () => {
    const s = await startServer(t)
    const client = newClient(t, { timeout: 20_000 })
    for (const [i, size] of SIZES.entries()) {
      const body = pattern(size, i + 11)
      const put = await client.put(s.url('/blob'), body, { contentFormat: 'application/octet-stream' })
      expect(put.code, `PUT of ${size} B`).toBe('2.04')
      expectSameBytes(s.blob(), body, `${t.name}: what the server received for a PUT of ${size} B`)
      const get = await client.get(s.url('/blob'))
      expect(get.code, `GET of ${size} B`).toBe('2.05')
      expectSameBytes(get.payload, body, `${t.name}: GET of ${size} B`)
      const post = await client.post(s.url('/echo'), body)
      expect(post.ok, `POST of ${size} B`).toBe(true)
      expectSameBytes(post.payload, body, `${t.name}: POST echo of ${size} B`)
    }
    expect(new Set(s.seen.map((r) => r.remote)).size, 'one connection').toBe(1)
  })

  it('many concurrent requests, small and 64 KiB, share one connection and each gets its own answer', async () => {
    const s = await startServer(t)
    const client = newClient(t, { timeout: 20_000 })
    const N = 100
    const small = Array.from({ length: N }, (_, i) => client.get(s.url(`/n?i=${i}&t=${t.proto}`)))
    const big = Array.from({ length: 4 }, (_, i) => pattern(64 * KiB, 100 + i))
    const echoes = big.map((b) => client.post(s.url('/echo'), b))
    const [answers, echoed] = await Promise.all([Promise.all(small), Promise.all(echoes)])
    answers.forEach((r, i) => {
      expect(r.code, `request ${i}`).toBe('2.05')
      expect(r.text(), `request ${i}`).toBe(`i=${i}&t=${t.proto}`)
    })
    echoed.forEach((r, i) => expectSameBytes(r.payload, big[i], `concurrent 64 KiB echo ${i}`))
    expect(s.seen.filter((r) => r.path === '/n')).toHaveLength(N)
    expect(new Set(s.seen.map((r) => r.remote)).size, 'every request came over the same connection').toBe(1)
    await waitFor(() => s.sessions.length >= 1, 2000, "the server's 'session' event")
    expect(s.sessions).toHaveLength(1)
  })

  it('ping() opens the connection, resolves with the round-trip time, and reuses the connection', async () => {
    const s = await startServer(t)
    const client = newClient(t)
    // Over WebSockets too: libcoap 4.3.5 drops every 2-byte WebSocket message, so its 2-byte Ping
    // needs the one-line fix in coap_read_session() (`bytes_read > 2` → `>= 2`, src/coap_net.c).
    const first = await client.ping(s.url('/'), { timeout: 5000 })
    expect(typeof first).toBe('number')
    expect(first).toBeGreaterThanOrEqual(0)
    expect(first).toBeLessThan(5000)
    await waitFor(() => s.sessions.length >= 1, 2000, "the server's 'session' event after a ping")
    expect((await client.get(s.url('/who'))).code).toBe('2.05')
    const more = await Promise.all([1, 2, 3].map(() => client.ping(s.url('/'), { timeout: 5000 })))
    for (const rtt of more) {
      expect(typeof rtt).toBe('number')
      expect(rtt).toBeGreaterThanOrEqual(0)
      expect(rtt).toBeLessThan(5000)
    }
    expect(s.sessions, 'pings and the request used one connection').toHaveLength(1)
  })

  it("server events: 'session' once connected, 'session-closed' after the client closes", async () => {
    const s = await startServer(t)
    const client = new CoapClient({ timeout: 10_000, ...t.client() } as ConstructorParameters<typeof CoapClient>[0])
    cleanups.push(() => client.close())
    expect((await client.get(s.url('/who'))).code).toBe('2.05')
    await waitFor(() => s.sessions.length === 1, 2000, "the server's 'session' event")
    expect(s.sessions[0].proto).toBe(t.proto)
    expect(s.closedSessions).toHaveLength(0)
    await client.close()
    await waitFor(() => s.closedSessions.length === 1, 3000, `'session-closed' after the client closed (events: ${s.events.map(([n]) => n).join(', ')})`)
    expect(s.closedSessions[0].remote).toBe(s.sessions[0].remote)
    const names = s.events.map(([n]) => n)
    expect(names.some((n) => ['tcp-closed', 'session-closed', 'ws-closed'].includes(n)), `closing events among ${names.join(', ')}`).toBe(true)
    // A server sees its session created, then connected (CSM exchanged)...
    expect(names).toContain('server-session-new')
    expect(names).toContain('session-connected')
    if (t.proto === 'ws' || t.proto === 'wss') expect(names).toContain('ws-connected')
    // ...and, before that, the accepted connection: libcoap 4.3.5 raises COAP_EVENT_TCP_CONNECTED
    // for an incoming TCP/TLS/WebSocket connection too (coap_session.c, coap_new_server_session(),
    // just before COAP_EVENT_SERVER_SESSION_NEW; coap-server -v 7 logs both).
    expect(names, 'server events').toContain('tcp-connected')
  })

  it('server closed mid-request: pending requests reject, nothing hangs; a restarted server on the same port is reached', async () => {
    const s = await startServer(t)
    const client = newClient(t, { timeout: 6000 })
    expect((await client.get(s.url('/who'))).code).toBe('2.05')
    // settle() attaches a handler at once: a rejection is never "unhandled" while we wait.
    const pending = [1, 2, 3].map(() => settle(client.get(s.url('/hang'))))
    await waitFor(() => s.hangs.length === 3, 3000, 'the three /hang requests at the server')
    const closed = Date.now()
    await s.server.close()
    const results = await Promise.all(pending)
    results.forEach((r, i) => {
      expect(r.error, `pending request ${i} when the server closed: got ${describeValue(r.value)}`).toBeInstanceOf(CoapError)
      expect(['ERR_COAP_CONNECTION', 'ERR_COAP_CLOSED'], `pending request ${i}: ${String(r.error)}`).toContain((r.error as CoapError).code)
    })
    expect(Date.now() - closed, 'pending requests rejected promptly (not by their 6 s timeout)').toBeLessThan(3000)
    // Same port, new server: the next request opens a new connection.
    const again = await startServer(t, {}, { port: s.port })
    const res = await client.get(again.url('/who'), { timeout: 5000 })
    expect(res.code).toBe('2.05')
    expect((res.json() as { proto: string }).proto).toBe(t.proto)
    await waitFor(() => again.sessions.length === 1, 2000, "the restarted server's 'session' event")
  })

  it('connection refused rejects with ERR_COAP_CONNECTION quickly (requests and ping)', async () => {
    const port = await freePort('tcp')
    const client = newClient(t)
    const url = `${t.scheme}://${HOST}:${port}/who`
    const { elapsed, err } = await expectRejection(client.get(url, { timeout: 8000 }), ['ERR_COAP_CONNECTION'], `GET ${url} with nothing listening`)
    expect(elapsed, `fails fast, without waiting for the timeout (${err.message})`).toBeLessThan(2000)
    // The failed connection is not cached: the next attempt tries again (and fails again).
    const second = await expectRejection(client.get(url, { timeout: 8000 }), ['ERR_COAP_CONNECTION'], 'a second GET')
    expect(second.elapsed).toBeLessThan(2000)
    const ping = await expectRejection(client.ping(url, { timeout: 8000 }), ['ERR_COAP_CONNECTION'], 'ping with nothing listening')
    expect(ping.elapsed).toBeLessThan(2000)
  })
})

// A TLS server that refuses the client's key closes the connection it accepted: that is a TLS
// failure (ERR_COAP_TLS), not a lost connection.
describe.each([TLS_PSK, WSS_PSK])('$name: a wrong key', (t) => {
  it('rejects the request and ping with ERR_COAP_TLS, quickly', async () => {
    const s = await startServer(t)
    const client = newClient(undefined, { psk: { identity: 'reliable-client', key: 'not-the-key' } })
    const { err, elapsed } = await expectRejection(client.get(s.url('/who'), { timeout: 8000 }), ['ERR_COAP_TLS'], `GET over ${t.name} with a wrong key`)
    expect(err.message).toMatch(/TLS handshake with .* failed/)
    expect(elapsed).toBeLessThan(4000)
    await expectRejection(client.ping(s.url('/'), { timeout: 8000 }), ['ERR_COAP_TLS'], `ping over ${t.name} with a wrong key`)
  })
})

describe('listen and connect details', () => {
  it('coap+tcp over IPv6 [::1]', async () => {
    const s = await startServer(TCP, {}, { host: '::1' })
    const client = newClient(TCP)
    const res = await client.get(s.url('/who'))
    expect(res.code).toBe('2.05')
    expect((res.json() as { remote: string }).remote).toMatch(/^\[::1\]:\d+$/)
  })

  it('a server listening on coap://, coap+tcp:// and coap+ws:// at once serves each with its own proto', async () => {
    const server = new CoapServer({ listen: [`coap://${HOST}:0`, `coap+tcp://${HOST}:0`, `coap+ws://${HOST}:0`] } as ConstructorParameters<typeof CoapServer>[0])
    cleanups.push(() => server.close())
    server.resource('/who').get((req) => (req.session as unknown as AnySession).proto ?? 'none')
    const endpoints = await server.listen()
    expect(endpoints.map((e) => e.proto)).toEqual(['udp', 'tcp', 'ws'])
    const client = newClient(undefined)
    for (const e of endpoints) {
      const scheme = { udp: 'coap', tcp: 'coap+tcp', ws: 'coap+ws' }[e.proto as 'udp' | 'tcp' | 'ws']
      const res = await client.get(`${scheme}://${HOST}:${e.port}/who`)
      expect(res.text(), scheme).toBe(e.proto)
    }
  })

  it('a coap+ws URL path is the resource path (RFC 8323 §8.3); the endpoint /.well-known/coap is implied', async () => {
    const s = await startServer(WS)
    const client = newClient(WS)
    expect((await client.get(`coap+ws://${HOST}:${s.port}/who`)).code).toBe('2.05')
    expect(s.seen.map((r) => r.path)).toEqual(['/who'])
    // Spelling the endpoint out names a different resource, which does not exist here.
    expect((await client.get(`coap+ws://${HOST}:${s.port}/.well-known/coap/who`)).code).toBe('4.04')
    // Discovery over WebSockets reaches /.well-known/core.
    const links = await client.discover(`coap+ws://${HOST}:${s.port}`)
    expect(links.map((l) => l.href)).toContain('/who')
  })

  it('ping() over coap:// (UDP) resolves too (empty CON answered by RST)', async () => {
    const server = new CoapServer({ listen: `coap://${HOST}:0` })
    cleanups.push(() => server.close())
    const [ep] = await server.listen()
    const rtt = await newClient(undefined).ping(`coap://${HOST}:${ep.port}`, { timeout: 5000 })
    expect(typeof rtt).toBe('number')
    expect(rtt).toBeGreaterThanOrEqual(0)
    expect(rtt).toBeLessThan(5000)
  })
})

// Frames through a relay between our client and our server on coap+tcp (plain text, so the relay
// can parse every message and check its size and block options).
describe('maxMessageSize and block-wise transfer (coap+tcp through a parsing relay)', () => {
  async function relayed(serverOptions: AnyOptions, clientOptions: AnyOptions) {
    const s = await startServer(TCP, serverOptions)
    const relay = await startRelay(s.port)
    cleanups.push(() => relay.stop())
    const client = newClient(TCP, { timeout: 20_000, ...clientOptions })
    const events = clientEvents(client)
    return { s, relay, client, events, url: (p: string) => `coap+tcp://${HOST}:${relay.port}${p}` }
  }

  const blockOf = (f: RawFrame, n: number) => {
    const o = f.options.find(([num]) => num === n)
    return o ? decodeBlock(Buffer.from(o[1], 'hex')) : undefined
  }
  const requests = (frames: RawFrame[], dir: 'c2s' | 's2c') => frames.filter((f) => f.dir === dir && f.code < 0xe0)

  it("small Max-Message-Size on both sides (server 1152, client 2048): 64 KiB moves block-wise, no message exceeds the peer's limit", async () => {
    const { s, relay, client, events, url } = await relayed({ maxMessageSize: 1152 }, { maxMessageSize: 2048 })
    const body = pattern(64 * KiB, 5)
    const put = await client.put(url('/blob'), body)
    expect(put.code).toBe('2.04')
    expectSameBytes(s.blob(), body, 'server received 64 KiB')
    const get = await client.get(url('/blob'))
    expectSameBytes(get.payload, body, 'GET 64 KiB')
    const post = await client.post(url('/echo'), body)
    expectSameBytes(post.payload, body, 'POST echo 64 KiB')
    await relay.flush()

    // The CSMs announced what each side was configured with.
    const csm = (dir: 'c2s' | 's2c') => relay.frames.find((f) => f.dir === dir && f.code === Code.CSM)
    const maxMsg = (f: RawFrame | undefined) => {
      const o = f?.options.find(([n]) => n === Opt.MAX_MESSAGE_SIZE)
      return o ? decodeUint(Buffer.from(o[1], 'hex')) : undefined
    }
    expect(maxMsg(csm('c2s')), "client's CSM Max-Message-Size").toBe(2048)
    expect(maxMsg(csm('s2c')), "server's CSM Max-Message-Size").toBe(1152)

    const c2s = relay.frames.filter((f) => f.dir === 'c2s')
    const s2c = relay.frames.filter((f) => f.dir === 's2c')
    expect(Math.max(...c2s.map((f) => f.size)), 'largest client → server message').toBeLessThanOrEqual(1152)
    expect(Math.max(...s2c.map((f) => f.size)), 'largest server → client message').toBeLessThanOrEqual(2048)
    // 64 KiB up twice (PUT, POST) and down twice (GET, POST response): many messages each way.
    expect(requests(relay.frames, 'c2s').filter((f) => blockOf(f, Opt.BLOCK1)).length, 'Block1 messages').toBeGreaterThanOrEqual(2 * 56)
    expect(requests(relay.frames, 's2c').filter((f) => blockOf(f, Opt.BLOCK2)).length, 'Block2 messages').toBeGreaterThanOrEqual(2 * 28)
    expect(relay.events.filter((e) => e.type === 'parse-error'), 'the relay parsed every message').toEqual([])

    // session.maxPduSize follows the peer's CSM, on both sides.
    const connected = events.find((e) => e.name === 'session-connected')
    expect(connected, `client events: ${events.map((e) => e.name).join(', ')}`).toBeDefined()
    const clientMax = connected!.session.maxPduSize
    expect(clientMax, "client session's maxPduSize (server announced 1152)").toBeGreaterThan(1000)
    expect(clientMax).toBeLessThanOrEqual(1152)
    const serverMax = s.seen[0].maxPduSize
    expect(serverMax, "server session's maxPduSize (client announced 2048)").toBeGreaterThan(1152)
    expect(serverMax).toBeLessThanOrEqual(2048)
  })

  it('BERT (RFC 8323 §6) when both sides allow large messages: block size 1024 with several blocks per message', async () => {
    const { s, relay, client, url } = await relayed({ maxMessageSize: 8192 }, { maxMessageSize: 8192 })
    const body = pattern(64 * KiB, 6)
    expect((await client.put(url('/blob'), body)).code).toBe('2.04')
    expectSameBytes(s.blob(), body, 'server received 64 KiB')
    expectSameBytes((await client.get(url('/blob'))).payload, body, 'GET 64 KiB')
    await relay.flush()
    const up = requests(relay.frames, 'c2s').filter((f) => blockOf(f, Opt.BLOCK1))
    const down = requests(relay.frames, 's2c').filter((f) => blockOf(f, Opt.BLOCK2))
    const bert = (frames: RawFrame[], n: number) => frames.filter((f) => blockOf(f, n)!.szx === 7)
    expect(bert(up, Opt.BLOCK1).length, `Block1 SZX 7 messages among ${up.length}`).toBeGreaterThan(0)
    expect(bert(down, Opt.BLOCK2).length, `Block2 SZX 7 messages among ${down.length}`).toBeGreaterThan(0)
    for (const f of [...bert(up, Opt.BLOCK1), ...bert(down, Opt.BLOCK2)].filter((f) => blockOf(f, f.dir === 'c2s' ? Opt.BLOCK1 : Opt.BLOCK2)!.more)) {
      expect(f.payloadLength % 1024, 'a BERT payload that is not the last is a multiple of 1024').toBe(0)
    }
    expect(Math.max(...up.map((f) => f.payloadLength)), 'several 1 KiB blocks in one message').toBeGreaterThan(1024)
    expect(Math.max(...relay.frames.map((f) => f.size))).toBeLessThanOrEqual(8192)
  })

  it('maxMessageSize over coap+ws: 64 KiB still arrives byte for byte; the server session reflects the client CSM', async () => {
    const s = await startServer(WS, { maxMessageSize: 1152 })
    const client = newClient(WS, { maxMessageSize: 1152, timeout: 20_000 })
    const body = pattern(64 * KiB, 8)
    expect((await client.put(s.url('/blob'), body)).code).toBe('2.04')
    expectSameBytes(s.blob(), body, 'server received 64 KiB over ws')
    expectSameBytes((await client.get(s.url('/blob'))).payload, body, 'GET 64 KiB over ws')
    const max = s.seen[0].maxPduSize
    expect(max).toBeGreaterThan(0)
    expect(max).toBeLessThanOrEqual(1152)
  })
})

// A raw TCP client in this thread, writing to our server (which never blocks the thread).
async function rawClient(port: number) {
  const sock = net.connect({ host: HOST, port, noDelay: true })
  cleanups.push(() => void sock.destroy())
  const parser = new TcpFrameParser()
  const frames: ParsedFrame[] = []
  let parseError: unknown
  let closed = false
  sock.on('data', (d) => {
    try {
      frames.push(...(parser.push(d) as ParsedFrame[]))
    } catch (err) {
      parseError = err
    }
  })
  sock.on('error', () => {})
  sock.on('close', () => (closed = true))
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve)
    sock.once('error', reject)
  })
  return {
    frames,
    get closed() {
      return closed
    },
    get parseError() {
      return parseError
    },
    async writeByteByByte(bytes: Buffer) {
      for (const b of bytes) {
        if (closed) return
        sock.write(Buffer.from([b]))
        await sleep(1)
      }
    },
    // Waits (bounded) for a frame; undefined when none came.
    async next(pred: (f: ParsedFrame) => boolean, ms: number): Promise<ParsedFrame | undefined> {
      const until = Date.now() + ms
      for (;;) {
        const f = frames.find(pred)
        if (f || closed || Date.now() > until) return f
        await sleep(10)
      }
    },
  }
}

const hex = (b: Buffer) => b.toString('hex')
const describeFrames = (frames: ParsedFrame[]) => frames.map((f) => `${codeString(f.code)} token=${hex(f.token)} ${f.payload.length} B`).join('; ') || 'nothing'

describe('RFC 8323 framing by hand against our server', () => {
  it('a client writing CSM, GET and Ping one byte at a time gets the CSM, the response and a Pong (short messages)', async () => {
    const s = await startServer(TCP)
    const c = await rawClient(s.port)
    const token = Buffer.from('b1b2b3b4', 'hex')
    const bytes = Buffer.concat([
      encodeTcp({ code: Code.CSM, options: [[Opt.MAX_MESSAGE_SIZE, encodeUint(1152)]] }),
      encodeTcp({ code: Code.GET, token, options: [[Opt.URI_PATH, Buffer.from('n')], [Opt.URI_QUERY, Buffer.from('x=1')]] }),
      encodeTcp({ code: Code.PING }),
    ])
    expect(bytes[0] >> 4, 'CSM fits in the Len nibble').toBeLessThan(13)
    await c.writeByteByByte(bytes)
    const csm = await c.next((f) => f.code === Code.CSM, 3000)
    expect(csm, `server CSM; got ${describeFrames(c.frames)}`).toBeDefined()
    const res = await c.next((f) => f.code >> 5 === 2 && f.token.equals(token), 3000)
    expect(res, `2.xx with token ${hex(token)}; got ${describeFrames(c.frames)}`).toBeDefined()
    expect(codeString(res!.code)).toBe('2.05')
    expect(res!.payload.toString()).toBe('x=1')
    const pong = await c.next((f) => f.code === Code.PONG, 3000)
    expect(pong, `a Pong; got ${describeFrames(c.frames)}`).toBeDefined()
    expect(c.parseError).toBeUndefined()
    expect(s.seen.map((r) => `${r.method} ${r.path} ${r.proto}`)).toEqual(['GET /n tcp'])
  })

  it('one byte at a time with extended lengths (Len 13: 1-byte, Len 14: 2-byte length) still gets correct responses', async () => {
    const s = await startServer(TCP)
    const c = await rawClient(s.port)
    const t1 = Buffer.from('c1c2c3c4c5', 'hex')
    const t2 = Buffer.from('d1d2d3d4d5d6d7d8', 'hex')
    const body = pattern(300, 21)
    const get = encodeTcp({ code: Code.GET, token: t1, options: [[Opt.URI_PATH, Buffer.from('byte-at-a-time')], [Opt.URI_PATH, Buffer.from('resource-with-a-long-name')]] })
    const post = encodeTcp({ code: Code.POST, token: t2, options: [[Opt.URI_PATH, Buffer.from('echo')]], payload: body })
    expect(get[0] >> 4, 'GET uses Len 13').toBe(13)
    expect(post[0] >> 4, 'POST uses Len 14').toBe(14)
    await c.writeByteByByte(Buffer.concat([encodeTcp({ code: Code.CSM }), get, post]))
    const r1 = await c.next((f) => f.token.equals(t1), 3000)
    // libcoap 4.3.5 loses a message whose 3-6 byte header arrives in pieces (coap_net.c, TCP read:
    // `partial_read += bytes_read` after bytes_read was already reduced; fixed upstream by
    // obgm/libcoap PR #1542 "Fix TCP boundary read condition").
    expect(r1, `response to the Len-13 GET sent byte by byte; got ${describeFrames(c.frames)}${c.closed ? ' (connection closed)' : ''}`).toBeDefined()
    expect(codeString(r1!.code)).toBe('2.05')
    expect(r1!.payload.toString()).toBe('long path ok')
    const r2 = await c.next((f) => f.token.equals(t2), 3000)
    expect(r2, `response to the Len-14 POST sent byte by byte; got ${describeFrames(c.frames)}`).toBeDefined()
    expect(r2!.code >> 5).toBe(2)
    expectSameBytes(r2!.payload, body, 'echo of a 300-byte body sent byte by byte')
    expect(c.parseError).toBeUndefined()
  })

  it('a Pong carries the token of its Ping (RFC 8323 §5.4)', async () => {
    const s = await startServer(TCP)
    const c = await rawClient(s.port)
    const token = Buffer.from('a7a8', 'hex')
    await c.writeByteByByte(Buffer.concat([encodeTcp({ code: Code.CSM }), encodeTcp({ code: Code.PING, token })]))
    const pong = await c.next((f) => f.code === Code.PONG, 3000)
    expect(pong, `a Pong; got ${describeFrames(c.frames)}`).toBeDefined()
    expect(hex(pong!.token), 'Pong token (libcoap 4.3.5 sends an empty one)').toBe(hex(token))
  })

  it('a request sent before the CSM is answered once the CSM arrives (libcoap holds the response until then)', async () => {
    const s = await startServer(TCP)
    const c = await rawClient(s.port)
    const token = Buffer.from('e1', 'hex')
    await c.writeByteByByte(encodeTcp({ code: Code.GET, token, options: [[Opt.URI_PATH, Buffer.from('who')]] }))
    await waitFor(() => s.seen.length === 1, 3000, 'the early request to reach the handler')
    // RFC 8323 §5.3 wants the CSM first; libcoap handles the request but delays the response until
    // the session is established by the peer's CSM.
    expect(await c.next((f) => f.token.equals(token), 300), 'no response before our CSM').toBeUndefined()
    await c.writeByteByByte(encodeTcp({ code: Code.CSM }))
    const res = await c.next((f) => f.token.equals(token), 3000)
    expect(res, `the response after our CSM; got ${describeFrames(c.frames)}`).toBeDefined()
    expect(codeString(res!.code)).toBe('2.05')
    expect(JSON.parse(res!.payload.toString()).proto).toBe('tcp')
  })
})

describe('misbehaving RFC 8323 peers (raw servers in a worker thread)', () => {
  async function rawServer(config: Parameters<typeof startRawServer>[0]): Promise<RawPeer> {
    const peer = await startRawServer(config)
    cleanups.push(() => peer.stop())
    return peer
  }
  const CSM_1152 = { options: [[Opt.MAX_MESSAGE_SIZE, '0480'], [Opt.BLOCK_WISE_TRANSFER, '']] as Array<[number, string]> }

  it('keepalive 1 s: a peer that completes the CSM exchange, answers once and then goes silent is detected and dropped', async () => {
    const peer = await rawServer({ csm: CSM_1152, answerCount: 1, answer: { code: Code.CONTENT, payload: 'hello' }, after: 'silent', pong: false })
    const client = newClient(TCP, { keepalive: 1, maxMessageSize: 4096, timeout: 8000 })
    const events = clientEvents(client)
    const url = (p: string) => `coap+tcp://${HOST}:${peer.port}${p}`
    const hello = await client.get(url('/hello'))
    expect(hello.code).toBe('2.05')
    expect(hello.text()).toBe('hello')
    const answeredAt = Date.now()
    await peer.flush()
    // Our CSM carried our Max-Message-Size.
    const ourCsm = peer.frames.find((f) => f.code === Code.CSM)
    expect(ourCsm, 'the client sent a CSM').toBeDefined()
    const mms = ourCsm!.options.find(([n]) => n === Opt.MAX_MESSAGE_SIZE)
    expect(mms && decodeUint(Buffer.from(mms[1], 'hex')), 'CSM Max-Message-Size = maxMessageSize').toBe(4096)

    // A request the peer never answers. libcoap pings after 1 s without traffic and reports
    // 'keepalive-failure' when the next ping is due and the previous one got no Pong (~2 s);
    // the connection is then closed, which fails the request long before its 8 s timeout.
    const hang = settle(client.get(url('/hang')))
    await waitFor(() => events.some((e) => e.name === 'keepalive-failure'), 6000, `'keepalive-failure' (client events: ${events.map((e) => e.name).join(', ')})`)
    const failure = events.find((e) => e.name === 'keepalive-failure')!
    expect(failure.at - answeredAt, 'keepalive-failure after about two keepalive periods').toBeGreaterThan(1000)
    expect(failure.at - answeredAt).toBeLessThan(5000)
    await peer.flush()
    expect(peer.frames.filter((f) => f.code === Code.PING).length, 'the client pinged before giving up').toBeGreaterThanOrEqual(1)
    const r = await hang
    expect(r.error, `the pending request: got ${describeValue(r.value)}`).toBeInstanceOf(CoapError)
    expect((r.error as CoapError).code, String(r.error)).toBe('ERR_COAP_CONNECTION')
    expect(r.elapsed, `rejected by the keepalive failure, not by its 8 s timeout (${String(r.error)})`).toBeLessThan(6000)
    await peer.waitFor(() => peer.closes.some((c) => c.conn === 0), 3000, 'the client to close the dead connection')

    // The next request opens a new connection (the peer answers the first request of each).
    const again = await client.get(url('/hello'), { timeout: 5000 })
    expect(again.text()).toBe('hello')
    expect(peer.connections).toBe(2)
  })

  it('ping() rejects with ERR_COAP_TIMEOUT when no Pong comes', async () => {
    const peer = await rawServer({ csm: CSM_1152, answerCount: 1, answer: { code: Code.CONTENT, payload: 'up' }, pong: false })
    const client = newClient(TCP)
    expect((await client.get(`coap+tcp://${HOST}:${peer.port}/`)).text()).toBe('up')
    const { elapsed } = await expectRejection(client.ping(`coap+tcp://${HOST}:${peer.port}`, { timeout: 700 }), ['ERR_COAP_TIMEOUT'], 'ping to a peer that never pongs')
    expect(elapsed).toBeGreaterThanOrEqual(600)
    expect(elapsed).toBeLessThan(2500)
    await peer.waitFor(() => peer.frames.some((f) => f.code === Code.PING), 2000, 'the Ping at the peer')
  })

  it('ping() resolves against a hand-made peer that answers Pings', async () => {
    const peer = await rawServer({ csm: CSM_1152, pong: true })
    const rtt = await newClient(TCP).ping(`coap+tcp://${HOST}:${peer.port}`, { timeout: 5000 })
    expect(rtt).toBeGreaterThanOrEqual(0)
    expect(rtt).toBeLessThan(5000)
    await peer.flush()
    expect(peer.frames.map((f) => codeString(f.code))).toEqual(['7.01', '7.02'])
  })

  it('an Abort (7.05) from the peer rejects every pending request at once; the next request reconnects', async () => {
    const peer = await rawServer({
      csm: CSM_1152,
      answerCount: 0,
      after: 'abort',
      abort: { diagnostic: 'going away', closeAfterMs: 3000 },
    })
    const client = newClient(TCP, { timeout: 6000 })
    const url = `coap+tcp://${HOST}:${peer.port}/x`
    const pending = [1, 2, 3].map(() => settle(client.get(url)))
    const results = await Promise.all(pending)
    results.forEach((r, i) => {
      const err = r.error as CoapError
      expect(err, `request ${i} pending when the peer sent Abort: got ${describeValue(r.value)}`).toBeInstanceOf(CoapError)
      expect(err.code, `request ${i}: ${String(err)}`).toBe('ERR_COAP_CONNECTION')
      // The peer keeps the socket open for 3 s after its Abort: the Abort itself must end the requests.
      expect(r.elapsed, `request ${i} rejected by the Abort, not by the peer closing later or the timeout (${err.message})`).toBeLessThan(2500)
      expect(err.message, 'the error says what happened').toMatch(/abort|closed|connection/i)
    })
    await peer.flush()
    expect(peer.events.some((e) => e.type === 'sent-abort')).toBe(true)
    await peer.waitFor(() => peer.closes.length >= 1, 5000, 'the aborted connection to close')
    // The next request opens a new connection (which the peer aborts again).
    await expectRejection(client.get(url, { timeout: 5000 }), ['ERR_COAP_CONNECTION'], 'a request on a new connection, aborted again')
    expect(peer.connections).toBe(2)
  })

  it('a peer that resets the connection mid-request rejects it with ERR_COAP_CONNECTION', async () => {
    const peer = await rawServer({ csm: CSM_1152, answerCount: 0, after: 'reset' })
    const client = newClient(TCP, { timeout: 10_000 })
    const { elapsed } = await expectRejection(client.get(`coap+tcp://${HOST}:${peer.port}/x`), ['ERR_COAP_CONNECTION'], 'a request whose connection was reset')
    expect(elapsed).toBeLessThan(2000)
  })

  it('a peer that accepts but never sends its CSM: the request still ends within its timeout', async () => {
    const peer = await rawServer({ csm: null, answerCount: 0 })
    const client = newClient(TCP)
    const started = Date.now()
    const r = await settle(client.get(`coap+tcp://${HOST}:${peer.port}/x`, { timeout: 1500 }))
    expect(r.error, `expected a rejection, got ${describeValue(r.value)}`).toBeInstanceOf(CoapError)
    expect(['ERR_COAP_TIMEOUT', 'ERR_COAP_CONNECTION']).toContain((r.error as CoapError).code)
    expect(Date.now() - started, 'bounded by the request timeout').toBeLessThan(1500 + 2500)
  })
})
