// Our CoapClient ↔ our CoapServer over DTLS (PSK and PKI) on loopback, real sockets only.
// Keys and certificates are generated at test time by test/helpers/certs.ts (openssl CLI).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import * as crypto from 'node:crypto'
import * as dgram from 'node:dgram'
import * as tls from 'node:tls'
import { CoapClient, CoapError, CoapServer, capabilities, versions } from '../dist/index.js'
import type { CoapRequest } from '../dist/index.js'
import { Context } from '../dist/core/index.js'
import { makePki, type Pki } from './helpers/certs'
import { expectSameBytes, pattern, sleep } from './helpers/bytes'

// Loosely typed on purpose: these are the DTLS options of the API under test.
type AnyOptions = Record<string, unknown>
type AnySession = {
  pskIdentity?: string
  peerCommonName?: string
  proto?: string
  remote?: string
}

// Timeout for requests expected to fail. A wrong PSK key is only noticed when it runs out (DTLS
// silently drops records it cannot decrypt), so it is kept short; loopback handshakes take ms.
const FAIL_TIMEOUT = 2500

// Waits (bounded) until `cond()` holds.
async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(20)
  }
}

// Asserts a rejection with ERR_COAP_DTLS_HANDSHAKE, within the request's timeout (plus slack for
// the event loop), and returns the error and how long it took.
async function expectHandshakeError(
  promise: Promise<unknown>,
  timeout: number,
  opts: { fasterThan?: number } = {},
): Promise<{ err: CoapError; elapsed: number }> {
  const started = Date.now()
  let caught: unknown
  let value: unknown
  try {
    value = await promise
  } catch (err) {
    caught = err
  }
  const elapsed = Date.now() - started
  expect(caught, `expected ERR_COAP_DTLS_HANDSHAKE, got a ${caught === undefined ? `resolution (${describeValue(value)})` : 'different rejection'}`).toBeInstanceOf(CoapError)
  expect((caught as CoapError).code, (caught as Error).message).toBe('ERR_COAP_DTLS_HANDSHAKE')
  expect(elapsed, 'rejected within the request timeout').toBeLessThan(timeout + 1500)
  if (opts.fasterThan !== undefined) expect(elapsed, 'fails fast, without waiting for the timeout').toBeLessThan(opts.fasterThan)
  return { err: caught as CoapError, elapsed }
}

function describeValue(v: unknown): string {
  const r = v as { code?: string; text?: () => string } | undefined
  return r && typeof r.text === 'function' ? `${r.code} ${r.text()}` : String(v)
}

let pki: Pki
beforeAll(async () => {
  pki = await makePki()
})
afterAll(() => pki?.cleanup())

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

function newClient(options: AnyOptions): CoapClient {
  const client = new CoapClient(options as ConstructorParameters<typeof CoapClient>[0])
  cleanups.push(() => client.close())
  return client
}

interface Started {
  server: CoapServer
  port: number
  host: string
  url: (path: string) => string
  seen: CoapRequest[]
  sessions: AnySession[]
  closedSessions: AnySession[]
  events: Array<[string, AnySession]>
}

// A DTLS server with:
//   /who   GET: JSON { psk, cn, proto } of the request's session
//   /echo  PUT/POST: answers with the request body
//   /blob  GET/PUT: stores a body, returns it
async function startServer(options: AnyOptions, host = '127.0.0.1'): Promise<Started> {
  const hostPart = host.includes(':') ? `[${host}]` : host
  const server = new CoapServer({ listen: `coaps://${hostPart}:0`, ...options } as ConstructorParameters<typeof CoapServer>[0])
  cleanups.push(() => server.close())
  const seen: CoapRequest[] = []
  const sessions: AnySession[] = []
  const closedSessions: AnySession[] = []
  const events: Array<[string, AnySession]> = []
  const on = server.on.bind(server) as (name: string, fn: (...args: any[]) => void) => unknown
  // Snapshots taken while the listener runs: what a listener can read at that moment.
  on('session', (s: AnySession) => sessions.push(snapshot(s)))
  on('session-closed', (s: AnySession) => closedSessions.push(snapshot(s)))
  on('event', (name: string, s: AnySession) => events.push([name, snapshot(s)]))
  server.on('error', () => {})
  let blob = Buffer.alloc(0)
  server.resource('/who').get((req) => {
    seen.push(req)
    const s = req.session as unknown as AnySession
    return JSON.stringify({ psk: s.pskIdentity ?? null, cn: s.peerCommonName ?? null, proto: s.proto ?? null })
  })
  server
    .resource('/echo')
    .put((req) => {
      seen.push(req)
      return { payload: req.payload }
    })
    .post((req) => {
      seen.push(req)
      return { payload: req.payload }
    })
  server
    .resource('/blob')
    .get(() => blob)
    .put((req) => {
      blob = Buffer.from(req.payload)
    })
  const endpoints = await server.listen()
  const dtls = endpoints.find((e) => e.proto === 'dtls')
  expect(dtls, `a dtls endpoint among ${JSON.stringify(endpoints)}`).toBeDefined()
  expect(dtls!.host).toBe(host)
  expect(dtls!.port).toBeGreaterThan(0)
  const port = dtls!.port
  return { server, port, host, url: (p) => `coaps://${hostPart}:${port}${p}`, seen, sessions, closedSessions, events }
}

