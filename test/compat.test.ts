// libcoap/compat: node-coap's documented behaviour (its README examples turned into tests),
// compat client ↔ compat server, ↔ our CoapServer, ↔ libcoap's coap-server, and the three
// node-coap pains fixed by construction (timeouts never crash, idle clients let Node exit,
// no leak across 10 000 requests). Real UDP sockets on 127.0.0.1 and ::1.
import { afterEach, describe, expect, it } from 'vitest'
import * as dgram from 'node:dgram'
import * as path from 'node:path'
import * as v8 from 'node:v8'
import * as vm from 'node:vm'
import * as coap from '../dist/compat/index.js'
import { CoapError, CoapServer, CoapTimeoutError } from '../dist/index.js'
import type { IncomingMessage, ObserveReadStream, ObserveWriteStream, Server, ServerResponse } from '../dist/compat/index.js'
import { freePort, startCoapServer, COAP_SERVER_BANNER } from './helpers/peers'
import { listen, readAll, runNode, send } from './helpers/compat'
import { waitFor } from './helpers/bytes'

const COMPAT = path.resolve(__dirname, '../dist/compat/index.js')

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
  await new Promise<void>((resolve) => coap.globalAgent.close(() => resolve()))
  coap.defaultTiming()
})

function closeLater(server: Server): Server {
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return server
}

async function compatServer(
  listener: (req: IncomingMessage, res: ServerResponse | ObserveWriteStream) => void,
  options: Parameters<typeof coap.createServer>[0] & object = {},
  address = '127.0.0.1',
): Promise<{ server: Server; port: number; base: string }> {
  const server = closeLater(coap.createServer(options, listener))
  const port = await freePort()
  await listen(server, port, address)
  return { server, port, base: `coap://${address.includes(':') ? `[${address}]` : address}:${port}` }
}

// Collects `n` data events of an observe stream (bounded by `ms`).
function take(stream: ObserveReadStream, n: number, ms: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = []
    const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${n} notifications within ${ms} ms`)), ms)
    stream.on('data', (d: Buffer) => {
      got.push(d)
      if (got.length === n) {
        clearTimeout(timer)
        resolve(got)
      }
    })
    stream.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
  })
}

describe("node-coap README: 'Basic Example'", () => {
  it('IPv4: createServer + request, the response piped as a stream', async () => {
    const { port } = await compatServer((req, res) => {
      res.end('Hello ' + req.url.split('/')[1] + '\n')
    })
    const res = await send(coap.request(`coap://127.0.0.1:${port}/Matteo`))
    expect(res.code).toBe('2.05')
    expect((await readAll(res)).toString()).toBe('Hello Matteo\n')
  })

  it("IPv6 ({ type: 'udp6' }) on ::1", async () => {
    const { port } = await compatServer((req, res) => {
      res.end('Hello ' + req.url.split('/')[1] + '\n')
    }, { type: 'udp6' }, '::1')
    const res = await send(coap.request(`coap://[::1]:${port}/Matteo`))
    expect(res.payload.toString()).toBe('Hello Matteo\n')
    expect(res.rsinfo.family).toBe('IPv6')
  })

  it('createServer(listener) without options, listen(port, cb) on the wildcard address', async () => {
    const server = closeLater(coap.createServer((_req, res) => res.end('root')))
    const port = await freePort()
    await new Promise<void>((resolve) => server.listen(port, () => resolve()))
    expect(server.address()).toMatchObject({ address: '0.0.0.0', port })
    const res = await send(coap.request({ hostname: '127.0.0.1', port }))
    expect(res.payload.toString()).toBe('root')
  })
})

