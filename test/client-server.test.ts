// Our CoapClient ↔ our CoapServer over real UDP sockets on loopback, IPv4 and IPv6.
import { afterEach, describe, expect, it, vi } from 'vitest'
import * as dgram from 'node:dgram'
import { CoapClient, CoapError, CoapServer } from '../dist/index.js'
import type { CoapRequest } from '../dist/index.js'
import { expectSameBytes, pattern, sleep } from './helpers/bytes'

async function expectCoapError(promise: Promise<unknown>, code: string): Promise<CoapError> {
  let caught: unknown
  try {
    await promise
  } catch (err) {
    caught = err
  }
  expect(caught, `expected a rejection with ${code}`).toBeInstanceOf(CoapError)
  expect((caught as CoapError).code).toBe(code)
  return caught as CoapError
}

// Everything a test opens is closed after it, whatever happens.
const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

function newClient(options?: ConstructorParameters<typeof CoapClient>[0]): CoapClient {
  const client = new CoapClient(options)
  cleanups.push(() => client.close())
  return client
}

// Separate responses at once, so handlers that await are answered the way these tests expect;
// the piggyback window of the default server has its own tests below.
function newServer(host: string, separateResponseAfter = 0): CoapServer {
  const server = new CoapServer({ listen: `coap://${host.includes(':') ? `[${host}]` : host}:0`, separateResponseAfter })
  cleanups.push(() => server.close())
  return server
}

// A silent UDP peer: takes datagrams, never answers.
async function silentPeer(type: 'udp4' | 'udp6', host: string): Promise<{ port: number; received: () => number }> {
  const sock = dgram.createSocket(type)
  let count = 0
  sock.on('message', () => count++)
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject)
    sock.bind(0, host, () => resolve())
  })
  cleanups.push(() => new Promise<void>((resolve) => sock.close(() => resolve())))
  return { port: sock.address().port, received: () => count }
}

// A port with nothing bound to it (the kernel answers with ICMP port unreachable).
async function closedPort(type: 'udp4' | 'udp6', host: string): Promise<number> {
  const sock = dgram.createSocket(type)
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject)
    sock.bind(0, host, () => resolve())
  })
  const { port } = sock.address()
  await new Promise<void>((resolve) => sock.close(() => resolve()))
  return port
}

const families = [
  { name: 'IPv4', host: '127.0.0.1', type: 'udp4' as const },
  { name: 'IPv6', host: '::1', type: 'udp6' as const },
]

