// Wrong types and out-of-range values for every public entry point. Each row names the exact error
// class (TypeError / RangeError / a CoapError subclass with its `code`) and a pattern the message
// must match, which names the offending parameter. Async methods must reject, not throw. After
// the failures, the same client and server must still work.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as dgram from 'node:dgram'
import * as fs from 'node:fs'
import {
  CoapClient, CoapClosedError, CoapError, CoapInvalidUriError, CoapListenError, CoapServer, ServerResource,
  codeToString, parseCode, parseContentFormat, parseUri, setLogLevel,
} from '../dist/index.js'
import { Context, Resource, Session } from '../dist/core/index.js'

const HOST = '127.0.0.1'

type ErrorClass = abstract new (...args: never[]) => Error
interface Expected {
  cls: ErrorClass
  /** `code` of a CoapError */
  code?: string
  msg: RegExp
}

const T = (msg: RegExp): Expected => ({ cls: TypeError, msg })
const R = (msg: RegExp): Expected => ({ cls: RangeError, msg })
const URI = (msg: RegExp): Expected => ({ cls: CoapInvalidUriError, code: 'ERR_COAP_INVALID_URI', msg })

function check(err: unknown, exp: Expected): void {
  expect(err, 'an error was expected').toBeInstanceOf(Error)
  const e = err as Error & { code?: unknown }
  expect(e, `${e.name}: ${e.message}`).toBeInstanceOf(exp.cls)
  if (exp.code !== undefined) {
    expect(e).toBeInstanceOf(CoapError)
    expect(e.code).toBe(exp.code)
  } else {
    // Argument mistakes are plain TypeError/RangeError, never a CoapError (errors.ts).
    expect(e).not.toBeInstanceOf(CoapError)
  }
  expect(e.message).toMatch(exp.msg)
}

function expectThrow(fn: () => unknown, exp: Expected): void {
  let thrown: unknown
  let threw = false
  try {
    fn()
  } catch (err) {
    threw = true
    thrown = err
  }
  expect(threw, 'expected a synchronous throw').toBe(true)
  check(thrown, exp)
}

/** The call must return a Promise (no synchronous throw) that rejects with the expected error. */
async function expectReject(fn: () => unknown, exp: Expected): Promise<void> {
  let p: unknown
  try {
    p = fn()
  } catch (err) {
    throw new Error(`threw synchronously instead of rejecting: ${String(err)}`)
  }
  expect(p).toBeInstanceOf(Promise)
  let rejected = false
  let reason: unknown
  let value: unknown
  try {
    value = await (p as Promise<unknown>)
  } catch (err) {
    rejected = true
    reason = err
  }
  expect(rejected, `expected a rejection, resolved with ${String(value)}`).toBe(true)
  check(reason, exp)
}

/** A UDP socket without SO_REUSEADDR, so nothing else can bind its port. */
async function occupyPort(): Promise<dgram.Socket> {
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false })
  await new Promise<void>((resolve) => sock.bind(0, HOST, resolve))
  return sock
}
const closeSocket = (s: dgram.Socket) => new Promise<void>((resolve) => s.close(() => resolve()))

let server: CoapServer
let client: CoapClient
let base: string
let port: number
const serverErrors: Array<{ err: unknown; path: string | undefined }> = []
let errorWaiters: Array<() => void> = []

/** Waits (bounded) for the server's 'error' event about a request to `path`. */
async function serverErrorFor(path: string): Promise<unknown> {
  const deadline = Date.now() + 3000
  for (;;) {
    const i = serverErrors.findIndex((e) => e.path === path)
    if (i >= 0) return serverErrors.splice(i, 1)[0].err
    if (Date.now() > deadline) throw new Error(`no 'error' event for ${path} within 3 s`)
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 50)
      errorWaiters.push(() => {
        clearTimeout(t)
        resolve()
      })
    })
  }
}

async function goodRequest(): Promise<void> {
  const res = await client.get(`${base}/ok?q=1`)
  expect(res.code).toBe('2.05')
  expect(res.text()).toBe('ok q=1')
}

beforeAll(async () => {
  server = new CoapServer({ listen: `coap://${HOST}:0` })
  server.on('error', (err, req) => {
    serverErrors.push({ err, path: req?.path })
    const w = errorWaiters
    errorWaiters = []
    for (const f of w) f()
  })
  server.resource('/ok').get((req) => `ok ${req.query.join('&')}`).put((req) => `put ${req.text()}`)
  const [ep] = await server.listen()
  port = ep.port
  base = `coap://${HOST}:${port}`
  client = new CoapClient({ timeout: 3000 })
  await goodRequest()
})

afterAll(async () => {
  await client?.close()
  await server?.close()
})

describe('CoapClient constructor', () => {
  const rows: Array<[string, unknown, Expected]> = [
    ['null', null, T(/^options must be an object, got null/)],
    ['a string', 'coap://x', T(/^options must be an object, got string/)],
    ['a number', 5, T(/^options must be an object/)],
    ['timeout as a string', { timeout: '5' }, T(/^options\.timeout must be a number .*got string/)],
    ['timeout -1', { timeout: -1 }, R(/^options\.timeout must be 0 to 2147483647 ms, got -1/)],
    ['timeout NaN', { timeout: NaN }, R(/^options\.timeout .*got NaN/)],
    ['timeout Infinity', { timeout: Infinity }, R(/^options\.timeout .*got Infinity/)],
    ['timeout 2^31', { timeout: 2 ** 31 }, R(/^options\.timeout .*got 2147483648/)],
    ['confirmable "yes"', { confirmable: 'yes' }, T(/^options\.confirmable must be a boolean, got string/)],
    ['confirmable 1', { confirmable: 1 }, T(/^options\.confirmable must be a boolean, got number/)],
  ]
  it.each(rows)('%s', (_name, options, exp) => {
    expectThrow(() => new CoapClient(options as never), exp)
  })

  it('accepts the limits', async () => {
    for (const options of [{}, { timeout: 0 }, { timeout: 2 ** 31 - 1 }, { confirmable: false }, undefined]) {
      const c = new CoapClient(options)
      await c.close()
    }
  })
})