describe('request(params) and IncomingMessage fields', () => {
  it('method, pathname, query, options/headers, payload, url and rsinfo reach the server; code and options come back', async () => {
    let seen: IncomingMessage | undefined
    const { port } = await compatServer((req, res) => {
      seen = req
      res.code = '2.01'
      res.setOption('Content-Format', 'application/json')
      res.setOption('Location-Path', ['items', '7'])
      res.setOption('Max-Age', 30)
      res.end(JSON.stringify({ got: req.payload.toString() }))
    }, { paths: ['/items'] })
    const req = coap.request({ hostname: '127.0.0.1', port, method: 'POST', pathname: '/items', query: 'a=1&b=two', options: { 'Content-Format': 'text/plain', Accept: 'application/json' } })
    req.write('hel')
    const res = await send(req, 'lo')
    expect(seen!.method).toBe('POST')
    expect(seen!.code).toBe('0.02')
    expect(seen!.url).toBe('/items?a=1&b=two')
    expect(seen!.payload.toString()).toBe('hello')
    expect(seen!.headers).toMatchObject({ 'Content-Format': 'text/plain', 'Content-Type': 'text/plain', Accept: 'application/json' })
    expect(seen!.options.filter((o) => o.name === 'Uri-Query').map((o) => o.value)).toEqual(['a=1', 'b=two'])
    expect(seen!.rsinfo.address).toBe('127.0.0.1')
    expect(seen!.rsinfo.port).toBeGreaterThan(0)
    expect(res.code).toBe('2.01')
    expect(res.method).toBeNull()
    expect(res.headers).toMatchObject({ 'Content-Format': 'application/json', 'Max-Age': 30 })
    expect(res.options.filter((o) => o.name === 'Location-Path').map((o) => o.value)).toEqual(['items', '7'])
    expect(JSON.parse(res.payload.toString())).toEqual({ got: 'hello' })
    expect(res.rsinfo).toMatchObject({ address: '127.0.0.1', port, family: 'IPv4' })
  })

  it("HTTP-style codes (404), writeHead(code, headers), setHeader and 'Content-Type' alias", async () => {
    const { port } = await compatServer((req, res) => {
      if (req.url === '/missing') {
        res.code = 404
        return res.end()
      }
      res.writeHead(203, { 'Content-Type': 'application/cbor', ETag: Buffer.from([1, 2]) })
      res.setHeader('Max-Age', 5)
      res.end(Buffer.from([0xa0]))
    }, { paths: ['/missing', '/x'] })
    const missing = await send(coap.request(`coap://127.0.0.1:${port}/missing`))
    expect(missing.code).toBe('4.04')
    const x = await send(coap.request(`coap://127.0.0.1:${port}/x`))
    expect(x.code).toBe('2.03')
    expect(x.headers['Content-Format']).toBe('application/cbor')
    expect(x.headers['Max-Age']).toBe(5)
  })

  it('every method of node-coap is passed through, iPATCH spelt as node-coap does', async () => {
    const methods: string[] = []
    const { port } = await compatServer((req, res) => {
      methods.push(req.method!)
      res.end()
    }, { paths: ['/m'] })
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'FETCH', 'PATCH', 'iPATCH']) {
      const withBody = method !== 'GET' && method !== 'DELETE'
      // FETCH without a Content-Format gets 4.15 (from libcoap, as from node-coap's server).
      const res = await send(coap.request({ hostname: '127.0.0.1', port, pathname: '/m', method, contentFormat: withBody ? 'text/plain' : undefined }), withBody ? 'x' : undefined)
      expect(res.code).toBe('2.05') // node-coap's default code, whatever the method
    }
    expect(methods).toEqual(['GET', 'POST', 'PUT', 'DELETE', 'FETCH', 'PATCH', 'iPATCH'])
  })

  it('NON requests (confirmable: false) are answered', async () => {
    const { port } = await compatServer((_req, res) => res.end('non'), { paths: ['/n'] })
    const res = await send(coap.request({ hostname: '127.0.0.1', port, pathname: '/n', confirmable: false }))
    expect(res.payload.toString()).toBe('non')
  })

  it('every path reaches the listener, like node-coap; paths and addPath() make a path observable', async () => {
    const { server, port } = await compatServer((req, res) => res.end(`at ${req.url}`), { paths: ['/a'] })
    for (const path of ['/b', '/deep/er/path', '/']) {
      const res = await send(coap.request(`coap://127.0.0.1:${port}${path}?q=1`))
      expect([res.code, res.payload.toString()]).toEqual(['2.05', `at ${path}?q=1`])
    }
    // Not observable yet: a registration for /b is answered without Observe, and the stream ends.
    const plain = await send(coap.request({ hostname: '127.0.0.1', port, pathname: '/b', observe: true }))
    expect(plain.headers.Observe).toBeUndefined()
    server.addPath('/b')
    const observed = await send(coap.request({ hostname: '127.0.0.1', port, pathname: '/b', observe: true }))
    expect(observed).toBeInstanceOf(coap.ObserveReadStream)
    expect(typeof observed.headers.Observe).toBe('number')
    ;(observed as ObserveReadStream).close()
  })

  it('a separate response: res.end() later than piggybackReplyMs still arrives', async () => {
    const { port } = await compatServer((_req, res) => {
      setTimeout(() => res.end('slow'), 150)
    }, { paths: ['/slow'], piggybackReplyMs: 20 })
    const res = await send(coap.request(`coap://127.0.0.1:${port}/slow`))
    expect(res.payload.toString()).toBe('slow')
  })

  it('a listener that throws gets 5.00 and a server error event; the server keeps serving', async () => {
    const errors: unknown[] = []
    const { server, port } = await compatServer((req, res) => {
      if (req.url === '/boom') throw new Error('listener bug')
      res.end('fine')
    }, { paths: ['/boom', '/ok'] })
    server.on('error', (err) => errors.push(err))
    expect((await send(coap.request(`coap://127.0.0.1:${port}/boom`))).code).toBe('5.00')
    expect((errors[0] as Error).message).toBe('listener bug')
    expect((await send(coap.request(`coap://127.0.0.1:${port}/ok`))).payload.toString()).toBe('fine')
  })

  it("a port already taken is an 'error' event with ERR_COAP_LISTEN, not a crash", async () => {
    // Taken by a socket without SO_REUSEADDR (libcoap sets it on its own UDP endpoints, so two
    // libcoap servers may share a port, as node-coap's default reuseAddr: true allows).
    const taker = dgram.createSocket('udp4')
    await new Promise<void>((r) => taker.bind(0, '127.0.0.1', () => r()))
    cleanups.push(() => new Promise<void>((r) => taker.close(() => r())))
    const port = taker.address().port
    const second = closeLater(coap.createServer())
    const err = await new Promise<unknown>((resolve) => {
      second.on('error', resolve)
      second.listen(port, '127.0.0.1', () => resolve(new Error('listening twice on one port')))
    })
    expect(err).toBeInstanceOf(CoapError)
    expect((err as CoapError).code).toBe('ERR_COAP_LISTEN')
  })

  it('argument mistakes throw TypeError/RangeError at once', () => {
    expect(() => coap.request(42 as never)).toThrow(TypeError)
    expect(() => coap.request({ port: 70000 })).toThrow(RangeError)
    expect(() => coap.request({ method: 'BREW' })).toThrow(RangeError)
    expect(() => coap.request({ observe: 7 as never })).toThrow(RangeError)
    expect(() => coap.request({ bogus: 1 } as never)).toThrow(TypeError)
    expect(() => coap.request('http://example.com/')).toThrow(CoapError)
    expect(() => coap.request('coap://127.0.0.1/').setOption('No-Such-Option', 'x')).toThrow(RangeError)
    expect(() => coap.createServer({ proxy: true })).toThrow(RangeError)
    expect(() => coap.createServer({ type: 'tcp' as never })).toThrow(RangeError)
    expect(() => new coap.Agent({ socket: {} } as never)).toThrow(RangeError)
    expect(() => coap.registerFormat('x/y', 70000)).toThrow(RangeError)
    expect(() => coap.registerOption('Max-Age', 'no' as never, String as never)).toThrow(TypeError)
    const res = new coap.ServerResponse(() => undefined)
    expect(() => (res.code = '9.99')).toThrow(RangeError)
    expect(() => (res.code = {} as never)).toThrow(TypeError)
  })
})

