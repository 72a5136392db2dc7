// Interop over CoAP over TCP, TLS and WebSockets (RFC 8323) with libcoap's own example programs:
//   (a) our CoapClient → coap-server  (TCP on the UDP port, TLS on port+1 with -k, WebSockets with -w)
//   (b) coap-client → our CoapServer  (coap+tcp, coaps+tcp with -k/-u, coap+ws)
// Bodies of 0 B and 100 KiB both ways; with a small Max-Message-Size on both sides (coap-server/
// coap-client -X, our maxMessageSize) the 100 KiB go block-wise.
import { afterEach, describe, expect, it } from 'vitest'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { CoapClient, CoapServer } from '../dist/index.js'
import type { CoapRequest } from '../dist/index.js'
import { coapClient, freePort, startCoapServer, COAP_SERVER_BANNER } from './helpers/peers'
import { expectSameBytes, pattern } from './helpers/bytes'

type AnyOptions = Record<string, unknown>
type AnySession = { proto?: string; maxPduSize?: number; pskIdentity?: string }

const HOST = '127.0.0.1'
const PSK_KEY = 'interop-tcp-psk'
const BIG = 100 * 1024 + 123 // not a multiple of the block size

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

function newClient(options: AnyOptions = {}): CoapClient {
  const client = new CoapClient({ timeout: 10_000, ...options } as ConstructorParameters<typeof CoapClient>[0])
  cleanups.push(() => client.close())
  return client
}

function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libcoap-reliable-interop-'))
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

// Runs coap-client and notes how long it took: it exits as soon as it has its answer, so a run
// that lasts until its -B limit means the answer never arrived (it prints nothing about that).
async function runClient(args: string[], timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string; elapsed: number }> {
  const started = Date.now()
  const r = await coapClient(args, { timeoutMs })
  return { ...r, elapsed: Date.now() - started }
}

// coap-client reports problems on stdout/stderr, never through its exit code.
function expectNoClientError(r: { code: number | null; stdout: string; stderr: string; elapsed: number }, what: string): void {
  const out = `${r.stdout}\n${r.stderr}`
  expect(r.code, `${what}: exit code; output:\n${out}`).toBe(0)
  expect(out, `${what}: coap-client output`).not.toMatch(/\b(ERR|WARN|EMRG|CRIT)\b|[45]\.\d\d |timeout|refused|cannot|failed/i)
  expect(r.elapsed, `${what}: coap-client got its answer (and did not wait out -B)`).toBeLessThan(3000)
}