describe.each(families)('client ↔ server over UDP/$name', ({ host, type }) => {
  const hostPart = host.includes(':') ? `[${host}]` : host

  // A server with the resources most tests use, and a client with a short default timeout.
  async function setup(): Promise<{
    server: CoapServer
    client: CoapClient
    url: (path: string) => string
    seen: CoapRequest[]
    errors: Array<[unknown, CoapRequest | undefined]>
  }> {
    const server = newServer(host)
    const seen: CoapRequest[] = []
    const errors: Array<[unknown, CoapRequest | undefined]> = []
    server.on('error', (err, req) => errors.push([err, req]))
    let state = 'initial state'
    server
      .resource('/text')
      .get((req) => {
        seen.push(req)
        return state
      })
      .put((req) => {
        seen.push(req)
        state = req.text()
      })
      .post((req) => {
        seen.push(req)
      })
      .delete((req) => {
        seen.push(req)
      })
    server.resource('/slow').get(async (req) => {
      seen.push(req)
      await sleep(300)
      return 'slow answer'
    })
    const endpoints = await server.listen()
    expect(endpoints).toHaveLength(1)
    expect(endpoints[0].host).toBe(host)
    expect(endpoints[0].port).toBeGreaterThan(0)
    expect(server.endpoints[0].port).toBe(endpoints[0].port)
    const port = endpoints[0].port
    const client = newClient({ timeout: 5000 })
    return { server, client, url: (path) => `coap://${hostPart}:${port}${path}`, seen, errors }
  }

  it('GET returns the handler text as a piggybacked 2.05 with text/plain', async () => {
    const { client, url, seen } = await setup()
    const res = await client.get(url('/text'))
    expect(res.code).toBe('2.05')
    expect(res.ok).toBe(true)
    expect(res.type).toBe('ACK')
    expect(res.text()).toBe('initial state')
    expect(res.contentFormat).toBe(0)
    expect(res.url).toBe(url('/text'))
    expect(seen).toHaveLength(1)
    expect(seen[0].method).toBe('GET')
    expect(seen[0].path).toBe('/text')
    expect(seen[0].remote.address).toBe(host)
    expect(seen[0].remote.port).toBeGreaterThan(0)
  })

  it('PUT changes the state that a later GET returns', async () => {
    const { client, url, seen } = await setup()
    const put = await client.put(url('/text'), 'new value ✓')
    expect(put.code).toBe('2.04')
    expect(put.ok).toBe(true)
    expect(put.payload.length).toBe(0)
    expect(seen[0].method).toBe('PUT')
    expect(seen[0].text()).toBe('new value ✓')
    expect(seen[0].contentFormat).toBe(0) // string bodies are sent as text/plain
    const get = await client.get(url('/text'))
    expect(get.code).toBe('2.05')
    expect(get.text()).toBe('new value ✓')
  })

  it('POST defaults to 2.01 and DELETE to 2.02', async () => {
    const { client, url, seen } = await setup()
    const post = await client.post(url('/text'), 'posted')
    expect(post.code).toBe('2.01')
    expect(post.ok).toBe(true)
    const del = await client.delete(url('/text'))
    expect(del.code).toBe('2.02')
    expect(del.ok).toBe(true)
    expect(seen.map((r) => r.method)).toEqual(['POST', 'DELETE'])
    expect(seen[0].text()).toBe('posted')
  })

  it('CON requests get a piggybacked ACK, NON requests a NON response', async () => {
    const { client, url, seen } = await setup()
    const con = await client.get(url('/text'), { confirmable: true })
    expect(con.type).toBe('ACK')
    expect(con.text()).toBe('initial state')
    const non = await client.get(url('/text'), { confirmable: false })
    expect(non.code).toBe('2.05')
    expect(non.type).toBe('NON')
    expect(non.text()).toBe('initial state')
    expect(seen.map((r) => [r.type, r.confirmable])).toEqual([
      ['CON', true],
      ['NON', false],
    ])

    // The client-wide default applies too.
    const nonClient = newClient({ timeout: 5000, confirmable: false })
    const viaDefault = await nonClient.get(url('/text'))
    expect(viaDefault.type).toBe('NON')
    expect(seen[2].type).toBe('NON')
  })

  it('a handler that awaits gets a separate response (empty ACK, then CON)', async () => {
    const { client, url } = await setup()
    const started = Date.now()
    const res = await client.get(url('/slow'))
    const elapsed = Date.now() - started
    expect(res.code).toBe('2.05')
    expect(res.type).toBe('CON')
    expect(res.text()).toBe('slow answer')
    expect(res.contentFormat).toBe(0)
    expect(elapsed).toBeGreaterThanOrEqual(250)
    expect(elapsed).toBeLessThan(4000)

    // The same for a NON request: the late answer comes as NON.
    const non = await client.get(url('/slow'), { confirmable: false })
    expect(non.code).toBe('2.05')
    expect(non.type).toBe('NON')
    expect(non.text()).toBe('slow answer')
  })

  it('a separate response carries a custom code, options and content format', async () => {
    const { server, client, url } = await setup()
    server
      .resource('/later')
      .post(async () => {
        await sleep(50)
        return {
          code: '2.04',
          payload: '{"x":1}',
          contentFormat: 'application/json',
          options: { ETag: Buffer.from([9]), 'Location-Path': 'z' },
        }
      })
      .delete(async () => {
        await sleep(50)
      })
    const res = await client.post(url('/later'), 'x')
    expect(res.type).toBe('CON')
    expect(res.code).toBe('2.04')
    expect(res.json()).toEqual({ x: 1 })
    expect(res.contentFormat).toBe(50)
    expect(res.option('ETag')).toEqual([Buffer.from([9])])
    expect(res.option('Location-Path')).toEqual(['z'])
    const del = await client.delete(url('/later'))
    expect(del.type).toBe('CON')
    expect(del.code).toBe('2.02')
    expect(del.payload.length).toBe(0)
  })

  it('an unknown path gets 4.04', async () => {
    const { client, url } = await setup()
    const res = await client.get(url('/no/such/thing'))
    expect(res.code).toBe('4.04')
    expect(res.ok).toBe(false)
    const put = await client.put(url('/missing'), 'x')
    expect(put.code).toBe('4.04')
  })

  it('a method without a handler gets 4.05', async () => {
    const { client, url, seen } = await setup()
    const res = await client.put(url('/slow'), 'x')
    expect(res.code).toBe('4.05')
    expect(res.ok).toBe(false)
    const fetch = await client.fetch(url('/text'), 'q')
    expect(fetch.code).toBe('4.05')
    const patch = await client.patch(url('/text'), 'q')
    expect(patch.code).toBe('4.05')
    expect(seen).toHaveLength(0)
  })

  it('a throwing handler gives 5.00 and an error event with the error and the request', async () => {
    const { server, client, url, errors } = await setup()
    const boom = new Error('handler exploded')
    server.resource('/boom').get(() => {
      throw boom
    })
    const res = await client.get(url('/boom?x=1'))
    expect(res.code).toBe('5.00')
    expect(res.ok).toBe(false)
    expect(res.type).toBe('ACK')
    await vi.waitFor(() => expect(errors).toHaveLength(1), { timeout: 2000 })
    const [err, req] = errors[0]
    expect(err).toBe(boom)
    expect(req?.method).toBe('GET')
    expect(req?.path).toBe('/boom')
    expect(req?.query).toEqual(['x=1'])
  })

  it('a rejecting async handler gives 5.00 and an error event', async () => {
    const { server, client, url, errors } = await setup()
    const failure = new Error('async failure')
    server.resource('/reject').post(async () => {
      await sleep(50)
      throw failure
    })
    const res = await client.post(url('/reject'), 'body')
    expect(res.code).toBe('5.00')
    expect(res.ok).toBe(false)
    await vi.waitFor(() => expect(errors).toHaveLength(1), { timeout: 2000 })
    const [err, req] = errors[0]
    expect(err).toBe(failure)
    expect(req?.method).toBe('POST')
    expect(req?.path).toBe('/reject')
    expect(req?.text()).toBe('body')
  })

  it('a handler returning something unusable, or failing on bad JSON, gives 5.00 and an error event', async () => {
    const { server, client, url, errors } = await setup()
    server.resource('/number').get(() => 42 as unknown as string)
    server.resource('/json').post((req) => JSON.stringify(req.json()))
    const bad = await client.get(url('/number'))
    expect(bad.code).toBe('5.00')
    const badJson = await client.post(url('/json'), '{not json', { contentFormat: 'application/json' })
    expect(badJson.code).toBe('5.00')
    await vi.waitFor(() => expect(errors).toHaveLength(2), { timeout: 2000 })
    expect(errors[0][0]).toBeInstanceOf(TypeError)
    expect(errors[0][1]?.path).toBe('/number')
    expect(errors[1][0]).toBeInstanceOf(SyntaxError)
    expect(errors[1][1]?.path).toBe('/json')
  })

  it('query items from the URL and the query option reach the handler', async () => {
    const { server, client, url } = await setup()
    let got: CoapRequest | undefined
    server.resource('/inspect').get((req) => {
      got = req
      return 'ok'
    })
    const res = await client.get(url('/inspect?a=1&b=two&flag'), { query: { c: 3, d: 'x-y_z.~' } })
    expect(res.code).toBe('2.05')
    expect(got?.query).toEqual(['a=1', 'b=two', 'flag', 'c=3', 'd=x-y_z.~'])
    expect(got?.searchParams.get('b')).toBe('two')
    expect(got?.searchParams.get('flag')).toBe('')
    expect(got?.searchParams.get('d')).toBe('x-y_z.~')

    await client.get(url('/inspect'), { query: ['only=array', 'second'] })
    expect(got?.query).toEqual(['only=array', 'second'])
    await client.get(url('/inspect'))
    expect(got?.query).toEqual([])
  })

  // CoapRequest.query is documented as "Uri-Query items, decoded". Each Uri-Query option is one
  // item on the wire; the handler must see exactly the bytes the client put in each option.
  it('query items arrive decoded and one per Uri-Query option (space, UTF-8, & inside an item)', async () => {
    const { server, client, url } = await setup()
    let got: CoapRequest | undefined
    server.resource('/inspect').get((req) => {
      got = req
      return 'ok'
    })
    await client.get(url('/inspect?b=two%20words'), { query: ['city=Zürich', 'pair=a&b', 'pct=100%'] })
    expect(got?.query).toEqual(['b=two words', 'city=Zürich', 'pair=a&b', 'pct=100%'])
    expect(got?.searchParams.get('city')).toBe('Zürich')
    expect(got?.searchParams.get('pair')).toBe('a&b')
  })

  it('request options reach the handler', async () => {
    const { server, client, url } = await setup()
    let got: CoapRequest | undefined
    server.resource('/inspect').post((req) => {
      got = req
      return 'ok'
    })
    const res = await client.post(url('/inspect?q=1'), Buffer.from([0xa1, 0x01, 0x02]), {
      accept: 'application/json',
      contentFormat: 'application/cbor',
      options: { ETag: Buffer.from('abcd'), 'If-Match': [Buffer.from('m1'), Buffer.from('m2')], 65000: 'elective' },
    })
    expect(res.code).toBe('2.01')
    expect(got).toBeDefined()
    const req = got!
    expect(req.option('Accept')).toEqual([50])
    expect(req.accept).toBe(50)
    expect(req.option('Content-Format')).toEqual([60])
    expect(req.contentFormat).toBe(60)
    expect(req.option('ETag')).toEqual([Buffer.from('abcd')])
    expect(req.option('If-Match')).toEqual([Buffer.from('m1'), Buffer.from('m2')])
    expect(req.option(65000)).toEqual([Buffer.from('elective')])
    // Uri-Path and Uri-Query are not repeated in options.
    expect(req.options.some((o) => o.number === 11 || o.number === 15)).toBe(false)
    expect(req.payload).toEqual(Buffer.from([0xa1, 0x01, 0x02]))
  })

  it('custom response code, options and content format reach the client', async () => {
    const { server, client, url } = await setup()
    server
      .resource('/created')
      .post(() => ({
        code: '2.01',
        payload: '{"id":7}',
        contentFormat: 'application/json',
        options: { ETag: Buffer.from([0xde, 0xad, 0xbe, 0xef]), 'Max-Age': 60, 'Location-Path': ['items', '7'] },
      }))
      .get(() => ({ code: '2.03', options: { ETag: Buffer.from([1]) } }))
      .put(() => ({ code: 404, payload: 'nothing here', contentFormat: null }))
    const res = await client.post(url('/created'), 'x')
    expect(res.code).toBe('2.01')
    expect(res.contentFormat).toBe(50)
    expect(res.option('ETag')).toEqual([Buffer.from([0xde, 0xad, 0xbe, 0xef])])
    expect(res.option('Max-Age')).toEqual([60])
    expect(res.option('Location-Path')).toEqual(['items', '7'])
    expect(res.json()).toEqual({ id: 7 })

    const valid = await client.get(url('/created'))
    expect(valid.code).toBe('2.03')
    expect(valid.payload.length).toBe(0)
    expect(valid.option('ETag')).toEqual([Buffer.from([1])])
    expect(valid.contentFormat).toBeUndefined()

    const notFound = await client.put(url('/created'), 'y')
    expect(notFound.code).toBe('4.04')
    expect(notFound.ok).toBe(false)
    expect(notFound.text()).toBe('nothing here')
    expect(notFound.contentFormat).toBeUndefined()
  })

  it('JSON round trip', async () => {
    const { server, client, url } = await setup()
    let gotFormat: number | undefined
    server.resource('/json').post((req) => {
      gotFormat = req.contentFormat
      const body = req.json() as Record<string, unknown>
      return { payload: JSON.stringify({ ...body, seen: true }), contentFormat: 'application/json' }
    })
    const sent = { n: 1.5, s: 'grüße ✓', list: [1, 'two', null], nested: { ok: false } }
    const res = await client.post(url('/json'), JSON.stringify(sent), { contentFormat: 'application/json' })
    expect(res.code).toBe('2.01')
    expect(gotFormat).toBe(50)
    expect(res.contentFormat).toBe(50)
    expect(res.json()).toEqual({ ...sent, seen: true })
  })

  describe('payload sizes (block-wise above one PDU)', () => {
    const sizes = [0, 1, 1024, 64 * 1024, 1024 * 1024]

    it.each(sizes)('%i bytes: download, upload and echo byte for byte', async (size) => {
      const { server, client, url } = await setup()
      const down = pattern(size, size + 1)
      const up = pattern(size, size + 2)
      const both = pattern(size, size + 3)
      let uploaded: Buffer | undefined
      let echoedIn: Buffer | undefined
      server
        .resource('/blob')
        .get(() => down)
        .put((req) => {
          uploaded = Buffer.from(req.payload)
        })
        .post((req) => {
          echoedIn = Buffer.from(req.payload)
          return req.payload
        })

      const get = await client.get(url('/blob'))
      expect(get.code).toBe('2.05')
      expectSameBytes(get.payload, down, `GET ${size}`)

      const put = await client.put(url('/blob'), up)
      expect(put.code).toBe('2.04')
      expectSameBytes(uploaded, up, `PUT ${size}`)

      const post = await client.post(url('/blob'), both)
      expect(post.code).toBe('2.01')
      expectSameBytes(echoedIn, both, `POST ${size} (server side)`)
      expectSameBytes(post.payload, both, `POST ${size} (echo)`)
    })

    it('64 KiB bodies from a separate (async) response arrive whole', async () => {
      const { server, client, url } = await setup()
      const body = pattern(64 * 1024, 99)
      server.resource('/slow-blob').get(async () => {
        await sleep(50)
        return body
      })
      const res = await client.get(url('/slow-blob'))
      expect(res.code).toBe('2.05')
      expectSameBytes(res.payload, body, 'async 64 KiB')
    })

    it('20 parallel 64 KiB echoes do not mix up blocks', async () => {
      const { server, client, url } = await setup()
      server.resource('/echo').post((req) => req.payload)
      const bodies = Array.from({ length: 20 }, (_, i) => pattern(64 * 1024, 1000 + i))
      const results = await Promise.all(bodies.map((b) => client.post(url('/echo'), b)))
      results.forEach((res, i) => {
        expect(res.code).toBe('2.01')
        expectSameBytes(res.payload, bodies[i], `echo #${i}`)
      })
    })
  })

  describe('failures', () => {
    it('times out against a peer that never answers', async () => {
      const peer = await silentPeer(type, host)
      const client = newClient()
      const started = Date.now()
      const err = await expectCoapError(client.get(`coap://${hostPart}:${peer.port}/x`, { timeout: 300 }), 'ERR_COAP_TIMEOUT')
      const elapsed = Date.now() - started
      expect(err.name).toBe('CoapTimeoutError')
      expect(elapsed).toBeGreaterThanOrEqual(250)
      expect(elapsed).toBeLessThan(3000)
      expect(peer.received()).toBeGreaterThanOrEqual(1) // the request did go out

      // The client-wide default timeout applies when the request gives none.
      const quick = newClient({ timeout: 200 })
      await expectCoapError(quick.get(`coap://${hostPart}:${peer.port}/y`, { confirmable: false }), 'ERR_COAP_TIMEOUT')
    })

    it('a CON request to a port where nothing listens fails fast (ICMP unreachable → ERR_COAP_CONNECTION)', async () => {
      const port = await closedPort(type, host)
      const client = newClient()
      const started = Date.now()
      await expectCoapError(client.get(`coap://${hostPart}:${port}/x`, { timeout: 2000 }), 'ERR_COAP_CONNECTION')
      expect(Date.now() - started).toBeLessThan(1500)
      // A NON request fails fast the same way (libcoap reports the ICMP error for the session;
      // our patch 0002 makes that report carry the request's token).
      const nonStarted = Date.now()
      await expectCoapError(client.get(`coap://${hostPart}:${port}/x`, { timeout: 2000, confirmable: false }), 'ERR_COAP_CONNECTION')
      expect(Date.now() - nonStarted).toBeLessThan(1500)
    })

    it('times out when the handler never resolves, and the client still works afterwards', async () => {
      const { server, client, url } = await setup()
      let calls = 0
      server.resource('/never').get(() => {
        calls++
        return new Promise<string>(() => {})
      })
      const started = Date.now()
      await expectCoapError(client.get(url('/never'), { timeout: 400 }), 'ERR_COAP_TIMEOUT')
      expect(Date.now() - started).toBeGreaterThanOrEqual(350)
      expect(calls).toBe(1)
      const res = await client.get(url('/text'))
      expect(res.text()).toBe('initial state')
    })

    it('AbortController aborts a request in flight with ERR_COAP_ABORTED', async () => {
      const { server, client, url } = await setup()
      let calls = 0
      server.resource('/never').get(() => {
        calls++
        return new Promise<string>(() => {})
      })
      const controller = new AbortController()
      const reason = new Error('user gave up')
      const pending = client.get(url('/never'), { signal: controller.signal })
      setTimeout(() => controller.abort(reason), 100)
      const started = Date.now()
      const err = await expectCoapError(pending, 'ERR_COAP_ABORTED')
      expect(Date.now() - started).toBeLessThan(2000)
      expect(err.cause).toBe(reason)
      expect(calls).toBe(1)

      // An already aborted signal rejects without sending anything.
      const before = calls
      await expectCoapError(client.get(url('/never'), { signal: AbortSignal.abort() }), 'ERR_COAP_ABORTED')
      await sleep(100)
      expect(calls).toBe(before)

      // The client is still usable.
      expect((await client.get(url('/text'))).code).toBe('2.05')
    })

    it('client.close() with a request in flight rejects it with ERR_COAP_CLOSED', async () => {
      const { server, url } = await setup()
      server.resource('/never').get(() => new Promise<string>(() => {}))
      const client = newClient()
      const inFlight = client.get(url('/never'))
      const alsoInFlight = client.get(url('/slow'))
      await sleep(100)
      await client.close()
      await expectCoapError(inFlight, 'ERR_COAP_CLOSED')
      await expectCoapError(alsoInFlight, 'ERR_COAP_CLOSED')
      // Later requests fail the same way; close() is idempotent.
      await expectCoapError(client.get(url('/text')), 'ERR_COAP_CLOSED')
      await client.close()
    })
  })

  it('200 concurrent requests are all answered with their own response', async () => {
    const { server, client, url } = await setup()
    let calls = 0
    server.resource('/id').get((req) => {
      calls++
      return `id-${req.searchParams.get('n')}`
    })
    const n = 200
    const results = await Promise.all(Array.from({ length: n }, (_, i) => client.get(url(`/id?n=${i}`))))
    expect(calls).toBe(n)
    results.forEach((res, i) => {
      expect(res.code).toBe('2.05')
      expect(res.text()).toBe(`id-${i}`)
    })
  })

  it('50 concurrent separate responses are matched to their requests', async () => {
    const { server, client, url } = await setup()
    server.resource('/later').get(async (req) => {
      const n = Number(req.searchParams.get('n'))
      await sleep(20 + ((n * 37) % 200)) // finish out of order
      return `later-${n}`
    })
    const n = 50
    const results = await Promise.all(Array.from({ length: n }, (_, i) => client.get(url(`/later?n=${i}`))))
    results.forEach((res, i) => {
      expect(res.code).toBe('2.05')
      expect(res.type).toBe('CON')
      expect(res.text()).toBe(`later-${i}`)
    })
  })
})