describe('registerOption / registerFormat / ignoreOption', () => {
  it('a registered Content-Format is sent by name and shown by name; a registered option is converted both ways', async () => {
    coap.registerFormat('application/x-compat-test', 65000)
    coap.registerOption('2048', (v) => Buffer.from(String(v).toUpperCase()), (b) => `<${b.toString()}>`)
    coap.ignoreOption('X-Http-Only')
    let seen: IncomingMessage | undefined
    const { port } = await compatServer((req, res) => {
      seen = req
      res.setOption('Content-Format', 'application/x-compat-test')
      res.setOption('2048', 'back')
      res.end()
    }, { paths: ['/opt'] })
    const req = coap.request(`coap://127.0.0.1:${port}/opt`)
    req.setOption('Content-Format', 'application/x-compat-test')
    req.setOption('2048', 'there')
    req.setOption('X-Http-Only', 'dropped')
    const res = await send(req)
    expect(seen!.headers['Content-Format']).toBe('application/x-compat-test')
    expect(seen!.headers['2048']).toBe('<THERE>')
    expect(res.headers['Content-Format']).toBe('application/x-compat-test')
    expect(res.headers['2048']).toBe('<BACK>')
  })

  it('options without a converter stay Buffers in options and are left out of headers (as node-coap)', async () => {
    const { port } = await compatServer((_req, res) => {
      res.setOption('3000', Buffer.from([9, 8, 7]))
      res.end()
    }, { paths: ['/raw'] })
    const res = await send(coap.request(`coap://127.0.0.1:${port}/raw`))
    const raw = res.options.find((o) => o.name === '3000')
    expect(raw?.value).toEqual(Buffer.from([9, 8, 7]))
    expect(res.headers['3000']).toBeUndefined()
  })
})