function snapshot(s: AnySession): AnySession {
  return { pskIdentity: s.pskIdentity, peerCommonName: s.peerCommonName, proto: s.proto, remote: s.remote }
}

async function who(client: CoapClient, url: string, timeout = 8000): Promise<{ psk: string | null; cn: string | null; proto: string | null }> {
  const res = await client.get(url, { timeout })
  expect(res.code, res.text()).toBe('2.05')
  return res.json() as { psk: string | null; cn: string | null; proto: string | null }
}

// A UDP socket that takes datagrams and never answers (a peer that does not speak DTLS).
async function silentPeer(): Promise<{ port: number; received: () => number }> {
  const sock = dgram.createSocket('udp4')
  let count = 0
  sock.on('message', () => count++)
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject)
    sock.bind(0, '127.0.0.1', () => resolve())
  })
  cleanups.push(() => new Promise<void>((resolve) => sock.close(() => resolve())))
  return { port: sock.address().port, received: () => count }
}

// A UDP relay between one client and a server on 127.0.0.1:target that drops the datagrams the
// predicates pick (index counts datagrams in that direction, from 0). DTLS record content types:
// 22 handshake, 23 application data, 21 alert.
async function lossyRelay(
  target: number,
  drop: { toServer?: (msg: Buffer, index: number) => boolean; toClient?: (msg: Buffer, index: number) => boolean },
): Promise<{ port: number; stats: () => { toServer: number; toClient: number; dropped: number } }> {
  const front = dgram.createSocket('udp4')
  const back = dgram.createSocket('udp4')
  const bind = (sock: dgram.Socket) =>
    new Promise<void>((resolve, reject) => {
      sock.once('error', reject)
      sock.bind(0, '127.0.0.1', () => resolve())
    })
  await Promise.all([bind(front), bind(back)])
  cleanups.push(() => new Promise<void>((resolve) => front.close(() => resolve())))
  cleanups.push(() => new Promise<void>((resolve) => back.close(() => resolve())))
  let client: { address: string; port: number } | undefined
  let toServer = 0
  let toClient = 0
  let dropped = 0
  front.on('message', (msg, rinfo) => {
    client = { address: rinfo.address, port: rinfo.port }
    if (drop.toServer?.(msg, toServer++)) dropped++
    else back.send(msg, target, '127.0.0.1')
  })
  back.on('message', (msg) => {
    if (drop.toClient?.(msg, toClient++)) dropped++
    else if (client) front.send(msg, client.port, client.address)
  })
  return { port: front.address().port, stats: () => ({ toServer, toClient, dropped }) }
}

describe('capabilities', () => {
  it('reports DTLS with PSK and PKI (and, with OpenSSL, no RPK and no CID)', () => {
    expect(typeof capabilities).toBe('function')
    const caps = capabilities() as unknown as Record<string, unknown>
    expect(Object.keys(caps).sort()).toEqual(['cid', 'dtls', 'oscore', 'pki', 'psk', 'rpk', 'tcp', 'tls', 'ws', 'wss'])
    for (const [k, v] of Object.entries(caps)) expect(typeof v, k).toBe('boolean')
    expect(caps).toMatchObject({ dtls: true, psk: true, pki: true })
    if (versions().dtlsBackend === 'openssl') expect(caps).toMatchObject({ rpk: false, cid: false })
  })
})