// NSTART is 1: libcoap sends a request to a peer only once the one before it is answered or
// given up. A request that timed out in JS is given up in libcoap too (no more retransmissions),
// so the next one goes out at once instead of ~93 s of retransmissions later.
describe('a request that timed out', () => {
  it('is not retransmitted any more and does not hold up the next request to the same peer', async () => {
    const { sock, seen } = await rawPeer((m, token, reply) => {
      if (seen.length === 1) return // the first request is never answered
      reply(Buffer.concat([Buffer.from([0x60 | token.length, 0x45, m[2]!, m[3]!]), token, Buffer.from([0xff, 0x68, 0x69])]))
    })
    const client = newClient({ parameters: { ackTimeout: 1, ackRandomFactor: 1 } })
    const url = `coap://127.0.0.1:${sock.address().port}/x`
    await expectCoapError(client.get(url, { timeout: 300 }), 'ERR_COAP_TIMEOUT')
    const started = Date.now()
    const res = await client.get(url, { timeout: 3000 })
    expect(res.text()).toBe('hi')
    expect(Date.now() - started, 'the second request was not queued behind the first').toBeLessThan(500)
    // Past the first retransmission time (1 s): the first request's token was sent only once.
    await sleep(1300)
    expect(seen.filter((t) => t === seen[0])).toHaveLength(1)
    // An aborted request is given up the same way.
    const ctl = new AbortController()
    const aborted = client.get(url, { signal: ctl.signal })
    ctl.abort()
    await expectCoapError(aborted, 'ERR_COAP_ABORTED')
    expect((await client.get(url, { timeout: 3000 })).text()).toBe('hi')
  })

  it('aborted while waiting for its turn, is never sent', async () => {
    const { sock, seen } = await rawPeer((m, token, reply) => {
      if (seen.length > 1) reply(Buffer.concat([Buffer.from([0x60 | token.length, 0x45, m[2]!, m[3]!]), token, Buffer.from([0xff, 0x68, 0x69])]))
    })
    const client = newClient({ parameters: { ackTimeout: 1, ackRandomFactor: 1 } })
    const url = `coap://127.0.0.1:${sock.address().port}/x`
    const first = client.get(url, { timeout: 600 }) // never answered: the next one waits (NSTART 1)
    const ctl = new AbortController()
    const second = client.get(url, { signal: ctl.signal })
    await sleep(50)
    ctl.abort()
    await expectCoapError(second, 'ERR_COAP_ABORTED')
    await expectCoapError(first, 'ERR_COAP_TIMEOUT')
    expect((await client.get(url, { timeout: 3000 })).text()).toBe('hi')
    expect(seen, 'the peer saw the first and the third request only').toHaveLength(2)
  })

  it('does not make requests queued after it retransmit early', async () => {
    const b = await rawPeer(() => undefined)
    const a = await rawPeer(() => undefined)
    const client = newClient({ parameters: { ackTimeout: 1, ackRandomFactor: 1 } })
    const first = client.get(`coap://127.0.0.1:${a.sock.address().port}/x`, { timeout: 600 })
    await sleep(300)
    const second = client.get(`coap://127.0.0.1:${b.sock.address().port}/x`, { timeout: 1600 })
    await expectCoapError(first, 'ERR_COAP_TIMEOUT')
    await expectCoapError(second, 'ERR_COAP_TIMEOUT')
    // Sent at 300 ms, retransmitted 1 s later (not when the first one was given up at 600 ms).
    expect(b.at.length).toBe(2)
    expect(b.at[1]! - b.at[0]!).toBeGreaterThan(850)
  })
})