describe('observe', () => {
  it("node-coap's observe_server pattern (writes from a timer) ↔ observe: true client; close() ends it and the server's res finishes", async () => {
    let finished = false
    let tick = 0
    const { port } = await compatServer((req, res) => {
      if (req.headers.Observe !== 0) return res.end('plain')
      const timer = setInterval(() => res.write(`tick ${++tick}`), 40)
      res.on('finish', () => {
        clearInterval(timer)
        finished = true
      })
    }, { paths: ['/clock'] })
    const res = await send(coap.request({ hostname: '127.0.0.1', port, pathname: '/clock', observe: true }))
    expect(res).toBeInstanceOf(coap.ObserveReadStream)
    const stream = res as ObserveReadStream
    // The first write answers the registration (a separate response after piggybackReplyMs),
    // then every write arrives.
    const got = (await take(stream, 3, 5000)).map(String)
    expect(got).toEqual(['tick 1', 'tick 2', 'tick 3'])
    expect(typeof stream.headers.Observe).toBe('number')
    stream.close()
    await waitFor(() => finished, 3000, "the server's observe stream to finish")
    // Writes after the observer left are dropped, not errors.
    expect(tick).toBeLessThan(1000)
  })

  it('a first write inside the listener is the first response; two observers each get their values (and the latest again when the other is notified)', async () => {
    const streams: ObserveWriteStream[] = []
    const { port } = await compatServer((req, res) => {
      const s = res as ObserveWriteStream
      streams.push(s)
      s.write(`first ${streams.length}`)
    }, { paths: ['/v'] })
    const a = (await send(coap.request({ hostname: '127.0.0.1', port, pathname: '/v', observe: true }))) as ObserveReadStream
    const aData = take(a, 2, 5000)
    const b = (await send(coap.request({ hostname: '127.0.0.1', port, pathname: '/v', observe: '0', agent: new coap.Agent() }))) as ObserveReadStream
    cleanups.push(() => a.close(), () => b.close())
    const bData = take(b, 3, 5000)
    streams[0]!.write('second 1')
    expect((await aData).map(String)).toEqual(['first 1', 'second 1'])
    await new Promise((r) => setTimeout(r, 100))
    streams[1]!.write('second 2')
    // libcoap keeps one observer list per path: a's notification re-sent b its latest value.
    expect((await bData).map(String)).toEqual(['first 2', 'first 2', 'second 2'])
  })

  it('observing a path that is not observable: the answer comes without Observe and the stream ends', async () => {
    const { port } = await compatServer((_req, res) => res.end('plain'), { paths: ['/here'] })
    const res = await send(coap.request({ hostname: '127.0.0.1', port, pathname: '/elsewhere', observe: true }))
    expect([res.code, res.headers.Observe]).toEqual(['2.05', undefined])
    const chunks: string[] = []
    res.on('data', (d: Buffer) => chunks.push(d.toString()))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the stream did not end')), 3000)
      res.on('end', () => (clearTimeout(timer), resolve()))
    })
    expect(chunks).toEqual(['plain'])
  })
})