describe('DTLS-PSK', () => {
  it('a ping as the first thing on a new session waits for the handshake, then measures the round trip', async () => {
    const s = await startServer({ psk: { key: 'ping-key' } })
    const ctx = new Context()
    cleanups.push(() => ctx.close())
    const session = ctx.newClientSession({ proto: 'dtls', remote: { host: '127.0.0.1', port: s.port }, psk: { identity: 'pinger', key: 'ping-key' } })
    const rtt = await ctx.ping(session, { timeout: FAIL_TIMEOUT * 2 })
    expect(rtt).toBeGreaterThan(0)
    expect(session.state).toBe('established')
  })

  it('GET and PUT round trip with the default key; the handler and the session event see the identity', async () => {
    const s = await startServer({ psk: { hint: 'srv-hint', key: 'secret-key-1' } })
    const client = newClient({ timeout: 8000, psk: { identity: 'alice', key: 'secret-key-1' } })
    expect(await who(client, s.url('/who'))).toEqual({ psk: 'alice', cn: null, proto: 'dtls' })
    const put = await client.put(s.url('/echo'), 'over DTLS ✓')
    expect(put.code).toBe('2.04')
    expect(put.text()).toBe('over DTLS ✓')
    expect(s.seen.map((r) => r.method)).toEqual(['GET', 'PUT'])
    expect(s.seen[1].text()).toBe('over DTLS ✓')
    expect((s.seen[1].session as unknown as AnySession).pskIdentity).toBe('alice')
    // One session for both requests, announced once the handshake is done.
    await waitFor(() => s.sessions.length > 0, 2000, "the 'session' event")
    expect(s.sessions).toHaveLength(1)
    expect(s.sessions[0].pskIdentity).toBe('alice')
    expect(s.sessions[0].proto).toBe('dtls')
    expect(s.sessions[0].remote).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(s.sessions[0].remote).toBe((s.seen[0].session as unknown as AnySession).remote)
    expect(s.events.map(([n]) => n)).toContain('dtls-connected')
  })

  it('identity and key as Buffers (binary key with zero bytes) work', async () => {
    const key = Buffer.from('00ff00102030405060708090a0b0c0d0', 'hex')
    const s = await startServer({ psk: { key } })
    const client = newClient({ timeout: 8000, psk: { identity: Buffer.from('buffer-identity'), key: Buffer.from(key) } })
    expect((await who(client, s.url('/who'))).psk).toBe('buffer-identity')
    // A key that differs only in its last byte is a different key.
    const wrong = Buffer.from(key)
    wrong[wrong.length - 1] ^= 1
    const bad = newClient({ psk: { identity: 'buffer-identity', key: wrong } })
    await expectHandshakeError(bad.get(s.url('/who'), { timeout: FAIL_TIMEOUT }), FAIL_TIMEOUT)
  })

  it('a keys map (Record) gives each identity its own key', async () => {
    const s = await startServer({ psk: { hint: 'h', keys: { alice: 'key-of-alice', bob: Buffer.from('key-of-bob') } } })
    const alice = newClient({ timeout: 8000, psk: { identity: 'alice', key: 'key-of-alice' } })
    const bob = newClient({ timeout: 8000, psk: { identity: 'bob', key: Buffer.from('key-of-bob') } })
    const [a, b] = await Promise.all([who(alice, s.url('/who')), who(bob, s.url('/who'))])
    expect(a.psk).toBe('alice')
    expect(b.psk).toBe('bob')
    await waitFor(() => s.sessions.length >= 2, 2000, "two 'session' events")
    expect(s.sessions.map((x) => x.pskIdentity).sort()).toEqual(['alice', 'bob'])
    // bob's key under alice's name is refused.
    const mallory = newClient({ psk: { identity: 'alice', key: 'key-of-bob' } })
    await expectHandshakeError(mallory.get(s.url('/who'), { timeout: FAIL_TIMEOUT }), FAIL_TIMEOUT)
  })

  it('a keys Map works the same', async () => {
    const s = await startServer({ psk: { keys: new Map<string, string | Buffer>([['carol', 'key-of-carol']]) } })
    const carol = newClient({ timeout: 8000, psk: { identity: 'carol', key: 'key-of-carol' } })
    expect((await who(carol, s.url('/who'))).psk).toBe('carol')
  })

  it('a keys callback is asked for the identity; undefined refuses it', async () => {
    const asked: string[] = []
    const s = await startServer({
      psk: {
        keys: (identity: string) => {
          asked.push(identity)
          return identity.startsWith('dev-') ? `key-for-${identity}` : undefined
        },
      },
    })
    const dev = newClient({ timeout: 8000, psk: { identity: 'dev-7', key: 'key-for-dev-7' } })
    expect((await who(dev, s.url('/who'))).psk).toBe('dev-7')
    expect(asked).toContain('dev-7')
    const intruder = newClient({ psk: { identity: 'intruder', key: 'key-for-intruder' } })
    await expectHandshakeError(intruder.get(s.url('/who'), { timeout: FAIL_TIMEOUT }), FAIL_TIMEOUT)
    expect(asked).toContain('intruder')
    expect(s.seen.map((r) => (r.session as unknown as AnySession).pskIdentity)).toEqual(['dev-7'])
    expect(s.sessions.map((x) => x.pskIdentity)).toEqual(['dev-7'])
  })

  it("the client's onHint sees the server's hint and can choose identity and key", async () => {
    const s = await startServer({ psk: { hint: 'tenant-42', keys: { 'device-of-42': 'key-42' } } })
    const hints: string[] = []
    const client = newClient({
      timeout: 8000,
      psk: {
        identity: 'default-identity',
        key: 'default-key',
        onHint: (hint: string) => {
          hints.push(hint)
          return hint === 'tenant-42' ? { identity: 'device-of-42', key: 'key-42' } : undefined
        },
      },
    })
    expect((await who(client, s.url('/who'))).psk).toBe('device-of-42')
    expect(hints).toEqual(['tenant-42'])
  })

  it('SNI selects the server hint and key; without SNI the default applies', async () => {
    const s = await startServer({
      psk: { hint: 'default-hint', key: 'default-key', sni: { 'tenant-a.example': { hint: 'hint-a', key: 'key-a' } } },
    })
    const hintsA: string[] = []
    const a = newClient({
      timeout: 8000,
      psk: { identity: 'id-a', key: 'key-a', sni: 'tenant-a.example', onHint: (h: string) => void hintsA.push(h) },
    })
    expect((await who(a, s.url('/who'))).psk).toBe('id-a')
    expect(hintsA).toEqual(['hint-a'])
    const plain = newClient({ timeout: 8000, psk: { identity: 'id-plain', key: 'default-key' } })
    expect((await who(plain, s.url('/who'))).psk).toBe('id-plain')
    // The default key is not valid for tenant-a.
    const wrong = newClient({ psk: { identity: 'id-a2', key: 'default-key', sni: 'tenant-a.example' } })
    await expectHandshakeError(wrong.get(s.url('/who'), { timeout: FAIL_TIMEOUT }), FAIL_TIMEOUT)
  })

  it('lib/core: Context.newClientSession({ proto: "dtls", psk }) sends over DTLS', async () => {
    const s = await startServer({ psk: { key: 'core-key' } })
    const ctx = new Context()
    cleanups.push(() => ctx.close())
    const session = ctx.newClientSession({ proto: 'dtls', remote: { host: '127.0.0.1', port: s.port }, psk: { identity: 'core-user', key: 'core-key' } } as Parameters<Context['newClientSession']>[0])
    expect(session.proto).toBe('dtls')
    const pdu = await ctx.send(session, { method: 'GET', options: [[11, Buffer.from('who')]] }, { timeout: 8000 })
    expect(pdu.codeString).toBe('2.05')
    expect(JSON.parse(pdu.payload.toString())).toEqual({ psk: 'core-user', cn: null, proto: 'dtls' })
    expect(session.state).toBe('established')
    session.release()
    const bad = ctx.newClientSession({ proto: 'dtls', remote: { host: '127.0.0.1', port: s.port }, psk: { identity: 'core-user', key: 'not-the-key' } } as Parameters<Context['newClientSession']>[0])
    await expectHandshakeError(ctx.send(bad, { method: 'GET', options: [[11, Buffer.from('who')]] }, { timeout: FAIL_TIMEOUT }), FAIL_TIMEOUT)
    bad.release()
  })

  it('a server listening on coap:// and coaps:// serves both; the UDP session has no identity', async () => {
    const server = new CoapServer({ listen: ['coap://127.0.0.1:0', 'coaps://127.0.0.1:0'], psk: { key: 'mixed-key' } } as ConstructorParameters<typeof CoapServer>[0])
    cleanups.push(() => server.close())
    server.resource('/who').get((req) => {
      const s = req.session as unknown as AnySession
      return JSON.stringify({ psk: s.pskIdentity ?? null, proto: s.proto ?? null })
    })
    const endpoints = await server.listen()
    expect(endpoints.map((e) => e.proto)).toEqual(['udp', 'dtls'])
    const [udp, dtls] = endpoints
    expect(udp.port).not.toBe(dtls.port)
    const client = newClient({ timeout: 8000, psk: { identity: 'mixed', key: 'mixed-key' } })
    const plain = await client.get(`coap://127.0.0.1:${udp.port}/who`)
    expect(plain.json()).toEqual({ psk: null, proto: 'udp' })
    const secure = await client.get(`coaps://127.0.0.1:${dtls.port}/who`)
    expect(secure.json()).toEqual({ psk: 'mixed', proto: 'dtls' })
  })

  it("closing the client ends the DTLS session: the server emits 'session-closed'", async () => {
    const s = await startServer({ psk: { key: 'k' } })
    const client = new CoapClient({ timeout: 8000, psk: { identity: 'leaver', key: 'k' } } as ConstructorParameters<typeof CoapClient>[0])
    cleanups.push(() => client.close())
    expect((await who(client, s.url('/who'))).psk).toBe('leaver')
    await waitFor(() => s.sessions.length === 1, 2000, "the 'session' event")
    expect(s.closedSessions).toHaveLength(0)
    await client.close()
    await waitFor(() => s.closedSessions.length === 1, 5000, "'session-closed' after the client closed (close_notify)")
    expect(s.closedSessions[0].pskIdentity).toBe('leaver')
    expect(s.closedSessions[0].remote).toBe(s.sessions[0].remote)
    expect(s.events.map(([n]) => n)).toContain('dtls-closed')
  })

  it("'session' and 'session-closed' pair up: a failed handshake emits neither", async () => {
    const s = await startServer({ psk: { keys: { member: 'member-key' } } })
    const stranger = newClient({ psk: { identity: 'stranger', key: 'member-key' } })
    await expectHandshakeError(stranger.get(s.url('/who'), { timeout: FAIL_TIMEOUT }), FAIL_TIMEOUT)
    // The refused handshake is over on the server once it reports it (OpenSSL: 'dtls-error';
    // GnuTLS: 'dtls-closed') and drops the session.
    await waitFor(() => s.events.some(([n]) => n === 'dtls-error' || n === 'dtls-closed'), 2000, "the server's 'dtls-error'/'dtls-closed' event")
    await sleep(200)
    const member = new CoapClient({ timeout: 8000, psk: { identity: 'member', key: 'member-key' } } as ConstructorParameters<typeof CoapClient>[0])
    cleanups.push(() => member.close())
    expect((await who(member, s.url('/who'))).psk).toBe('member')
    await member.close()
    await waitFor(() => s.closedSessions.some((x) => x.pskIdentity === 'member'), 5000, "'session-closed' for member")
    await sleep(100)
    expect(s.sessions.map((x) => x.pskIdentity)).toEqual(['member'])
    expect(s.closedSessions.map((x) => x.pskIdentity), "'session-closed' without a 'session' before it").toEqual(['member'])
  })

  it('maxIdleSessions: a new session beyond the limit ends the oldest idle one', async () => {
    const s = await startServer({ psk: { key: 'idle-key' }, maxIdleSessions: 2 })
    for (let i = 0; i < 3; i++) {
      const client = newClient({ timeout: 8000, psk: { identity: `idle-${i}`, key: 'idle-key' } })
      expect((await who(client, s.url('/who'))).psk).toBe(`idle-${i}`)
      await sleep(20) // distinct last-activity times
    }
    await waitFor(() => s.closedSessions.length > 0, 3000, "'session-closed' for the oldest idle session")
    await sleep(100)
    expect(s.closedSessions.map((x) => x.pskIdentity)).toEqual(['idle-0'])
    expect(s.sessions.map((x) => x.pskIdentity)).toEqual(['idle-0', 'idle-1', 'idle-2'])
  })

  it('64 KiB both ways (block-wise over DTLS) arrive byte for byte', async () => {
    const s = await startServer({ psk: { key: 'bulk-key' } })
    const client = newClient({ timeout: 20_000, psk: { identity: 'bulk', key: 'bulk-key' } })
    const up = pattern(64 * 1024, 1)
    const put = await client.put(s.url('/blob'), up, { contentFormat: 'application/octet-stream' })
    expect(put.code).toBe('2.04')
    const get = await client.get(s.url('/blob'))
    expect(get.code).toBe('2.05')
    expectSameBytes(get.payload, up, '64 KiB GET')
    const down = pattern(64 * 1024, 2)
    const echoed = await client.post(s.url('/echo'), down)
    expect(echoed.code).toBe('2.01')
    expectSameBytes(echoed.payload, down, '64 KiB POST echo')
  })
})

