// DTLS interop with libcoap's own example programs on loopback:
//   (a) our CoapClient → coap-server  (-k/-h for PSK; -c/-j/-C for PKI; DTLS on port+1)
//   (b) coap-client (-k/-u for PSK; -c/-j/-C for PKI) → our CoapServer
// Keys and certificates come from test/helpers/certs.ts (openssl CLI, at test time).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CoapClient, CoapError, CoapServer, versions } from '../dist/index.js'
import type { CoapRequest } from '../dist/index.js'
import { makePki, type Pki } from './helpers/certs'
import { coapClient, startCoapServer, COAP_SERVER_BANNER } from './helpers/peers'

type AnyOptions = Record<string, unknown>
type AnySession = { pskIdentity?: string; peerCommonName?: string; proto?: string }


// Timeout for requests expected to fail: a wrong PSK key is only noticed when it runs out
// (DTLS drops records it cannot decrypt), so keep it short.
const FAIL_TIMEOUT = 2500

let pki: Pki
beforeAll(async () => {
  pki = await makePki()
})
afterAll(() => pki?.cleanup())

// libcoap 4.3.5's GnuTLS client fails some handshakes with a server that asks for a client
// certificate: in our runs exactly those where the second datagram of coap-server's
// (OpenSSL) flight came out 127 bytes long (its ECDSA signature at its longest), about half of
// them, and the retransmitted flight does not recover the session. Until that is fixed (see
// the notes), such a first request is repeated on a fresh session a bounded number of times;
// the OpenSSL build gets exactly one try.
const HANDSHAKE_TRIES = versions().dtlsBackend === 'gnutls' ? 8 : 1
async function getWithCertificate(client: CoapClient, url: string) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.get(url)
    } catch (err) {
      if (attempt >= HANDSHAKE_TRIES || !(err instanceof CoapError) || err.code !== 'ERR_COAP_DTLS_HANDSHAKE') throw err
    }
  }
}

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

function newClient(options: AnyOptions): CoapClient {
  const client = new CoapClient({ timeout: 8000, ...options } as ConstructorParameters<typeof CoapClient>[0])
  cleanups.push(() => client.close())
  return client
}

async function expectHandshakeError(promise: Promise<unknown>, timeout: number, opts: { fasterThan?: number } = {}): Promise<CoapError> {
  const started = Date.now()
  let caught: unknown
  try {
    await promise
  } catch (err) {
    caught = err
  }
  const elapsed = Date.now() - started
  expect(caught, 'expected a rejection with ERR_COAP_DTLS_HANDSHAKE').toBeInstanceOf(CoapError)
  expect((caught as CoapError).code, (caught as Error).message).toBe('ERR_COAP_DTLS_HANDSHAKE')
  expect(elapsed, 'rejected within the request timeout').toBeLessThan(timeout + 1500)
  if (opts.fasterThan !== undefined) expect(elapsed, 'fails fast').toBeLessThan(opts.fasterThan)
  return caught as CoapError
}