describe('compat client ↔ our CoapServer', () => {
  it('GET, PUT with a body and Content-Format, and observe of a notify()ing resource', async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    let state = 'OFF'
    server.resource('/alarm').get(() => state).put((req) => {
      state = req.text()
      return { code: '2.04' }
    })
    let temp = 20
    const t = server.resource('/temp', { observable: true }).get(() => String(temp))
    const [ep] = await server.listen()
    const base = `coap://127.0.0.1:${ep!.port}`
    const put = coap.request({ hostname: '127.0.0.1', port: ep!.port, pathname: '/alarm', method: 'PUT', contentFormat: 'text/plain' })
    expect((await send(put, 'ON')).code).toBe('2.04')
    const get = await send(coap.request(`${base}/alarm`))
    expect([get.code, get.payload.toString(), get.headers['Content-Format']]).toEqual(['2.05', 'ON', 'text/plain'])
    const obs = (await send(coap.request({ hostname: '127.0.0.1', port: ep!.port, pathname: '/temp', observe: true }))) as ObserveReadStream
    cleanups.push(() => obs.close())
    const data = take(obs, 3, 5000)
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, 50))
      temp++
      t.notify()
    }
    expect((await data).map(String)).toEqual(['20', '21', '22'])
  })
})

describe('compat client ↔ libcoap coap-server', () => {
  it('GET / gives the banner; PUT then GET /example_data; observe /time', async () => {
    const peer = await startCoapServer()
    cleanups.push(() => peer.stop())
    const root = await send(coap.request(peer.url('/')))
    expect(root.code).toBe('2.05')
    expect(root.payload.toString()).toMatch(COAP_SERVER_BANNER)
    const put = coap.request({ hostname: '127.0.0.1', port: peer.port, pathname: '/example_data', method: 'PUT' })
    put.setOption('Content-Format', 'application/json')
    expect((await send(put, '{"from":"compat"}')).code).toMatch(/^2\.0[14]$/)
    const got = await send(coap.request(peer.url('/example_data')))
    expect(got.payload.toString()).toBe('{"from":"compat"}')
    expect(got.headers['Content-Format']).toBe('application/json')
    const time = (await send(coap.request({ hostname: '127.0.0.1', port: peer.port, pathname: '/time', observe: true }))) as ObserveReadStream
    cleanups.push(() => time.close())
    const ticks = await take(time, 2, 8000)
    expect(ticks.every((b) => b.length > 0)).toBe(true)
  })
})