describe('our client → libcoap coap-server', () => {
  interface Target {
    name: string
    args: (wsPort: number) => string[]
    url: (port: number, wsPort: number, p: string) => string
    client: AnyOptions
  }
  const TARGETS: Target[] = [
    { name: 'coap+tcp', args: () => [], url: (port, _ws, p) => `coap+tcp://${HOST}:${port}${p}`, client: {} },
    {
      name: 'coaps+tcp (PSK, -k)',
      args: () => ['-k', PSK_KEY, '-h', 'tcp-hint'],
      url: (port, _ws, p) => `coaps+tcp://${HOST}:${port + 1}${p}`,
      client: { psk: { identity: 'our-tcp-client', key: PSK_KEY } },
    },
    { name: 'coap+ws (-w)', args: (ws) => ['-w', String(ws)], url: (_port, ws, p) => `coap+ws://${HOST}:${ws}${p}`, client: {} },
  ]

  async function peer(target: Target, extraArgs: string[] = []) {
    const wsPort = await freePort('tcp')
    const server = await startCoapServer([...target.args(wsPort), ...extraArgs])
    cleanups.push(() => server.stop())
    return { ...server, rurl: (p: string) => target.url(server.port, wsPort, p) }
  }

  describe.each(TARGETS)('$name', (target) => {
    it('GET / returns the banner; PUT/GET /example_data of 0 B and 100 KiB round-trip', async () => {
      const server = await peer(target)
      const client = newClient(target.client)
      const res = await client.get(server.rurl('/'))
      expect(res.code, server.output()).toBe('2.05')
      expect(res.type).toBe('CON')
      expect(res.text()).toMatch(COAP_SERVER_BANNER)
      const initial = await client.get(server.rurl('/example_data'))
      expect(initial.code).toBe('2.05')
      expect(initial.payload.length).toBe(1500)

      const big = pattern(BIG, 3)
      const put = await client.put(server.rurl('/example_data'), big, { contentFormat: 'application/octet-stream' })
      expect(['2.01', '2.04'], `PUT 100 KiB: ${put.code} ${put.text()}`).toContain(put.code)
      const got = await client.get(server.rurl('/example_data'))
      expect(got.code).toBe('2.05')
      expectSameBytes(got.payload, big, `${target.name}: GET /example_data after a 100 KiB PUT`)
      expect(got.contentFormat).toBe(42)

      const empty = await client.put(server.rurl('/example_data'), Buffer.alloc(0))
      expect(['2.01', '2.04'], `PUT 0 B: ${empty.code} ${empty.text()}`).toContain(empty.code)
      const none = await client.get(server.rurl('/example_data'))
      expect(none.code).toBe('2.05')
      expect(none.payload.length, 'GET after a 0 B PUT').toBe(0)
    })

    it('100 KiB both ways block-wise: coap-server -X 1152 and our maxMessageSize 1152', async () => {
      const server = await peer(target, ['-X', '1152'])
      const client = newClient({ ...target.client, maxMessageSize: 1152, timeout: 20_000 })
      const big = pattern(BIG, 4)
      const put = await client.put(server.rurl('/example_data'), big, { contentFormat: 'application/octet-stream' })
      expect(['2.01', '2.04'], `PUT: ${put.code} ${put.text()}`).toContain(put.code)
      const got = await client.get(server.rurl('/example_data'))
      expect(got.code).toBe('2.05')
      expectSameBytes(got.payload, big, `${target.name}: block-wise GET after block-wise PUT`)
      expect(server.output(), 'coap-server logged no error').not.toMatch(/\b(ERR|CRIT|EMRG)\b/)
    })

    // Over WebSockets coap-server needs the same libcoap fix as our server: 4.3.5 drops every
    // 2-byte WebSocket message, the Ping included (coap_read_session(), src/coap_net.c).
    it('ping() gets a Pong from coap-server', async () => {
      const server = await peer(target)
      const rtt = await newClient(target.client).ping(server.rurl('/'), { timeout: 5000 })
      expect(rtt).toBeGreaterThanOrEqual(0)
      expect(rtt).toBeLessThan(5000)
    })
  })

  it('coaps+tcp (PSK) with a wrong key is refused (ERR_COAP_TLS or ERR_COAP_CONNECTION), and quickly', async () => {
    const server = await peer(TARGETS[1])
    const client = newClient({ psk: { identity: 'our-tcp-client', key: 'not-the-key' } })
    const started = Date.now()
    let caught: unknown
    try {
      await client.get(server.rurl('/'), { timeout: 8000 })
    } catch (err) {
      caught = err
    }
    expect((caught as { code?: string })?.code, String(caught)).toMatch(/^ERR_COAP_(TLS|CONNECTION)$/)
    expect(Date.now() - started, 'a TLS alert ends it: no waiting for the timeout').toBeLessThan(3000)
  })
})