describe('CoapClient requests', () => {
  const url = () => `${base}/ok`
  type Call = (c: CoapClient) => unknown
  const rows: Array<[string, Call, Expected]> = [
    // url
    ['get(42)', (c) => c.get(42 as never), T(/^url must be a string or URL, got number/)],
    ['get(undefined)', (c) => c.get(undefined as never), T(/^url must be a string or URL, got undefined/)],
    ['get(null)', (c) => c.get(null as never), T(/^url must be a string or URL, got null/)],
    ['get({})', (c) => c.get({ href: 'coap://127.0.0.1/' } as never), T(/^url must be a string or URL, got object/)],
    ['put(42)', (c) => c.put(42 as never, 'x'), T(/^url must be a string or URL/)],
    ['post(true)', (c) => c.post(true as never), T(/^url must be a string or URL/)],
    ['delete([])', (c) => c.delete([] as never), T(/^url must be a string or URL/)],
    ['fetch(1)', (c) => c.fetch(1 as never), T(/^url must be a string or URL/)],
    ['patch(1)', (c) => c.patch(1 as never), T(/^url must be a string or URL/)],
    ['iPatch(1)', (c) => c.iPatch(1 as never), T(/^url must be a string or URL/)],
    ['http: scheme', (c) => c.get(`http://${HOST}:${port}/ok`), URI(/^url has unsupported scheme 'http:'/)],
    ['URL object with http:', (c) => c.get(new URL(`http://${HOST}/ok`)), URI(/^url has unsupported scheme 'http:'/)],
    ['not a URL', (c) => c.get('not a url'), URI(/^url is not a valid URL: 'not a url'/)],
    ['empty string', (c) => c.get(''), URI(/^url is not a valid URL/)],
    ['port 70000', (c) => c.get(`coap://${HOST}:70000/ok`), URI(/^url is not a valid URL/)],
    ['fragment', (c) => c.get(`${base}/ok#frag`), URI(/^url must not have a fragment/)],
    ['user info', (c) => c.get(`coap://user:pw@${HOST}:${port}/ok`), URI(/^url must not carry user information/)],
    ['no host', (c) => c.get('coap:///ok'), URI(/^url has no host/)],
    ['bad percent-encoding', (c) => c.get(`${base}/%zz`), URI(/^url has a bad percent-encoding in '%zz'/)],
    ['coaps: without psk or pki', (c) => c.get(`coaps://${HOST}:${port}/ok`), T(/^coaps:\/\/ needs the client's psk or pki option/)],
    ['coaps+tcp: without psk or pki', (c) => c.get(`coaps+tcp://${HOST}:${port}/ok`), T(/^coaps\+tcp:\/\/ needs the client's psk or pki option/)],
    // request() itself
    ['request(null)', (c) => c.request(null as never), T(/^request options must be an object, got null/)],
    ['request("coap://…")', (c) => c.request(`${base}/ok` as never), T(/^request options must be an object, got string/)],
    ['request without url', (c) => c.request({} as never), T(/^url must be a string or URL, got undefined/)],
    ['method BREW', (c) => c.request({ url: url(), method: 'BREW' as never }), R(/^method must be one of GET, .*got 'BREW'/)],
    ['method 1', (c) => c.request({ url: url(), method: 1 as never }), R(/^method must be one of .*got '1'/)],
    ['method lower case', (c) => c.request({ url: url(), method: 'get' as never }), R(/^method must be one of .*got 'get'/)],
    // timeout
    ['timeout -1', (c) => c.get(url(), { timeout: -1 }), R(/^timeout must be 0 to 2147483647 ms, got -1/)],
    ['timeout NaN', (c) => c.get(url(), { timeout: NaN }), R(/^timeout .*got NaN/)],
    ['timeout 1.5e10', (c) => c.get(url(), { timeout: 1.5e10 }), R(/^timeout .*got 15000000000/)],
    ['timeout "5"', (c) => c.get(url(), { timeout: '5' as never }), T(/^timeout must be a number of milliseconds, got string/)],
    ['timeout null', (c) => c.get(url(), { timeout: null as never }), T(/^timeout must be a number/)],
    // confirmable
    ['confirmable "yes"', (c) => c.get(url(), { confirmable: 'yes' as never }), T(/^confirmable must be a boolean, got string/)],
    ['confirmable 0', (c) => c.get(url(), { confirmable: 0 as never }), T(/^confirmable must be a boolean, got number/)],
    // payload
    ['put payload 42', (c) => c.put(url(), 42 as never), T(/^payload must be a string, Buffer or Uint8Array, got number/)],
    ['post payload {}', (c) => c.post(url(), { a: 1 } as never), T(/^payload must be a string, Buffer or Uint8Array, got object/)],
    ['fetch payload true', (c) => c.fetch(url(), true as never), T(/^payload must be .*got boolean/)],
    ['patch payload ArrayBuffer', (c) => c.patch(url(), new ArrayBuffer(2) as never), T(/^payload must be .*got object/)],
    ['iPatch payload [1,2]', (c) => c.iPatch(url(), [1, 2] as never), T(/^payload must be .*got object/)],
    // accept / contentFormat
    ['accept unknown name', (c) => c.get(url(), { accept: 'text/nope' }), R(/^accept: unknown media type 'text\/nope'/)],
    ['accept -1', (c) => c.get(url(), { accept: -1 }), R(/^accept must be an integer 0-65535, got -1/)],
    ['accept 65536', (c) => c.get(url(), { accept: 65536 }), R(/^accept must be an integer 0-65535, got 65536/)],
    ['accept 1.5', (c) => c.get(url(), { accept: 1.5 }), R(/^accept must be an integer/)],
    ['accept {}', (c) => c.get(url(), { accept: {} as never }), T(/^accept must be a media type string or a number, got object/)],
    ['contentFormat unknown name', (c) => c.put(url(), 'x', { contentFormat: 'image/nope' }), R(/^contentFormat: unknown media type 'image\/nope'/)],
    ['contentFormat 70000', (c) => c.put(url(), 'x', { contentFormat: 70000 }), R(/^contentFormat must be an integer 0-65535/)],
    ['contentFormat true', (c) => c.put(url(), 'x', { contentFormat: true as never }), T(/^contentFormat must be a media type string or a number, got boolean/)],
    // query
    ['query 42', (c) => c.get(url(), { query: 42 as never }), T(/^query must be a string, array of strings or object, got number/)],
    ['query null', (c) => c.get(url(), { query: null as never }), T(/^query must be a string, array of strings or object/)],
    ['query true', (c) => c.get(url(), { query: true as never }), T(/^query must be .*got boolean/)],
    ['query [1]', (c) => c.get(url(), { query: [1] as never }), T(/^query items must be strings, got number/)],
    ['query ["a", {}]', (c) => c.get(url(), { query: ['a', {}] as never }), T(/^query items must be strings, got object/)],
    // options
    ['options "x"', (c) => c.get(url(), { options: 'x' as never }), T(/^options must be an object of option values, got string/)],
    ['options []', (c) => c.get(url(), { options: [] as never }), T(/^options must be an object of option values, got an array/)],
    ['options unknown name', (c) => c.get(url(), { options: { 'No-Such-Option': 1 } }), R(/^options\.No-Such-Option: unknown option 'No-Such-Option'/)],
    ['options number 0', (c) => c.get(url(), { options: { 0: 'x' } }), R(/^options\.0 number must be 1-65535, got 0/)],
    ['options number 70000', (c) => c.get(url(), { options: { 70000: 'x' } }), R(/^options\.70000 number must be 1-65535, got 70000/)],
    ['options uint "abc"', (c) => c.get(url(), { options: { 'Max-Age': 'abc' } }), T(/^options\.Max-Age takes a number, got 'abc'/)],
    ['options uint -1', (c) => c.get(url(), { options: { 'Max-Age': -1 } }), R(/^options\.Max-Age must be an unsigned 32-bit integer, got -1/)],
    ['options uint 2^32', (c) => c.get(url(), { options: { 'Max-Age': 2 ** 32 } }), R(/^options\.Max-Age must be an unsigned 32-bit integer, got 4294967296/)],
    ['options uint 1.5', (c) => c.get(url(), { options: { Size2: 1.5 } }), R(/^options\.Size2 must be an unsigned 32-bit integer, got 1.5/)],
    ['options value {}', (c) => c.get(url(), { options: { ETag: {} as never } }), T(/^options\.ETag value must be a number, string or Buffer, got object/)],
    ['options value true', (c) => c.get(url(), { options: { ETag: true as never } }), T(/^options\.ETag value must be .*got boolean/)],
    ['options repeated value [1, {}]', (c) => c.get(url(), { options: { 'If-Match': [Buffer.from('a'), {} as never] } }), T(/^options\.If-Match value must be/)],
    // An argument mistake like the ones above, but caught only inside the send path today.
    ['options value of 70000 bytes', (c) => c.get(url(), { options: { ETag: Buffer.alloc(70000) } }), R(/ETag/)],
    // unknown keys and signal
    ['unknown request option', (c) => c.get(url(), { timout: 5 } as never), T(/^unknown request option 'timout'/)],
    ['request() unknown key', (c) => c.request({ url: url(), body: 'x' } as never), T(/^unknown request option 'body'/)],
    ['signal "abort"', (c) => c.get(url(), { signal: 'abort' as never }), T(/^signal must be an AbortSignal/)],
    ['signal look-alike', (c) => c.get(url(), { signal: { aborted: false, addEventListener() {} } as never }), T(/^signal must be an AbortSignal/)],
    ['signal AbortController', (c) => c.get(url(), { signal: new AbortController() as never }), T(/^signal must be an AbortSignal/)],
    // multicast (an async generator: the error comes with the first next())
    ['multicast to a unicast address', (c) => c.multicast(url()).next(), R(/^multicast needs a group address/)],
    ['multicast IPv4 group with an interface', (c) => c.multicast('coap://224.0.1.187/x', { interface: 'lo' }).next(), R(/^interface applies to IPv6 groups/)],
  ]

  it.each(rows)('%s', async (_name, call, exp) => {
    await expectReject(() => call(client), exp)
    // The failed call left the client usable.
    await goodRequest()
  })

  it('an already aborted signal rejects with ERR_COAP_ABORTED and its reason as cause', async () => {
    const reason = new Error('stop')
    await expectReject(() => client.get(`${base}/ok`, { signal: AbortSignal.abort(reason) }), {
      cls: CoapError, code: 'ERR_COAP_ABORTED', msg: /aborted/,
    })
    await client.get(`${base}/ok`, { signal: AbortSignal.abort(reason) }).catch((err) => expect(err.cause).toBe(reason))
    await goodRequest()
  })

  it('a closed client rejects with ERR_COAP_CLOSED, and bad input still gets its own error', async () => {
    const c = new CoapClient()
    await c.close()
    await expectReject(() => c.get(`${base}/ok`), { cls: CoapClosedError, code: 'ERR_COAP_CLOSED', msg: /closed/ })
    await expectReject(() => c.get(42 as never), T(/^url must be a string or URL/))
  })

  it('the response accessors validate option names', async () => {
    const res = await client.get(`${base}/ok`)
    expectThrow(() => res.option('No-Such-Option'), R(/^name: unknown option 'No-Such-Option'/))
    expectThrow(() => res.option(0), R(/^name number must be 1-65535, got 0/))
    expect(res.option('Content-Format')).toEqual([0])
  })
})

describe('CoapServer', () => {
  const ctorRows: Array<[string, unknown, Expected]> = [
    ['options null', null, T(/^options must be an object, got null/)],
    ['options "coap://…"', 'coap://127.0.0.1:0', T(/^options must be an object, got string/)],
    ['listen 42', { listen: 42 }, T(/^listen URLs must be strings or URLs, got number/)],
    ['listen [url, 5]', { listen: [`coap://${HOST}:0`, 5] }, T(/^listen URLs must be strings or URLs, got number/)],
    ['listen {}', { listen: {} }, T(/^listen URLs must be strings or URLs, got object/)],
    ['listen []', { listen: [] }, R(/^listen must name at least one URL/)],
    ['listen not a URL', { listen: 'nope' }, URI(/^listen is not a valid URL: 'nope'/)],
    ['listen http:', { listen: `http://${HOST}:0` }, URI(/^listen has unsupported scheme 'http:'/)],
    ['listen port 70000', { listen: `coap://${HOST}:70000` }, URI(/^listen is not a valid URL/)],
    ['listen with fragment', { listen: `coap://${HOST}:0#x` }, URI(/^listen must not have a fragment/)],
  ]
  it.each(ctorRows)('constructor: %s', (_name, options, exp) => {
    expectThrow(() => new CoapServer(options as never), exp)
  })

  const separateRows: Array<[string, unknown, Expected]> = [
    ['"500"', '500', T(/separateResponseAfter must be a number of milliseconds, got string/)],
    ['-1', -1, R(/separateResponseAfter must be an integer 0-60000 ms, got -1/)],
    ['1.5', 1.5, R(/separateResponseAfter must be an integer .*got 1\.5/)],
    ['60001', 60001, R(/separateResponseAfter must be an integer .*got 60001/)],
    ['NaN', NaN, R(/separateResponseAfter must be an integer .*got NaN/)],
  ]
  it.each(separateRows)('separateResponseAfter %s', (_name, value, exp) => {
    expectThrow(() => new CoapServer({ listen: `coap://${HOST}:0`, separateResponseAfter: value } as never), exp)
    const before = server.context.separateResponseAfter
    expectThrow(() => {
      server.context.separateResponseAfter = value as number
    }, exp)
    expect(server.context.separateResponseAfter).toBe(before)
  })

  it('constructors and requests that fail leak no file descriptors', async () => {
    const fds = () => fs.readdirSync('/proc/self/fd').length
    const badServerOptions: unknown[] = [
      null, { listen: 42 }, { listen: [] }, { listen: 'nope' }, { listen: `http://${HOST}:0` },
      { listen: `coap://${HOST}:0`, separateResponseAfter: -1 }, { listen: `coap://${HOST}:0`, separateResponseAfter: 'x' },
    ]
    const badClientOptions: unknown[] = [null, { timeout: -1 }, { timeout: 'x' }, { confirmable: 'yes' }]
    const before = fds()
    for (let round = 0; round < 20; round++) {
      for (const o of badServerOptions) expect(() => new CoapServer(o as never)).toThrow()
      for (const o of badClientOptions) expect(() => new CoapClient(o as never)).toThrow()
      await expect(client.get(`${base}/ok`, { timeout: -1 })).rejects.toThrow(RangeError)
      await expect(client.get('http://x/')).rejects.toThrow(CoapInvalidUriError)
    }
    // Each leaked libcoap context would hold at least an epoll and a timer descriptor.
    expect(fds() - before).toBeLessThan(5)
    await goodRequest()
  })

  const listenRows: Array<[string, string, Expected]> = [
    ['a path', `coap://${HOST}:0/x`, URI(/^listen URL must not have a path or query/)],
    ['a query', `coap://${HOST}:0?a=1`, URI(/^listen URL must not have a path or query/)],
    ['coaps: without psk or pki', `coaps://${HOST}:0`, T(/listen URLs need options\.psk or options\.pki/)],
    ['coaps+ws: without psk or pki', `coaps+ws://${HOST}:0`, T(/listen URLs need options\.psk or options\.pki/)],
  ]
  // Listen URLs are checked when the server is built, before any socket is opened.
  it.each(listenRows)('the constructor rejects a listen URL with %s', (_name, listen, exp) => {
    expectThrow(() => new CoapServer({ listen }), exp)
  })

  it('listen() on a port that is taken rejects with ERR_COAP_LISTEN', async () => {
    const sock = await occupyPort()
    const taken = (sock.address() as { port: number }).port
    const s = new CoapServer({ listen: `coap://${HOST}:${taken}` })
    try {
      await expectReject(() => s.listen(), { cls: CoapListenError, code: 'ERR_COAP_LISTEN', msg: new RegExp(`127\\.0\\.0\\.1:${taken}`) })
      expect(s.endpoints).toEqual([])
    } finally {
      await closeSocket(sock)
      await s.close()
    }
  })

  it('a listen() that failed can be retried once the port is free', async () => {
    const sock = await occupyPort()
    const taken = (sock.address() as { port: number }).port
    const s = new CoapServer({ listen: `coap://${HOST}:${taken}` })
    s.resource('/r').get(() => 'retried')
    try {
      await expect(s.listen()).rejects.toMatchObject({ code: 'ERR_COAP_LISTEN' })
      await closeSocket(sock)
      const eps = await s.listen()
      expect(eps.map((e) => e.port)).toEqual([taken])
      const res = await client.get(`coap://${HOST}:${taken}/r`)
      expect(res.text()).toBe('retried')
    } finally {
      await s.close()
    }
  })

  it('a listen() that fails on its second URL leaves nothing bound', async () => {
    const sock = await occupyPort()
    const taken = (sock.address() as { port: number }).port
    const s = new CoapServer({ listen: [`coap://${HOST}:0`, `coap://${HOST}:${taken}`] })
    try {
      await expectReject(() => s.listen(), { cls: CoapListenError, code: 'ERR_COAP_LISTEN', msg: new RegExp(`127\\.0\\.0\\.1:${taken}`) })
      // listen() failed, so the server must not be left half-listening (it would also keep the
      // process alive, with the caller believing it never started).
      expect(s.endpoints).toEqual([])
    } finally {
      sock.close()
      await s.close()
    }
  })

  const resourceRows: Array<[string, () => unknown, Expected]> = [
    ['path without /', () => server.resource('alarm'), R(/^path must start with '\/', got 'alarm'/)],
    ['empty path', () => server.resource(''), R(/^path must start with '\/', got ''/)],
    ['trailing /', () => server.resource('/alarm/'), R(/^path must not end with '\/', got '\/alarm\/'/)],
    ['empty segment', () => server.resource('/a//b'), R(/^path must not contain empty segments/)],
    ['a query in the path', () => server.resource('/a?b=1'), R(/^path must not contain '\?' or '#'/)],
    ['a fragment in the path', () => server.resource('/a#b'), R(/^path must not contain '\?' or '#'/)],
    ['path 42', () => server.resource(42 as never), T(/^path must be a string, got number/)],
    ['path null', () => server.resource(null as never), T(/^path must be a string, got null/)],
    ['path undefined', () => server.resource(undefined as never), T(/^path must be a string, got undefined/)],
    ['attributes "x"', () => server.resource('/attr-bad', 'x' as never), T(/^attributes must be an object/)],
    ['attributes for an existing resource', () => server.resource('/ok', { title: 'again' }), R(/^resource '\/ok' exists already/)],
    ['get(non-function)', () => server.resource('/h1').get('handler' as never), T(/^handler must be a function, got string/)],
    ['put(null)', () => server.resource('/h1').put(null as never), T(/^handler must be a function, got null/)],
    ['post({})', () => server.resource('/h1').post({} as never), T(/^handler must be a function, got object/)],
    ['delete(1)', () => server.resource('/h1').delete(1 as never), T(/^handler must be a function, got number/)],
    ['fetch(undefined)', () => server.resource('/h1').fetch(undefined as never), T(/^handler must be a function, got undefined/)],
    ['patch(true)', () => server.resource('/h1').patch(true as never), T(/^handler must be a function/)],
    ['iPatch("x")', () => server.resource('/h1').iPatch('x' as never), T(/^handler must be a function/)],
    ['handle("BREW")', () => server.resource('/h1').handle('BREW' as never, () => 'x'), R(/^method must be one of GET, .*got 'BREW'/)],
    ['new ServerResource("x")', () => new ServerResource('x'), R(/^path must start with '\/'/)],
    ['new ServerResource("*")', () => new ServerResource('*'), R(/^path must start with '\/'/)],
    ['unknownResource("x")', () => server.unknownResource('x' as never), T(/^attributes must be an object/)],
    ['unknownResource observable', () => server.unknownResource({ observable: true } as never), R(/^the unknown resource cannot be observable/)],
    ['unknownResource bad rt', () => server.unknownResource({ rt: 5 } as never), T(/^attributes.rt must be a string/)],
    ['unknownResource().get(1)', () => server.unknownResource().get(1 as never), T(/^handler must be a function, got number/)],
  ]
  it.each(resourceRows)('resource: %s', async (_name, fn, exp) => {
    expectThrow(fn, exp)
    await goodRequest()
  })

  it('a resource whose handler was rejected answers 4.05 and can still get a handler', async () => {
    const res = await client.get(`${base}/h1`)
    expect(res.code).toBe('4.05')
    server.resource('/h1').get(() => 'h1')
    expect((await client.get(`${base}/h1`)).text()).toBe('h1')
  })

  // Handlers returning something unusable: the client gets 5.00, the server emits 'error' with an
  // error naming what was wrong, and the server keeps serving.
  const handlerRows: Array<[string, () => unknown, Expected]> = [
    ['code "9.99"', () => ({ code: '9.99' }), R(/^code must look like '2\.05'.*got '9\.99'/)],
    ['code "2.32"', () => ({ code: '2.32' }), R(/^code must look like .*got '2\.32'/)],
    ['code "ok"', () => ({ code: 'ok' }), R(/^code must look like .*got 'ok'/)],
    ['code 600', () => ({ code: 600 }), R(/^code must be a CoAP code .*got 600/)],
    ['code -1', () => ({ code: -1 }), R(/^code must be a CoAP code .*got -1/)],
    ['code 1 (a method)', () => ({ code: 1 }), R(/returned code 1, which is not a response code/)],
    ['code "0.01" (a method)', () => ({ code: '0.01' }), R(/returned code 0\.01, which is not a response code/)],
    ['code true', () => ({ code: true }), T(/^code must be a string like '2\.05' or a number, got boolean/)],
    ['a number', () => 42, T(/returned a number; return a string, Buffer or/)],
    ['a boolean', () => true, T(/returned a boolean/)],
    ['payload 42', () => ({ payload: 42 }), T(/returned a payload of type number/)],
    ['contentFormat "bogus"', () => ({ payload: 'x', contentFormat: 'bogus' }), R(/^contentFormat: unknown media type 'bogus'/)],
    ['contentFormat -5', () => ({ payload: 'x', contentFormat: -5 }), R(/^contentFormat must be an integer 0-65535/)],
    ['options unknown name', () => ({ payload: 'x', options: { 'X-Nope': 1 } }), R(/^options\.X-Nope: unknown option/)],
    ['options bad uint', () => ({ payload: 'x', options: { 'Max-Age': 'soon' } }), T(/^options\.Max-Age takes a number/)],
    ['async: code "9.99"', () => Promise.resolve({ code: '9.99' }), R(/^code must look like .*got '9\.99'/)],
    ['async: a number', () => new Promise((r) => setTimeout(() => r(7), 5)), T(/returned a number/)],
  ]
  it.each(handlerRows.map(([name, h, exp], i) => [name, h, exp, i] as const))('handler returning %s', async (_name, handler, exp, i) => {
    const path = `/bad-result/${i}`
    server.resource(path).get(handler as never)
    const res = await client.get(`${base}${path}`)
    expect(res.code).toBe('5.00')
    check(await serverErrorFor(path), exp)
    await goodRequest()
  })

  it('handlers that throw or reject give 5.00 and an error event', async () => {
    server.resource('/throws').get(() => {
      throw new TypeError('handler blew up')
    })
    server.resource('/rejects').get(() => Promise.reject(new RangeError('handler rejected')))
    expect((await client.get(`${base}/throws`)).code).toBe('5.00')
    check(await serverErrorFor('/throws'), T(/^handler blew up$/))
    expect((await client.get(`${base}/rejects`)).code).toBe('5.00')
    check(await serverErrorFor('/rejects'), R(/^handler rejected$/))
    await goodRequest()
  })
})

describe('core: Context, Resource, Session', () => {
  let ctx: Context
  let session: Session
  beforeAll(() => {
    ctx = new Context()
    session = ctx.newClientSession({ remote: { host: HOST, port } })
  })
  afterAll(() => {
    try {
      session?.release()
    } finally {
      ctx?.close()
    }
  })

  const remote = (over: Record<string, unknown>) => ({ remote: { host: HOST, port: 5683, ...over } })
  const sessionRows: Array<[string, unknown, Expected]> = [
    ['options null', null, T(/^options must be an object/)],
    ['options "udp"', 'udp', T(/^options must be an object/)],
    ['no remote', {}, T(/^options\.remote must be an object/)],
    ['remote "127.0.0.1:5683"', { remote: '127.0.0.1:5683' }, T(/^options\.remote must be an object/)],
    ['proto "quic"', { proto: 'quic', ...remote({}) }, R(/^options\.proto must be one of udp, dtls, tcp, tls, ws, wss, got 'quic'/)],
    ['proto "UDP"', { proto: 'UDP', ...remote({}) }, R(/^options\.proto must be one of .*got 'UDP'/)],
    ['proto 1', { proto: 1, ...remote({}) }, T(/^options\.proto must be a string, got number/)],
    ['proto "tls" without psk or pki', { proto: 'tls', ...remote({}) }, T(/^options\.psk or options\.pki is required for proto 'tls'/)],
    ['proto "dtls" without psk or pki', { proto: 'dtls', ...remote({}) }, T(/^options\.psk or options\.pki is required for proto 'dtls'/)],
    ['host "localhost"', remote({ host: 'localhost' }), R(/^options\.remote\.host must be a numeric IP address, got 'localhost'/)],
    ['host "example.com"', remote({ host: 'example.com' }), R(/^options\.remote\.host must be a numeric IP address/)],
    ['host "[::1]"', remote({ host: '[::1]' }), R(/^options\.remote\.host must be a numeric IP address, got '\[::1\]'/)],
    ['host "127.0.0.1:5683"', remote({ host: '127.0.0.1:5683' }), R(/^options\.remote\.host must be a numeric IP address/)],
    ['host ""', remote({ host: '' }), R(/^options\.remote\.host must be a numeric IP address/)],
    ['host 2130706433', remote({ host: 2130706433 }), T(/^options\.remote\.host must be a string, got number/)],
    ['port 70000', remote({ port: 70000 }), R(/^options\.remote\.port must be an integer 0-65535, got 70000/)],
    ['port 65536', remote({ port: 65536 }), R(/^options\.remote\.port .*got 65536/)],
    ['port -1', remote({ port: -1 }), R(/^options\.remote\.port .*got -1/)],
    ['port 1.5', remote({ port: 1.5 }), R(/^options\.remote\.port .*got 1\.5/)],
    ['port NaN', remote({ port: NaN }), R(/^options\.remote\.port .*got NaN/)],
    ['port 0', remote({ port: 0 }), R(/^options\.remote\.port must be 1-65535, got 0/)],
    ['port "5683"', remote({ port: '5683' }), T(/^options\.remote\.port must be a number, got string/)],
    ['port missing', { remote: { host: HOST } }, T(/^options\.remote\.port must be a number, got undefined/)],
  ]
  it.each(sessionRows)('newClientSession: %s', (_name, options, exp) => {
    expectThrow(() => ctx.newClientSession(options as never), exp)
  })

  it('newClientSession on a closed context throws ERR_COAP_CLOSED', () => {
    const c = new Context()
    c.close()
    expectThrow(() => c.newClientSession({ remote: { host: HOST, port: 5683 } }), { cls: CoapClosedError, code: 'ERR_COAP_CLOSED', msg: /context is closed/ })
    expectThrow(() => c.addEndpoint({ host: HOST, port: 0 }), { cls: CoapClosedError, code: 'ERR_COAP_CLOSED', msg: /context is closed/ })
  })

  const endpointRows: Array<[string, unknown, Expected]> = [
    ['options null', null, T(/^options must be an object/)],
    ['port 70000', { host: HOST, port: 70000 }, R(/^options\.port must be an integer 0-65535, got 70000/)],
    ['port -1', { host: HOST, port: -1 }, R(/^options\.port .*got -1/)],
    ['port "0"', { host: HOST, port: '0' }, T(/^options\.port must be a number, got string/)],
    ['host "localhost"', { host: 'localhost', port: 0 }, R(/^options\.host must be a numeric IP address, got 'localhost'/)],
    ['host undefined', { port: 0 }, T(/^options\.host must be a string, got undefined/)],
    ['proto "tls" before setPsk()/setPki()', { proto: 'tls', host: HOST, port: 0 }, T(/^options\.proto 'tls' needs setPsk\(\) or setPki\(\) first/)],
    ['proto "carrier-pigeon"', { proto: 'carrier-pigeon', host: HOST, port: 0 }, R(/^options\.proto must be one of/)],
  ]
  it.each(endpointRows)('addEndpoint: %s', (_name, options, exp) => {
    const c = new Context()
    try {
      expectThrow(() => c.addEndpoint(options as never), exp)
      expect(c.endpoints).toEqual([])
    } finally {
      c.close()
    }
  })

  it('addEndpoint on a taken port throws ERR_COAP_LISTEN, and the context can listen elsewhere', async () => {
    const sock = await occupyPort()
    const taken = (sock.address() as { port: number }).port
    const c = new Context()
    try {
      expectThrow(() => c.addEndpoint({ host: HOST, port: taken }), { cls: CoapListenError, code: 'ERR_COAP_LISTEN', msg: new RegExp(`${taken}`) })
      expect(c.endpoints).toEqual([])
      const ep = c.addEndpoint({ host: HOST, port: 0 })
      expect(ep.port).toBeGreaterThan(0)
    } finally {
      c.close()
      await closeSocket(sock)
    }
  })

  it('addResource and Resource validate their arguments', () => {
    const c = new Context()
    try {
      expectThrow(() => c.addResource({ path: '/x' } as never), T(/^resource must be a Resource/))
      expectThrow(() => c.addResource(null as never), T(/^resource must be a Resource/))
      expectThrow(() => new Resource('x'), R(/^path must start with '\/'/))
      expectThrow(() => new Resource('/x', null as never), T(/^attributes must be an object/))
      expectThrow(() => new Resource('/x').handle('GET', 'nope' as never), T(/^handler must be a function/))
      const r = c.addResource(new Resource('/x'))
      expectThrow(() => c.addResource(new Resource('/x')), R(/^a resource is already registered at '\/x'/))
      const other = new Context()
      try {
        expectThrow(() => other.addResource(r), R(/^resource '\/x' already belongs to a context/))
      } finally {
        other.close()
      }
    } finally {
      c.close()
    }
  })

  const mtuRows: Array<[string, unknown, Expected]> = [
    ['"1152"', '1152', T(/^mtu must be a number, got string/)],
    ['null', null, T(/^mtu must be a number, got object/)],
    ['10', 10, R(/^mtu must be an integer 64-65535, got 10/)],
    ['63', 63, R(/^mtu must be an integer 64-65535, got 63/)],
    ['65536', 65536, R(/^mtu must be an integer 64-65535, got 65536/)],
    ['100.5', 100.5, R(/^mtu must be an integer .*got 100\.5/)],
    ['NaN', NaN, R(/^mtu must be an integer .*got NaN/)],
  ]
  it.each(mtuRows)('Session.mtu = %s', (_name, value, exp) => {
    const before = session.mtu
    expectThrow(() => {
      session.mtu = value as number
    }, exp)
    expect(session.mtu).toBe(before)
  })

  it('Session.mtu accepts its limits, and refuses a released session', () => {
    const s = ctx.newClientSession({ remote: { host: HOST, port } })
    s.mtu = 64
    expect(s.mtu).toBe(64)
    s.mtu = 65535
    expect(s.mtu).toBe(65535)
    s.release()
    expectThrow(() => {
      s.mtu = 1152
    }, R(/^mtu cannot be set on a released session/))
    expectThrow(() => s.reference(), R(/^cannot reference a released session/))
  })

  describe('Context.send', () => {
    const path: Array<[number, Buffer]> = [[11, Buffer.from('ok')]]
    it('rejects a session that is not one of this context', async () => {
      await expectReject(() => ctx.send({} as never, { method: 'GET' }), T(/^session must be a Session of this context/))
      const other = new Context()
      const foreign = other.newClientSession({ remote: { host: HOST, port } })
      try {
        await expectReject(() => ctx.send(foreign, { method: 'GET' }), T(/^session must be a Session of this context/))
      } finally {
        foreign.release()
        other.close()
      }
    })

    it('works with good input (baseline for the rows below)', async () => {
      const pdu = await ctx.send(session, { method: 'PUT', type: 'CON', options: path, payload: Buffer.from('body') }, { timeout: 3000 })
      expect(pdu.codeString).toBe('2.04')
      expect(pdu.payload.toString()).toBe('put body')
    })

    const sendRows: Array<[string, () => unknown, Expected]> = [
      ['init null', () => ctx.send(session, null as never), T(/init/)],
      ['method "BREW"', () => ctx.send(session, { method: 'BREW' as never, options: path }), R(/method/)],
      ['method 1', () => ctx.send(session, { method: 1 as never, options: path }), R(/method/)],
      ['type "ACK"', () => ctx.send(session, { method: 'GET', type: 'ACK' as never, options: path }), R(/type/)],
      ['payload as a string', () => ctx.send(session, { method: 'PUT', options: path, payload: 'body' as never }), T(/payload/)],
      ['options "abc"', () => ctx.send(session, { method: 'GET', options: 'abc' as never }), T(/options/)],
      ['timeout "100"', () => ctx.send(session, { method: 'GET', options: path }, { timeout: '100' as never }), T(/timeout/)],
      ['timeout -5', () => ctx.send(session, { method: 'GET', options: path }, { timeout: -5 }), R(/timeout/)],
      // (A plain string as signal is worse: see lifetimes.test.ts, 'send with a bad signal'.)
      ['signal look-alike', () => ctx.send(session, { method: 'GET', options: path }, { signal: { aborted: false, addEventListener() {}, removeEventListener() {} } as never }), T(/signal/)],
    ]
    it.each(sendRows)('%s', async (_name, call, exp) => {
      await expectReject(call, exp)
      const pdu = await ctx.send(session, { method: 'GET', options: path }, { timeout: 3000 })
      expect(pdu.codeString).toBe('2.05')
    })
  })
})

describe('functions', () => {
  it('setLogLevel', () => {
    expectThrow(() => setLogLevel('loud' as never), R(/^level must be one of emerg, .*debug, got 'loud'/))
    expectThrow(() => setLogLevel('ERR' as never), R(/^level must be one of .*got 'ERR'/))
    expectThrow(() => setLogLevel(3 as never), T(/^level must be a string, got number/))
    expectThrow(() => setLogLevel(undefined as never), T(/^level must be a string, got undefined/))
    setLogLevel('err') // the default; valid calls do not throw
  })

  const codeRows: Array<[string, unknown[], Expected]> = [
    ['"9.99"', ['9.99'], R(/^code must look like '2\.05' \(class 0-7, detail 00-31\), got '9\.99'/)],
    ['"2.32"', ['2.32'], R(/^code must look like .*got '2\.32'/)],
    ['"2.5"', ['2.5'], R(/^code must look like .*got '2\.5'/)],
    ['"205"', ['205'], R(/^code must look like .*got '205'/)],
    ['""', [''], R(/^code must look like/)],
    ['600', [600], R(/^code must be a CoAP code such as '2\.05' or 205, got 600/)],
    ['-1', [-1], R(/^code must be a CoAP code .*got -1/)],
    ['2.05 (a number)', [2.05], R(/^code must be a CoAP code .*got 2\.05/)],
    ['150 (detail 50)', [150], R(/^code must look like .*got '1\.50'/)],
    ['NaN', [NaN], R(/^code must be a CoAP code .*got NaN/)],
    ['null', [null], T(/^code must be a string like '2\.05' or a number, got object/)],
    ['undefined', [undefined], T(/^code must be a string like .*got undefined/)],
    ['{}', [{}], T(/^code must be a string like .*got object/)],
    ['custom name', ['bad', 'response.code'], R(/^response\.code must look like/)],
  ]
  it.each(codeRows)('parseCode(%s)', (_name, args, exp) => {
    expectThrow(() => (parseCode as (...a: unknown[]) => number)(...args), exp)
  })
  it('parseCode good values', () => {
    expect(parseCode('2.05')).toBe(69)
    expect(parseCode(404)).toBe(132)
    expect(parseCode(69)).toBe(69)
    expect(parseCode('7.31')).toBe(255)
  })

  const cfRows: Array<[string, unknown[], Expected]> = [
    ['"text/nope"', ['text/nope'], R(/^contentFormat: unknown media type 'text\/nope'/)],
    ['""', [''], R(/^contentFormat: unknown media type ''/)],
    ['-1', [-1], R(/^contentFormat must be an integer 0-65535, got -1/)],
    ['65536', [65536], R(/^contentFormat must be an integer 0-65535, got 65536/)],
    ['1.5', [1.5], R(/^contentFormat must be an integer .*got 1\.5/)],
    ['NaN', [NaN], R(/^contentFormat must be an integer .*got NaN/)],
    ['null', [null], T(/^contentFormat must be a media type string or a number, got object/)],
    ['true', [true], T(/^contentFormat must be a media type string or a number, got boolean/)],
    ['custom name', ['x/y', 'accept'], R(/^accept: unknown media type 'x\/y'/)],
  ]
  it.each(cfRows)('parseContentFormat(%s)', (_name, args, exp) => {
    expectThrow(() => (parseContentFormat as (...a: unknown[]) => number)(...args), exp)
  })
  it('parseContentFormat good values', () => {
    expect(parseContentFormat('application/json')).toBe(50)
    expect(parseContentFormat(' TEXT/PLAIN; charset=utf-8 ')).toBe(0)
    expect(parseContentFormat(65535)).toBe(65535)
  })

  it('parseUri', () => {
    expectThrow(() => parseUri(42 as never), T(/^url must be a string or URL, got number/))
    expectThrow(() => parseUri('http://x/', 'target'), URI(/^target has unsupported scheme 'http:'/))
    expectThrow(() => parseUri('coap://h/#f'), URI(/^url must not have a fragment/))
    expect(parseUri('coap://[::1]/a/b?c=1').origin).toBe('coap://[::1]:5683')
  })

  // codeToString takes a wire code (0-255); anything else is an argument mistake too.
  const toStringRows: Array<[string, unknown, Expected]> = [
    ['"abc"', 'abc', T(/code/)],
    ['"2.05"', '2.05', T(/code/)],
    ['-1', -1, R(/code/)],
    ['256', 256, R(/code/)],
    ['1.5', 1.5, R(/code/)],
  ]
  it.each(toStringRows)('codeToString(%s)', (_name, value, exp) => {
    expectThrow(() => codeToString(value as number), exp)
  })
  it('codeToString good values', () => {
    expect(codeToString(69)).toBe('2.05')
    expect(codeToString(132)).toBe('4.04')
    expect(codeToString(0)).toBe('0.00')
    expect(codeToString(255)).toBe('7.31')
  })
})

describe('after all of the above', () => {
  it('the shared client and server still work, for every method', async () => {
    await goodRequest()
    const put = await client.put(`${base}/ok`, 'still here')
    expect(put.code).toBe('2.04')
    expect(put.text()).toBe('put still here')
    expect((await client.delete(`${base}/ok`)).code).toBe('4.05')
    expect(serverErrors).toEqual([])
  })
})