describe('DTLS-PKI', () => {
  it('the client verifies the server certificate with the CA (paths, PEM strings and Buffers)', async () => {
    const s = await startServer({ pki: { cert: pki.server.cert.pem, key: pki.server.key.pem.toString('utf8') } })
    const byPath = newClient({ timeout: 8000, pki: { ca: pki.ca.path } })
    expect(await who(byPath, s.url('/who'))).toEqual({ psk: null, cn: null, proto: 'dtls' })
    const byString = newClient({ timeout: 8000, pki: { ca: pki.ca.pem.toString('utf8') } })
    expect((await who(byString, s.url('/who'))).proto).toBe('dtls')
    const byBuffer = newClient({ timeout: 8000, pki: { ca: pki.ca.pem } })
    const put = await byBuffer.put(s.url('/echo'), 'pki body')
    expect(put.text()).toBe('pki body')
    await waitFor(() => s.sessions.length === 3, 2000, "three 'session' events")
  })

  it('mutual authentication: the server sees the client certificate CN, onCommonName is asked', async () => {
    const calls: Array<[string, { depth: number; validated: boolean }]> = []
    const s = await startServer({
      pki: {
        cert: pki.server.cert.path,
        key: pki.server.key.path,
        ca: pki.ca.path,
        onCommonName: (cn: string, info: { depth: number; validated: boolean }) => {
          calls.push([cn, info])
          return true
        },
      },
    })
    const client = newClient({ timeout: 8000, pki: { ca: pki.ca.path, cert: pki.client.cert.path, key: pki.client.key.path } })
    expect(await who(client, s.url('/who'))).toEqual({ psk: null, cn: 'client1', proto: 'dtls' })
    const leaf = calls.find(([cn]) => cn === 'client1')
    expect(leaf, `onCommonName calls: ${JSON.stringify(calls)}`).toBeDefined()
    expect(leaf![1].depth).toBe(0)
    expect(leaf![1].validated).toBe(true)
    await waitFor(() => s.sessions.length === 1, 2000, "the 'session' event")
    expect(s.sessions[0].peerCommonName).toBe('client1')
  })

  it('onCommonName returning false refuses the client', async () => {
    const s = await startServer({
      pki: { cert: pki.server.cert.pem, key: pki.server.key.pem, ca: pki.ca.pem, onCommonName: (cn: string) => cn !== 'client1' },
    })
    const client = newClient({ pki: { ca: pki.ca.pem, cert: pki.client.cert.pem, key: pki.client.key.pem } })
    await expectHandshakeError(client.get(s.url('/who'), { timeout: 4000 }), 4000)
    expect(s.seen).toHaveLength(0)
    expect(s.sessions).toHaveLength(0)
  })

  it('with a CA configured the server requires a client certificate from that CA, and keeps serving', async () => {
    const s = await startServer({ pki: { cert: pki.server.cert.pem, key: pki.server.key.pem, ca: pki.ca.pem } })
    const noCert = newClient({ pki: { ca: pki.ca.pem } })
    await expectHandshakeError(noCert.get(s.url('/who'), { timeout: 4000 }), 4000)
    const foreign = newClient({ pki: { ca: pki.ca.pem, cert: pki.wrongCa.server.cert.pem, key: pki.wrongCa.server.key.pem } })
    await expectHandshakeError(foreign.get(s.url('/who'), { timeout: 4000 }), 4000)
    expect(s.seen).toHaveLength(0)
    // The refusals show on the server as events (OpenSSL: 'dtls-error'; GnuTLS: 'dtls-closed'),
    // and not as sessions.
    await waitFor(() => s.events.some(([n]) => n === 'dtls-error' || n === 'dtls-closed'), 2000, "a 'dtls-error'/'dtls-closed' event on the server")
    expect(s.sessions).toHaveLength(0)
    const good = newClient({ timeout: 8000, pki: { ca: pki.ca.pem, cert: pki.client.cert.pem, key: pki.client.key.pem } })
    expect((await who(good, s.url('/who'))).cn).toBe('client1')
    expect(s.sessions.map((x) => x.peerCommonName)).toEqual(['client1'])
  })

  it('verifyPeer: false on the server accepts a client without a certificate even with a CA', async () => {
    const s = await startServer({ pki: { cert: pki.server.cert.pem, key: pki.server.key.pem, ca: pki.ca.pem, verifyPeer: false } })
    const client = newClient({ timeout: 8000, pki: { ca: pki.ca.pem } })
    expect((await who(client, s.url('/who'))).cn).toBe(null)
  })

  it('over IPv6: the server certificate (SAN IP:::1) matches coaps://[::1]', async () => {
    const s = await startServer({ pki: { cert: pki.server.cert.pem, key: pki.server.key.pem } }, '::1')
    const client = newClient({ timeout: 8000, pki: { ca: pki.ca.pem } })
    expect((await who(client, s.url('/who'))).proto).toBe('dtls')
    expect((s.seen[0].session as unknown as AnySession).remote).toMatch(/^\[::1\]:\d+$/)
  })
})