describe('our client → libcoap coap-server over DTLS', () => {
  async function peer(args: string[]) {
    const server = await startCoapServer(args)
    cleanups.push(() => server.stop())
    // coap-server listens for DTLS on port+1.
    return { ...server, surl: (p = '/') => `coaps://127.0.0.1:${server.port + 1}${p}` }
  }

  it('PSK (-k, -h): GET / and PUT/GET /example_data; onHint sees the hint', async () => {
    const server = await peer(['-k', 'interop-psk-key', '-h', 'libcoap-hint'])
    const hints: string[] = []
    const client = newClient({ psk: { identity: 'our-client', key: 'interop-psk-key', onHint: (h: string) => void hints.push(h) } })
    const res = await client.get(server.surl('/'))
    expect(res.code).toBe('2.05')
    expect(res.text()).toMatch(COAP_SERVER_BANNER)
    expect(hints).toEqual(['libcoap-hint'])
    const put = await client.put(server.surl('/example_data'), 'over DTLS-PSK')
    expect(['2.01', '2.04']).toContain(put.code)
    const get = await client.get(server.surl('/example_data'))
    expect(get.text()).toBe('over DTLS-PSK')
  })

  it('PSK with a binary key given as 0x… hex to coap-server', async () => {
    const key = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
    const server = await peer(['-k', `0x${key.toString('hex')}`])
    const client = newClient({ psk: { identity: 'binary', key } })
    expect((await client.get(server.surl('/'))).text()).toMatch(COAP_SERVER_BANNER)
  })

  it('PSK with a wrong key rejects with ERR_COAP_DTLS_HANDSHAKE; coap-server still serves the right key', async () => {
    const server = await peer(['-k', 'interop-psk-key'])
    const bad = newClient({ psk: { identity: 'our-client', key: 'not-the-key' } })
    await expectHandshakeError(bad.get(server.surl('/'), { timeout: FAIL_TIMEOUT }), FAIL_TIMEOUT)
    const good = newClient({ psk: { identity: 'our-client', key: 'interop-psk-key' } })
    expect((await good.get(server.surl('/'))).text()).toMatch(COAP_SERVER_BANNER)
  })

  it('PKI (-c -j -C): mutual authentication with our client certificate', async () => {
    const server = await peer(['-c', pki.server.cert.path, '-j', pki.server.key.path, '-C', pki.ca.path])
    const client = newClient({ pki: { ca: pki.ca.path, cert: pki.client.cert.path, key: pki.client.key.path } })
    const res = await getWithCertificate(client, server.surl('/'))
    expect(res.code).toBe('2.05')
    expect(res.text()).toMatch(COAP_SERVER_BANNER)
    // 1500 bytes, block-wise over DTLS.
    const data = await client.get(server.surl('/example_data'))
    expect(data.payload.length).toBe(1500)
  })

  it('PKI: coap-server with -C requires a client certificate from its CA', async () => {
    const server = await peer(['-c', pki.server.cert.path, '-j', pki.server.key.path, '-C', pki.ca.path])
    const noCert = newClient({ pki: { ca: pki.ca.pem } })
    await expectHandshakeError(noCert.get(server.surl('/'), { timeout: FAIL_TIMEOUT }), FAIL_TIMEOUT)
    const foreign = newClient({ pki: { ca: pki.ca.pem, cert: pki.wrongCa.server.cert.pem, key: pki.wrongCa.server.key.pem } })
    await expectHandshakeError(foreign.get(server.surl('/'), { timeout: FAIL_TIMEOUT }), FAIL_TIMEOUT)
    const good = newClient({ pki: { ca: pki.ca.pem, cert: pki.client.cert.pem, key: pki.client.key.pem } })
    expect((await getWithCertificate(good, server.surl('/'))).text()).toMatch(COAP_SERVER_BANNER)
  })

  it('PKI: a client trusting another CA refuses coap-server fast', async () => {
    const server = await peer(['-c', pki.server.cert.path, '-j', pki.server.key.path, '-n'])
    const client = newClient({ pki: { ca: pki.wrongCa.ca.pem } })
    await expectHandshakeError(client.get(server.surl('/'), { timeout: 8000 }), 8000, { fasterThan: 2500 })
    const good = newClient({ pki: { ca: pki.ca.pem } })
    expect((await good.get(server.surl('/'))).text()).toMatch(COAP_SERVER_BANNER)
  })
})