describe('parameters / updateTiming / Agent', () => {
  it('parameters carry the RFC 7252 defaults and derived times; updateTiming changes them, defaultTiming restores', async () => {
    expect(coap.parameters).toMatchObject({ ackTimeout: 2, ackRandomFactor: 1.5, maxRetransmit: 4, maxLatency: 100, exchangeLifetime: 247, maxTransmitSpan: 45, maxTransmitWait: 93 })
    coap.updateTiming({ ackTimeout: 1, ackRandomFactor: 1, maxRetransmit: 2, maxLatency: 2 })
    expect(coap.parameters).toMatchObject({ ackTimeout: 1, maxRetransmit: 2, maxTransmitSpan: 3, exchangeLifetime: 8 })
    expect(() => coap.updateTiming({ nope: 1 } as never)).toThrow(TypeError)
    expect(() => coap.updateTiming({ ackTimeout: 0 })).toThrow(RangeError)
    coap.updateTiming({ maxPayloadSize: 512, sendAcksForNonConfirmablePackets: false }) // node-coap keys with no meaning here
    expect(coap.parameters.ackTimeout).toBe(1)
    // node-coap's README example: its ackTimeout 0.25 is kept (and derived from) but libcoap
    // retransmits after 1 s at the soonest; a warning says so, once.
    const warnings: Error[] = []
    const onWarning = (w: Error): void => void warnings.push(w)
    process.on('warning', onWarning)
    cleanups.push(() => process.off('warning', onWarning))
    coap.updateTiming({ ackTimeout: 0.25, ackRandomFactor: 1.0, maxRetransmit: 3, maxLatency: 2, piggybackReplyMs: 10 })
    coap.updateTiming({ ackTimeout: 0.5 })
    expect(coap.parameters.ackTimeout).toBe(0.5)
    await new Promise((resolve) => setImmediate(resolve))
    expect(warnings.filter((w) => (w as { code?: string }).code === 'LIBCOAP_COMPAT_ACK_TIMEOUT')).toHaveLength(1)
    coap.defaultTiming()
    expect(coap.parameters.exchangeLifetime).toBe(247)
  })

  it('requests after updateTiming and with retrySend work; an Agent is closed and reused; agent: false', async () => {
    const { port } = await compatServer((_req, res) => res.end('ok'), { paths: ['/t'] })
    coap.updateTiming({ ackTimeout: 1, maxRetransmit: 1 })
    expect((await send(coap.request(`coap://127.0.0.1:${port}/t`))).payload.toString()).toBe('ok')
    expect((await send(coap.request({ hostname: '127.0.0.1', port, pathname: '/t', retrySend: 0 }))).payload.toString()).toBe('ok')
    const agent = new coap.Agent({ type: 'udp4' })
    cleanups.push(() => new Promise<void>((r) => agent.close(() => r())))
    expect((await send(agent.request({ hostname: '127.0.0.1', port, pathname: '/t' }))).payload.toString()).toBe('ok')
    expect(agent.pending).toBe(0)
    await new Promise<void>((r) => agent.close(() => r()))
    expect((await send(coap.request({ hostname: '127.0.0.1', port, pathname: '/t', agent }))).payload.toString()).toBe('ok')
    expect((await send(coap.request({ hostname: '127.0.0.1', port, pathname: '/t', agent: false }))).payload.toString()).toBe('ok')
  })

  it('closing an agent fails its pending request with ERR_COAP_CLOSED as an error event', async () => {
    const silent = dgram.createSocket('udp4')
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()))
    cleanups.push(() => new Promise<void>((r) => silent.close(() => r())))
    const agent = new coap.Agent()
    const req = agent.request({ hostname: '127.0.0.1', port: silent.address().port, timeout: 5000 })
    const failed = new Promise<unknown>((resolve) => req.on('error', resolve))
    req.end()
    await new Promise((r) => setTimeout(r, 50))
    agent.close()
    const err = await failed
    expect(err).toBeInstanceOf(CoapError)
    expect((err as CoapError).code).toBe('ERR_COAP_CLOSED')
  })
})