describe('handshake failures reject with ERR_COAP_DTLS_HANDSHAKE within the timeout', () => {
  it('wrong PSK key', async () => {
    const s = await startServer({ psk: { key: 'right-key' } })
    const client = newClient({ psk: { identity: 'eve', key: 'wrong-key' } })
    await expectHandshakeError(client.get(s.url('/who'), { timeout: FAIL_TIMEOUT }), FAIL_TIMEOUT)
    expect(s.seen).toHaveLength(0)
    expect(s.sessions).toHaveLength(0)
  })

  it('unknown PSK identity (keys map without it)', async () => {
    const s = await startServer({ psk: { keys: { known: 'shared' } } })
    const client = newClient({ psk: { identity: 'unknown', key: 'shared' } })
    await expectHandshakeError(client.get(s.url('/who'), { timeout: FAIL_TIMEOUT }), FAIL_TIMEOUT)
    expect(s.seen).toHaveLength(0)
  })

  it('server certificate from an unrelated CA: fails fast, well before the timeout', async () => {
    const s = await startServer({ pki: { cert: pki.wrongCa.server.cert.pem, key: pki.wrongCa.server.key.pem } })
    const client = newClient({ pki: { ca: pki.ca.pem } })
    await expectHandshakeError(client.get(s.url('/who'), { timeout: 8000 }), 8000, { fasterThan: 2500 })
    expect(s.seen).toHaveLength(0)
    // The same server is fine for a client that does not verify.
    const lax = newClient({ timeout: 8000, pki: { verifyPeer: false } })
    expect((await who(lax, s.url('/who'))).proto).toBe('dtls')
  })

  it('CN/SAN mismatch (other.example for 127.0.0.1); checkCommonName: false accepts it', async () => {
    const s = await startServer({ pki: { cert: pki.mismatch.cert.pem, key: pki.mismatch.key.pem } })
    const strict = newClient({ pki: { ca: pki.ca.pem } })
    await expectHandshakeError(strict.get(s.url('/who'), { timeout: 4000 }), 4000)
    const lax = newClient({ timeout: 8000, pki: { ca: pki.ca.pem, checkCommonName: false } })
    expect((await who(lax, s.url('/who'))).proto).toBe('dtls')
    expect(s.seen).toHaveLength(1)
  })

  it('expired server certificate; allowExpired: true accepts it', async () => {
    const s = await startServer({ pki: { cert: pki.expired.cert.pem, key: pki.expired.key.pem } })
    const strict = newClient({ pki: { ca: pki.ca.pem } })
    await expectHandshakeError(strict.get(s.url('/who'), { timeout: 4000 }), 4000)
    const lax = newClient({ timeout: 8000, pki: { ca: pki.ca.pem, allowExpired: true } })
    expect((await who(lax, s.url('/who'))).proto).toBe('dtls')
  })

  it('self-signed server certificate; allowSelfSigned: true accepts it', async () => {
    const s = await startServer({ pki: { cert: pki.selfSigned.cert.pem, key: pki.selfSigned.key.pem } })
    const withCa = newClient({ pki: { ca: pki.ca.pem } })
    await expectHandshakeError(withCa.get(s.url('/who'), { timeout: 4000 }), 4000)
    // Without a CA (the system's trusted CAs then apply) it is refused too.
    const noCa = newClient({ pki: {} })
    await expectHandshakeError(noCa.get(s.url('/who'), { timeout: 4000 }), 4000)
    const lax = newClient({ timeout: 8000, pki: { allowSelfSigned: true } })
    expect((await who(lax, s.url('/who'))).proto).toBe('dtls')
  })

  it('a peer that never answers: the message says the handshake did not complete', async () => {
    const peer = await silentPeer()
    const client = newClient({ psk: { identity: 'x', key: 'y' } })
    const { err, elapsed } = await expectHandshakeError(client.get(`coaps://127.0.0.1:${peer.port}/who`, { timeout: 2500 }), 2500)
    expect(elapsed).toBeGreaterThanOrEqual(2400)
    expect(err.message).toMatch(/handshake/i)
    expect(err.message).toMatch(/did not complete|not complete|incomplete/i)
    // The ClientHello is retransmitted (DTLS timer: after 1 s, then 2 s more), as libcoap's own
    // coap-client does.
    expect(peer.received(), 'ClientHello datagrams (first + retransmissions) that reached the peer').toBeGreaterThanOrEqual(2)
  })

  it('a plain coap:// server on the port does not speak DTLS', async () => {
    const plain = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => plain.close())
    let handled = 0
    plain.resource('/who').get(() => {
      handled++
      return 'plain'
    })
    const [ep] = await plain.listen()
    const client = newClient({ psk: { identity: 'x', key: 'y' } })
    await expectHandshakeError(client.get(`coaps://127.0.0.1:${ep.port}/who`, { timeout: 2500 }), 2500)
    expect(handled).toBe(0)
  })

  it('after a failure the same client still works against a correct server', async () => {
    const bad = await startServer({ psk: { key: 'other-key' } })
    const good = await startServer({ psk: { key: 'the-key' } })
    const client = newClient({ psk: { identity: 'same', key: 'the-key' } })
    await expectHandshakeError(client.get(bad.url('/who'), { timeout: FAIL_TIMEOUT }), FAIL_TIMEOUT)
    expect(await who(client, good.url('/who'))).toEqual({ psk: 'same', cn: null, proto: 'dtls' })
    // And a PKI client too.
    const badPki = await startServer({ pki: { cert: pki.wrongCa.server.cert.pem, key: pki.wrongCa.server.key.pem } })
    const goodPki = await startServer({ pki: { cert: pki.server.cert.pem, key: pki.server.key.pem } })
    const pkiClient = newClient({ pki: { ca: pki.ca.pem } })
    await expectHandshakeError(pkiClient.get(badPki.url('/who'), { timeout: 4000 }), 4000)
    expect((await who(pkiClient, goodPki.url('/who'))).proto).toBe('dtls')
  })

  it('the server keeps serving good clients while and after a bad one fails', async () => {
    const s = await startServer({ psk: { keys: { good: 'good-key', bad: 'bad-key' } } })
    const badClient = newClient({ psk: { identity: 'bad', key: 'not-bad-key' } })
    const failing = expectHandshakeError(badClient.get(s.url('/who'), { timeout: FAIL_TIMEOUT }), FAIL_TIMEOUT)
    // While the bad handshake is still pending, a good client is served promptly.
    await sleep(200)
    const goodClient = newClient({ psk: { identity: 'good', key: 'good-key' } })
    const started = Date.now()
    expect((await who(goodClient, s.url('/who'), 5000)).psk).toBe('good')
    expect(Date.now() - started).toBeLessThan(2500)
    await failing
    const later = newClient({ psk: { identity: 'good', key: 'good-key' } })
    expect((await who(later, s.url('/who'), 5000)).psk).toBe('good')
    expect(s.seen.map((r) => (r.session as unknown as AnySession).pskIdentity)).toEqual(['good', 'good'])
  })
})