// A NON message's MID is its sender's own: one that happens to equal the MID of our pending CON
// (two independent counters cross now and then) must not take that CON off the send queue. In
// libcoap 4.3.5 it did (patch 0019): the request was never retransmitted nor given up, and with
// NSTART 1 every later request to that peer waited behind it for good.
describe('a NON message with the MID of a pending request', () => {
  it('leaves that request to be retransmitted and answered, and the next one flows', async () => {
    const { sock, seen } = await rawPeer((m, token, reply) => {
      if (seen.length === 1) {
        // A NON 2.05 with another token (as a notification would be) and the request's MID.
        reply(Buffer.from([0x51, 0x45, m[2]!, m[3]!, 0x99, 0xff, 0x6e]))
        return
      }
      reply(Buffer.concat([Buffer.from([0x60 | token.length, 0x45, m[2]!, m[3]!]), token, Buffer.from([0xff, 0x68, 0x69])]))
    })
    const client = newClient({ parameters: { ackTimeout: 1, ackRandomFactor: 1 } })
    const url = `coap://127.0.0.1:${sock.address().port}/x`
    const res = await client.get(url, { timeout: 3000 })
    expect(res.text()).toBe('hi')
    expect(seen[1], 'the request was retransmitted').toBe(seen[0])
    expect((await client.get(url, { timeout: 3000 })).text()).toBe('hi')
  })
})