describe('libcoap coap-client → our server over DTLS', () => {
  async function ourServer(options: AnyOptions) {
    const server = new CoapServer({ listen: 'coaps://127.0.0.1:0', ...options } as ConstructorParameters<typeof CoapServer>[0])
    cleanups.push(() => server.close())
    // What handlers and listeners saw at the time (coap-client ends its session when it exits).
    const seen: Array<{ method: string; text: string; psk?: string; cn?: string }> = []
    const sessions: AnySession[] = []
    // 'session' events and requests in the order they reached JS: 'S <remote>' / 'R <remote>'.
    const order: string[] = []
    ;(server.on as (n: string, f: (s: AnySession & { remote?: string }) => void) => unknown).call(server, 'session', (s) => {
      sessions.push({ pskIdentity: s.pskIdentity, peerCommonName: s.peerCommonName, proto: s.proto })
      order.push(`S ${s.remote}`)
    })
    const record = (req: CoapRequest) => {
      const s = req.session as unknown as AnySession & { remote?: string }
      seen.push({ method: req.method, text: req.text(), psk: s.pskIdentity, cn: s.peerCommonName })
      order.push(`R ${s.remote}`)
    }
    let state = 'OFF'
    server
      .resource('/who')
      .get((req) => {
        record(req)
        const s = req.session as unknown as AnySession
        return JSON.stringify({ psk: s.pskIdentity ?? null, cn: s.peerCommonName ?? null, proto: s.proto ?? null })
      })
    server
      .resource('/alarm')
      .get((req) => {
        record(req)
        return state
      })
      .put((req) => {
        record(req)
        state = req.text()
      })
    const endpoints = await server.listen()
    expect(endpoints.map((e) => e.proto)).toEqual(['dtls'])
    const port = endpoints[0].port
    return { server, seen, sessions, order, url: (p: string) => `coaps://127.0.0.1:${port}${p}` }
  }

  it('PSK (-k -u): GET sees the identity, PUT -e changes the state', async () => {
    const { url, seen, sessions } = await ourServer({ psk: { hint: 'our-hint', keys: { 'libcoap-client': 'k-libcoap' } } })
    const res = await coapClient(['-B', '5', '-o', '-', '-k', 'k-libcoap', '-u', 'libcoap-client', url('/who')])
    expect(res.stdout, res.stderr).toContain('{"psk":"libcoap-client","cn":null,"proto":"dtls"}')
    const put = await coapClient(['-B', '5', '-m', 'put', '-e', 'ON', '-k', 'k-libcoap', '-u', 'libcoap-client', url('/alarm')])
    expect(put.stderr).toBe('')
    const get = await coapClient(['-B', '5', '-o', '-', '-k', 'k-libcoap', '-u', 'libcoap-client', url('/alarm')])
    expect(get.stdout, get.stderr).toContain('ON')
    expect(seen.map((r) => [r.method, r.psk])).toEqual([
      ['GET', 'libcoap-client'],
      ['PUT', 'libcoap-client'],
      ['GET', 'libcoap-client'],
    ])
    expect(seen[1].text).toBe('ON')
    expect(sessions.map((s) => s.pskIdentity)).toEqual(['libcoap-client', 'libcoap-client', 'libcoap-client'])
  })

  it("every coap-client run gets its 'session' event, before its request is handled", async () => {
    const { url, order } = await ourServer({ psk: { key: 'k-order' } })
    const runs = 6
    for (let i = 0; i < runs; i++) {
      // PUT and GET alternate; coap-client sends its request right after the handshake and
      // closes (close_notify) right after the answer.
      const args = i % 2 ? ['-m', 'put', '-e', `v${i}`] : ['-m', 'get']
      const res = await coapClient(['-B', '5', ...args, '-k', 'k-order', '-u', `run-${i}`, url('/alarm')])
      expect(res.stderr).toBe('')
    }
    // Per remote address (one per run): exactly ['S', 'R'].
    const byRemote = new Map<string, string[]>()
    for (const entry of order) {
      const [kind, remote] = entry.split(' ')
      byRemote.set(remote, [...(byRemote.get(remote) ?? []), kind])
    }
    expect([...byRemote.values()], order.join(', ')).toEqual(Array.from({ length: runs }, () => ['S', 'R']))
  })

  it('PSK with a binary key (coap-client -k 0x…)', async () => {
    const key = Buffer.from('ff00ee11dd22cc33bb44aa5599668877', 'hex')
    const { url } = await ourServer({ psk: { key } })
    const res = await coapClient(['-B', '5', '-o', '-', '-k', `0x${key.toString('hex')}`, '-u', 'hex-user', url('/who')])
    expect(res.stdout, res.stderr).toContain('"psk":"hex-user"')
  })

  it('PSK with a wrong key or unknown identity gets nothing; the server then serves the right one', async () => {
    const { url, seen } = await ourServer({ psk: { keys: { known: 'right-key' } } })
    const [wrongKey, unknownId] = await Promise.all([
      coapClient(['-B', '3', '-o', '-', '-k', 'wrong-key', '-u', 'known', url('/who')]),
      coapClient(['-B', '3', '-o', '-', '-k', 'right-key', '-u', 'stranger', url('/who')]),
    ])
    expect(wrongKey.stdout).not.toContain('"psk"')
    expect(unknownId.stdout).not.toContain('"psk"')
    expect(seen).toHaveLength(0)
    const good = await coapClient(['-B', '5', '-o', '-', '-k', 'right-key', '-u', 'known', url('/who')])
    expect(good.stdout, good.stderr).toContain('"psk":"known"')
    expect(seen).toHaveLength(1)
  })

  it('PKI (-c -j -C): mutual authentication, the server sees CN client1', async () => {
    const cns: string[] = []
    const { url, sessions } = await ourServer({
      pki: {
        cert: pki.server.cert.pem,
        key: pki.server.key.pem,
        ca: pki.ca.pem,
        onCommonName: (cn: string) => {
          cns.push(cn)
          return true
        },
      },
    })
    const res = await coapClient(['-B', '5', '-o', '-', '-c', pki.client.cert.path, '-j', pki.client.key.path, '-C', pki.ca.path, url('/who')])
    expect(res.stdout, res.stderr).toContain('{"psk":null,"cn":"client1","proto":"dtls"}')
    expect(cns).toContain('client1')
    expect(sessions.map((s) => s.peerCommonName)).toEqual(['client1'])
  })

  it('PKI: without a client certificate, or with one from another CA, coap-client is refused', async () => {
    const { url, seen } = await ourServer({ pki: { cert: pki.server.cert.path, key: pki.server.key.path, ca: pki.ca.path } })
    const [noCert, foreign] = await Promise.all([
      coapClient(['-B', '3', '-o', '-', '-C', pki.ca.path, url('/who')]),
      coapClient(['-B', '3', '-o', '-', '-c', pki.wrongCa.server.cert.path, '-j', pki.wrongCa.server.key.path, '-C', pki.ca.path, url('/who')]),
    ])
    expect(noCert.stdout).not.toContain('"cn"')
    expect(foreign.stdout).not.toContain('"cn"')
    expect(seen).toHaveLength(0)
    const good = await coapClient(['-B', '5', '-o', '-', '-c', pki.client.cert.path, '-j', pki.client.key.path, '-C', pki.ca.path, url('/who')])
    expect(good.stdout, good.stderr).toContain('"cn":"client1"')
  })

  it('PKI: coap-client verifies our server certificate (its CA passes, another CA fails)', async () => {
    const { url, seen } = await ourServer({ pki: { cert: pki.server.cert.pem, key: pki.server.key.pem } })
    const wrong = await coapClient(['-B', '3', '-o', '-', '-C', pki.wrongCa.ca.path, url('/who')])
    expect(wrong.stdout).not.toContain('"proto"')
    expect(seen).toHaveLength(0)
    const good = await coapClient(['-B', '5', '-o', '-', '-C', pki.ca.path, url('/who')])
    expect(good.stdout, good.stderr).toContain('{"psk":null,"cn":null,"proto":"dtls"}')
  })
})