describe('lost datagrams are retransmitted', () => {
  it('a lost ClientHello: the client retransmits and the handshake completes', async () => {
    const s = await startServer({ psk: { key: 'lossy-key' } })
    const relay = await lossyRelay(s.port, { toServer: (_m, i) => i === 0 })
    const client = newClient({ psk: { identity: 'lossy', key: 'lossy-key' } })
    const started = Date.now()
    expect((await who(client, `coaps://127.0.0.1:${relay.port}/who`, 6000)).psk).toBe('lossy')
    expect(Date.now() - started).toBeLessThan(4000)
    expect(relay.stats().dropped).toBe(1)
  })

  it("a lost server flight (after the cookie exchange): the handshake still completes", async () => {
    const s = await startServer({ psk: { key: 'lossy-key' } })
    // Server datagram 0 is the HelloVerifyRequest; 1 starts the ServerHello flight.
    const relay = await lossyRelay(s.port, { toClient: (m, i) => i === 1 && m[0] === 22 })
    const client = newClient({ psk: { identity: 'lossy', key: 'lossy-key' } })
    const started = Date.now()
    expect((await who(client, `coaps://127.0.0.1:${relay.port}/who`, 6000)).psk).toBe('lossy')
    expect(Date.now() - started).toBeLessThan(4000)
    expect(relay.stats().dropped).toBe(1)
  })

  it('a lost CoAP request inside the DTLS session is retransmitted by CoAP', async () => {
    const s = await startServer({ psk: { key: 'lossy-key' } })
    let appData = 0
    const relay = await lossyRelay(s.port, { toServer: (m) => m[0] === 23 && appData++ === 0 })
    const client = newClient({ psk: { identity: 'lossy', key: 'lossy-key' } })
    expect((await who(client, `coaps://127.0.0.1:${relay.port}/who`, 8000)).psk).toBe('lossy')
    expect(relay.stats().dropped).toBe(1)
    expect(s.seen).toHaveLength(1)
  })
})