describe("node-coap's pains, fixed by construction", () => {
  async function silentPort(): Promise<number> {
    const silent = dgram.createSocket('udp4')
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()))
    cleanups.push(() => new Promise<void>((r) => silent.close(() => r())))
    return silent.address().port
  }

  it("a timeout is a 'timeout' event (and 'error' for those listening) with a CoapTimeoutError", async () => {
    const port = await silentPort()
    const req = coap.request({ hostname: '127.0.0.1', port, timeout: 300 })
    const timedOut = new Promise<unknown>((resolve) => req.on('timeout', resolve))
    const errored = new Promise<unknown>((resolve) => req.on('error', resolve))
    req.end()
    const [t, e] = await Promise.all([timedOut, errored])
    expect(t).toBeInstanceOf(CoapTimeoutError)
    expect(e).toBe(t)
  })

  it('an unhandled timeout never crashes the process (no listener at all, in a child process)', async () => {
    const port = await silentPort()
    const script = `
      const coap = require(${JSON.stringify(COMPAT)})
      coap.request({ hostname: '127.0.0.1', port: ${port}, timeout: 200 }).end()
      coap.request({ hostname: '127.0.0.1', port: ${port}, timeout: 200, confirmable: false }).end()
      setTimeout(() => console.log('still alive'), 800)`
    const run = await runNode(script, 15_000)
    expect(run.killed, run.stderr).toBe(false)
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toBe('still alive\n')
    expect(run.stderr).toBe('')
  })

  it('an idle client does not keep the process alive: a child makes a request and exits on its own', async () => {
    const { port } = await compatServer((_req, res) => res.end('bye'), { paths: ['/bye'] })
    const script = `
      const coap = require(${JSON.stringify(COMPAT)})
      const req = coap.request('coap://127.0.0.1:${port}/bye')
      req.on('response', (res) => console.log(res.code, res.payload.toString()))
      req.end()`
    const run = await runNode(script, 15_000)
    expect(run.killed, `the child did not exit by itself within 15 s: ${run.stdout} ${run.stderr}`).toBe(false)
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toBe('2.05 bye\n')
    // It ends right after its answer, not after some lifetime timer (node-coap keeps its socket).
    expect(run.ms).toBeLessThan(5000)
  })

  it('no leak across 10 000 requests: heap and RSS flat after GC', async () => {
    v8.setFlagsFromString('--expose-gc')
    const gc = vm.runInNewContext('gc') as () => void
    const { port } = await compatServer((req, res) => {
      res.setOption('Content-Format', 'text/plain')
      res.end(req.payload)
    }, { paths: ['/echo'] })
    const url = { hostname: '127.0.0.1', port, pathname: '/echo', method: 'POST' }
    const body = Buffer.alloc(64, 7)
    const run = async (total: number): Promise<void> => {
      const workers = 16
      let next = 0
      await Promise.all(Array.from({ length: workers }, async () => {
        while (next < total) {
          next++
          const res = await send(coap.request(url), body)
          if (res.payload.length !== body.length) throw new Error('bad echo')
        }
      }))
    }
    const settle = async (): Promise<NodeJS.MemoryUsage> => {
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setImmediate(r))
        gc()
      }
      return process.memoryUsage()
    }
    await run(1000) // warm-up: JIT, caches, sessions
    const before = await settle()
    const started = Date.now()
    await run(10_000)
    const elapsed = Date.now() - started
    const after = await settle()
    const heapGrowth = after.heapUsed - before.heapUsed
    const rssGrowth = after.rss - before.rss
    // 10 000 leaked responses of even 500 bytes each would be 5 MB.
    expect(heapGrowth, `heap grew ${(heapGrowth / 1e6).toFixed(2)} MB over 10 000 requests (${elapsed} ms)`).toBeLessThan(4e6)
    expect(rssGrowth, `RSS grew ${(rssGrowth / 1e6).toFixed(2)} MB`).toBeLessThan(64e6)
    expect(coap.globalAgent.pending).toBe(0)
  }, 120_000)
})