/** A UDP peer on loopback that records the token and arrival time of each CON it gets. */
async function rawPeer(onCon: (m: Buffer, token: Buffer, reply: (b: Buffer) => void) => void): Promise<{ sock: dgram.Socket; seen: string[]; at: number[] }> {
  const sock = dgram.createSocket('udp4')
  cleanups.push(() => new Promise<void>((resolve) => sock.close(() => resolve())))
  const seen: string[] = []
  const at: number[] = []
  sock.on('message', (m, r) => {
    if (m.length < 4 || (m[0]! & 0x30) !== 0) return // only CONs: not the client's RSTs or ACKs
    const token = m.subarray(4, 4 + (m[0]! & 0x0f))
    seen.push(token.toString('hex'))
    at.push(Date.now())
    onCon(m, token, (b) => sock.send(b, r.port, r.address))
  })
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()))
  return { sock, seen, at }
}

describe('separate response threshold (separateResponseAfter)', () => {
  async function serve(after?: number): Promise<{ port: number; calls: () => number }> {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0', ...(after === undefined ? {} : { separateResponseAfter: after }) })
    cleanups.push(() => server.close())
    let calls = 0
    server.resource('/wait').post(async (req) => {
      calls++
      await sleep(Number(req.text()))
      return `waited ${req.text()}`
    })
    const [ep] = await server.listen()
    return { port: ep.port, calls: () => calls }
  }

  it('by default answers a quick async handler piggybacked and a slow one separately', async () => {
    const { port } = await serve()
    const client = newClient({ timeout: 5000 })
    const quick = await client.post(`coap://127.0.0.1:${port}/wait`, '30')
    expect(quick.type).toBe('ACK')
    expect(quick.text()).toBe('waited 30')
    const slow = await client.post(`coap://127.0.0.1:${port}/wait`, '800')
    expect(slow.type).toBe('CON')
    expect(slow.text()).toBe('waited 800')
  })

  it('0 sends the empty ACK at once', async () => {
    const { port } = await serve(0)
    const client = newClient({ timeout: 5000 })
    const res = await client.post(`coap://127.0.0.1:${port}/wait`, '30')
    expect(res.type).toBe('CON')
  })

  it('a CON retransmitted while its answer is held back, and after the empty ACK, runs the handler once', async () => {
    const { port, calls } = await serve(300)
    const sock = dgram.createSocket('udp4')
    const got: Buffer[] = []
    sock.on('message', (m) => got.push(m))
    // CON POST, token 0xab, message id 0x1234, Uri-Path "wait", payload "700"
    const msg = Buffer.concat([Buffer.from([0x41, 0x02, 0x12, 0x34, 0xab, 0xb4]), Buffer.from('wait'), Buffer.from([0xff]), Buffer.from('700')])
    const send = (): void => sock.send(msg, port, '127.0.0.1')
    send()
    await sleep(100)
    send() // held: dropped
    await sleep(350)
    send() // separate response under way: libcoap repeats the empty ACK
    const isAnswer = (m: Buffer): boolean => m[1] === 65 && m.subarray(m.length - 10).toString() === 'waited 700'
    for (let i = 0; i < 60 && !got.some(isAnswer); i++) await sleep(50) // bounded wait for the late answer
    sock.close()
    expect(calls()).toBe(1)
    const emptyAcks = got.filter((m) => m.length === 4 && m[0] === 0x60 && m[1] === 0 && m.readUInt16BE(2) === 0x1234)
    expect(emptyAcks.length).toBe(2)
    const answers = got.filter(isAnswer)
    expect(answers.length).toBeGreaterThanOrEqual(1)
    expect((answers[0][0] >> 4) & 3).toBe(0) // CON
  })
})