describe('load', () => {
  it('200 clients handshaking at once against one server all succeed', { timeout: 90_000 }, async () => {
    const N = 200
    const s = await startServer({ psk: { keys: (identity: string) => (identity.startsWith('dev-') ? `k-${identity}` : undefined) } })
    const clients: CoapClient[] = []
    for (let i = 0; i < N; i++) clients.push(newClient({ timeout: 40_000, psk: { identity: `dev-${i}`, key: `k-dev-${i}` } }))
    const started = Date.now()
    const results = await Promise.allSettled(clients.map((c) => who(c, s.url('/who'), 40_000)))
    const elapsed = Date.now() - started
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`dev-${i}: ${(r.reason as Error)?.message ?? r.reason}`] : []))
    expect(failed.slice(0, 5), `${failed.length} of ${N} failed`).toEqual([])
    expect(results.map((r) => (r as PromiseFulfilledResult<{ psk: string }>).value.psk)).toEqual(clients.map((_, i) => `dev-${i}`))
    expect(elapsed).toBeLessThan(60_000)
    await waitFor(() => s.sessions.length === N, 5000, `${N} 'session' events`)
    expect(new Set(s.sessions.map((x) => x.pskIdentity)).size).toBe(N)
    await Promise.all(clients.map((c) => c.close()))
  })
})