describe('libcoap coap-client → our server', () => {
  interface Source {
    name: string
    listen: string
    scheme: string
    proto: 'tcp' | 'tls' | 'ws'
    server: AnyOptions
    args: string[]
  }
  const SOURCES: Source[] = [
    { name: 'coap+tcp', listen: `coap+tcp://${HOST}:0`, scheme: 'coap+tcp', proto: 'tcp', server: {}, args: [] },
    {
      name: 'coaps+tcp (PSK, -k/-u)',
      listen: `coaps+tcp://${HOST}:0`,
      scheme: 'coaps+tcp',
      proto: 'tls',
      server: { psk: { hint: 'our-hint', keys: { 'coap-client-id': PSK_KEY } } },
      args: ['-k', PSK_KEY, '-u', 'coap-client-id'],
    },
    { name: 'coap+ws', listen: `coap+ws://${HOST}:0`, scheme: 'coap+ws', proto: 'ws', server: {}, args: [] },
  ]

  async function ourServer(source: Source, extra: AnyOptions = {}) {
    const server = new CoapServer({ listen: source.listen, ...source.server, ...extra } as ConstructorParameters<typeof CoapServer>[0])
    cleanups.push(() => server.close())
    const seen: Array<{ method: string; length: number; proto?: string; psk?: string; maxPduSize?: number; contentFormat?: number }> = []
    let stored = Buffer.alloc(0)
    const note = (req: CoapRequest) => {
      const s = req.session as unknown as AnySession
      seen.push({ method: req.method, length: req.payload.length, proto: s.proto, psk: s.pskIdentity, maxPduSize: s.maxPduSize, contentFormat: req.contentFormat })
    }
    server
      .resource('/data')
      .get((req) => {
        note(req)
        return { payload: stored, contentFormat: 'application/octet-stream' }
      })
      .put((req) => {
        note(req)
        stored = Buffer.from(req.payload)
      })
    server.resource('/hello').get((req) => {
      note(req)
      return `hello over ${(req.session as unknown as AnySession).proto}`
    })
    const [ep] = await server.listen()
    const url = (p: string) => `${source.scheme}://${HOST}:${ep.port}${p}`
    return { server, seen, url, stored: () => stored }
  }

  describe.each(SOURCES)('$name', (source) => {
    it('GET /hello, then PUT and GET of 0 B and 100 KiB bodies, byte for byte', async () => {
      const s = await ourServer(source)
      const dir = tmpDir()
      const hello = await runClient([...source.args, '-B', '5', '-m', 'get', s.url('/hello')])
      expectNoClientError(hello, 'GET /hello')
      expect(hello.stdout).toContain(`hello over ${source.proto}`)

      // 100 KiB up, then down.
      const big = pattern(BIG, 5)
      const bigFile = path.join(dir, 'big.bin')
      fs.writeFileSync(bigFile, big)
      const put = await runClient([...source.args, '-B', '10', '-m', 'put', '-t', '42', '-f', bigFile, s.url('/data')])
      expectNoClientError(put, 'PUT 100 KiB')
      expectSameBytes(s.stored(), big, `${source.name}: what our server received from coap-client`)
      const outFile = path.join(dir, 'out.bin')
      const get = await runClient([...source.args, '-B', '10', '-o', outFile, s.url('/data')])
      expectNoClientError(get, 'GET 100 KiB')
      expectSameBytes(fs.readFileSync(outFile), big, `${source.name}: what coap-client received from our server`)

      // 0 B up, then down.
      const put0 = await runClient([...source.args, '-B', '5', '-m', 'put', s.url('/data')])
      expectNoClientError(put0, 'PUT 0 B')
      expect(s.stored().length, 'stored after a 0 B PUT').toBe(0)
      const out0 = path.join(dir, 'out0.bin')
      const get0 = await runClient([...source.args, '-B', '5', '-o', out0, s.url('/data')])
      expectNoClientError(get0, 'GET 0 B')
      expect(fs.existsSync(out0) ? fs.readFileSync(out0).length : 0, 'coap-client wrote no payload').toBe(0)

      expect(s.seen.map((r) => `${r.method} ${r.length}`)).toEqual(['GET 0', 'PUT ' + BIG, 'GET 0', 'PUT 0', 'GET 0'])
      expect(new Set(s.seen.map((r) => r.proto))).toEqual(new Set([source.proto]))
      if (source.proto === 'tls') expect(new Set(s.seen.map((r) => r.psk))).toEqual(new Set(['coap-client-id']))
    })

    it('100 KiB block-wise both ways: our maxMessageSize 1152 and coap-client -X 1152', async () => {
      const s = await ourServer(source, { maxMessageSize: 1152 })
      const dir = tmpDir()
      const big = pattern(BIG, 6)
      const bigFile = path.join(dir, 'big.bin')
      fs.writeFileSync(bigFile, big)
      const put = await runClient([...source.args, '-B', '10', '-X', '1152', '-m', 'put', '-f', bigFile, s.url('/data')])
      expectNoClientError(put, 'block-wise PUT 100 KiB')
      expectSameBytes(s.stored(), big, `${source.name}: block-wise upload`)
      const outFile = path.join(dir, 'out.bin')
      const get = await runClient([...source.args, '-B', '10', '-X', '1152', '-o', outFile, s.url('/data')])
      expectNoClientError(get, 'block-wise GET 100 KiB')
      expectSameBytes(fs.readFileSync(outFile), big, `${source.name}: block-wise download`)
      // Our session saw coap-client's CSM Max-Message-Size.
      const max = s.seen[s.seen.length - 1].maxPduSize
      expect(max, "the session's maxPduSize follows coap-client -X 1152").toBeGreaterThan(0)
      expect(max).toBeLessThanOrEqual(1152)
    })
  })

  it('coaps+tcp: coap-client with an unknown identity is refused; our server stays up', async () => {
    const s = await ourServer(SOURCES[1])
    const bad = await runClient(['-k', PSK_KEY, '-u', 'stranger', '-B', '3', '-m', 'get', s.url('/hello')])
    expect(`${bad.stdout}${bad.stderr}`).not.toContain('hello over')
    expect(s.seen).toHaveLength(0)
    const good = await runClient([...SOURCES[1].args, '-B', '5', '-m', 'get', s.url('/hello')])
    expectNoClientError(good, 'GET with the right identity')
    expect(good.stdout).toContain('hello over tls')
  })
})