describe('one server on IPv4 and IPv6 at once', () => {
  it('answers on both endpoints', async () => {
    const server = new CoapServer({ listen: ['coap://127.0.0.1:0', 'coap://[::1]:0'] })
    cleanups.push(() => server.close())
    const remotes: string[] = []
    server.resource('/where').get((req) => {
      remotes.push(req.remote.address)
      return 'here'
    })
    const endpoints = await server.listen()
    expect(endpoints.map((e) => e.host)).toEqual(['127.0.0.1', '::1'])
    const client = newClient({ timeout: 5000 })
    const v4 = await client.get(`coap://127.0.0.1:${endpoints[0].port}/where`)
    const v6 = await client.get(`coap://[::1]:${endpoints[1].port}/where`)
    expect([v4.text(), v6.text()]).toEqual(['here', 'here'])
    expect(remotes).toEqual(['127.0.0.1', '::1'])
  })

  it('after server.close() nothing answers any more', async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    server.resource('/x').get(() => 'x')
    const [ep] = await server.listen()
    const client = newClient({ timeout: 5000 })
    expect((await client.get(`coap://127.0.0.1:${ep.port}/x`)).text()).toBe('x')
    await server.close()
    expect(server.endpoints).toHaveLength(0)
    const err = await client.get(`coap://127.0.0.1:${ep.port}/x`, { timeout: 500 }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(CoapError)
    expect(['ERR_COAP_CONNECTION', 'ERR_COAP_TIMEOUT']).toContain((err as CoapError).code)
  })
})