describe("Node's own crypto and TLS keep working while DTLS runs in the same process", () => {
  it('hashes, key generation, signatures, ciphers and a TLS loopback exchange interleaved with DTLS requests', { timeout: 60_000 }, async () => {
    const psk = await startServer({ psk: { key: 'mix-key' } })
    const pkiServer = await startServer({ pki: { cert: pki.server.cert.pem, key: pki.server.key.pem } })
    const wrongCaServer = await startServer({ pki: { cert: pki.wrongCa.server.cert.pem, key: pki.wrongCa.server.key.pem } })

    const tlsServer = tls.createServer({ key: pki.server.key.pem, cert: pki.server.cert.pem }, (sock) => {
      sock.on('error', () => {})
      sock.pipe(sock)
    })
    await new Promise<void>((resolve, reject) => {
      tlsServer.once('error', reject)
      tlsServer.listen(0, '127.0.0.1', () => resolve())
    })
    cleanups.push(() => new Promise<void>((resolve) => tlsServer.close(() => resolve())))
    const tlsPort = (tlsServer.address() as { port: number }).port

    const tlsEcho = (data: Buffer, ca: Buffer) =>
      new Promise<Buffer>((resolve, reject) => {
        const sock = tls.connect({ host: '127.0.0.1', port: tlsPort, ca, servername: 'localhost' }, () => sock.end(data))
        const chunks: Buffer[] = []
        sock.setTimeout(10_000, () => sock.destroy(new Error('TLS exchange timed out')))
        sock.on('data', (c: Buffer) => chunks.push(c))
        sock.on('end', () => resolve(Buffer.concat(chunks)))
        sock.on('error', reject)
      })

    const cryptoChecks = () => {
      expect(crypto.createHash('sha256').update('abc').digest('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
      expect(crypto.createHmac('sha256', 'key').update('The quick brown fox jumps over the lazy dog').digest('hex')).toBe(
        'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
      )
      const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const msg = crypto.randomBytes(64)
      const sig = crypto.sign('sha256', msg, privateKey)
      expect(crypto.verify('sha256', msg, publicKey, sig)).toBe(true)
      msg[0] ^= 1
      expect(crypto.verify('sha256', msg, publicKey, sig)).toBe(false)
      const key = crypto.randomBytes(32)
      const iv = crypto.randomBytes(12)
      const plain = crypto.randomBytes(1000)
      const c = crypto.createCipheriv('aes-256-gcm', key, iv)
      const enc = Buffer.concat([c.update(plain), c.final()])
      const tag = c.getAuthTag()
      const d = crypto.createDecipheriv('aes-256-gcm', key, iv)
      d.setAuthTag(tag)
      expect(Buffer.concat([d.update(enc), d.final()]).equals(plain)).toBe(true)
      const d2 = crypto.createDecipheriv('aes-256-gcm', key, iv)
      d2.setAuthTag(Buffer.alloc(16))
      d2.update(enc)
      expect(() => d2.final()).toThrow()
      // Certificates parsed by Node's X509 API.
      const x = new crypto.X509Certificate(pki.server.cert.pem)
      expect(x.subject).toContain('CN=localhost')
      expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1')
      expect(x.verify(new crypto.X509Certificate(pki.ca.pem).publicKey)).toBe(true)
    }

    const pskClient = newClient({ timeout: 8000, psk: { identity: 'mix', key: 'mix-key' } })
    const pkiClient = newClient({ timeout: 8000, pki: { ca: pki.ca.pem } })
    const rounds = 8
    for (let round = 0; round < rounds; round++) {
      // A fresh client per round for the failing handshake, so a new handshake (and its OpenSSL
      // error) happens every round.
      const failing = newClient({ pki: { ca: pki.ca.pem } })
      const data = pattern(16 * 1024, round)
      const tasks: Array<Promise<unknown>> = [
        who(pskClient, psk.url('/who')).then((r) => expect(r.psk).toBe('mix')),
        pkiClient.put(pkiServer.url('/echo'), data).then((r) => expectSameBytes(r.payload, data, `round ${round} DTLS echo`)),
        expectHandshakeError(failing.get(wrongCaServer.url('/who'), { timeout: 5000 }), 5000),
        tlsEcho(data, pki.ca.pem).then((echo) => expectSameBytes(echo, data, `round ${round} TLS echo`)),
        // Node's TLS still rejects a certificate it must not trust, with the usual error.
        tlsEcho(data, pki.wrongCa.ca.pem).then(
          () => {
            throw new Error('TLS with the wrong CA succeeded')
          },
          (err: NodeJS.ErrnoException) => expect(err.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
        ),
      ]
      // Synchronous crypto on the JS thread while the handshakes above are in flight.
      for (let i = 0; i < 5; i++) {
        cryptoChecks()
        await sleep(5)
      }
      await Promise.all(tasks)
      await failing.close()
    }
    cryptoChecks()
    expect(psk.seen).toHaveLength(rounds)
    expect(pkiServer.seen).toHaveLength(rounds)
    expect(wrongCaServer.seen).toHaveLength(0)
  })
})
