// Issue 9, "Bad input, at every door": random values (fast-check) at every exported function,
// method and option. The one property everywhere: a call succeeds, or throws/rejects with a
// TypeError, RangeError or CoapError (code 'ERR_COAP_…') — never another class, never a crash,
// and every Promise settles within BOUND_MS. test/bad-input.test.ts pins exact messages for
// hand-picked cases; this file looks for the cases nobody picked.
//
// A TypeError/RangeError thrown by the engine or by Node itself ("Cannot convert object to
// primitive value", ERR_INVALID_ARG_TYPE from Buffer.from) has the documented class but is no
// argument check naming the parameter (README, "Errors"). Such calls pass the class property
// (so one of them cannot hide a worse finding behind it) and are collected instead; the last
// test fails listing them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  CoapClient, CoapError, CoapServer, codeToString, contentFormatName, optionName, parseCode,
  parseContentFormat, parseLinkFormat, parseUri, setLogLevel, onLog, versions, capabilities,
} from '../dist/index.js'
import { Context, Resource, Session } from '../dist/core/index.js'
import {
  bodyArb, clientPkiArb, clientPskArb, contentFormatArb, funcArb, junk, listenUrlArb, maybe, methodNameArb,
  multicastOptionArb, nonNumberJunk, optionsInitArb, parametersArb, requestOptionsArb, serverPkiArb,
  serverPskArb, timeoutArb, urlArg, weirdNumber, withExtraKeys, bufferArb, groupArb, onLoopback,
} from './helpers/arbitrary'

const HOST = '127.0.0.1'
const BOUND_MS = 3000
const RUNS = Number(process.env.PROPERTY_RUNS ?? 200)
const TEST_TIMEOUT = 60_000

const ENGINE_MESSAGE = /Cannot read propert|Cannot set propert|Cannot convert|is not a function|is not a constructor|is not iterable|Cannot destructure|Maximum call stack|Invalid array length|Invalid string length|Cannot mix BigInt|Do not know how to serialize|Cannot create property|object null is not/

function describeError(e: unknown): string {
  if (!(e instanceof Error)) return `non-Error thrown: ${typeof e} ${safeString(e)}`
  const code = (e as { code?: unknown }).code
  return `${e.constructor?.name ?? e.name}${code !== undefined ? ` [${String(code)}]` : ''}: ${e.message}`
}

function safeString(v: unknown): string {
  try {
    return typeof v === 'symbol' ? v.toString() : String(v)
  } catch {
    return '<unprintable>'
  }
}

/** Throws (failing the property) unless `e` is one of the documented error kinds. */
function assertDocumented(e: unknown, where: string): void {
  if (e instanceof CoapError) {
    const code = (e as { code?: unknown }).code
    if (typeof code !== 'string' || !code.startsWith('ERR_COAP_')) throw new Error(`${where}: CoapError without an ERR_COAP_ code: ${describeError(e)}`)
    return
  }
  if (e instanceof TypeError || e instanceof RangeError) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' || ENGINE_MESSAGE.test(e.message)) {
      const key = `${describeError(e)}`
      if (!notOwnChecks.has(key)) notOwnChecks.set(key, where)
    }
    return
  }
  throw new Error(`${where}: undocumented error ${describeError(e)}`)
}

/** engine/Node-internal TypeError/RangeError message → first call that produced it */
const notOwnChecks = new Map<string, string>()
const timers = new Set<NodeJS.Timeout>()

/** Resolves with the value, rejects with a documented error, or fails the property (wrong class, hang). */
async function bounded<T>(p: PromiseLike<T>, where: string, ms = BOUND_MS): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${where}: did not settle within ${ms} ms (hang)`)), ms)
    timers.add(timer)
  })
  // The loser of the race must never surface as an unhandled rejection.
  Promise.resolve(p).then(undefined, () => {})
  try {
    return await Promise.race([p, hang])
  } catch (e) {
    if (e instanceof Error && e.message.endsWith('(hang)')) throw e
    assertDocumented(e, where)
    return undefined
  } finally {
    clearTimeout(timer)
    timers.delete(timer!)
  }
}

/** Calls `fn`; a synchronous throw must be documented; a returned thenable must settle in bounds. */
async function call(fn: () => unknown, where: string): Promise<{ ok: boolean; value?: unknown }> {
  let value: unknown
  try {
    value = fn()
  } catch (e) {
    assertDocumented(e, `${where} (sync)`)
    return { ok: false }
  }
  if (value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function') {
    let ok = true
    const v = await bounded((value as Promise<unknown>).then(undefined, (e) => { ok = false; throw e }), where)
    return { ok, value: v }
  }
  return { ok: true, value }
}

/** Drains an async iterator a little (first value, then return()), every step bounded. */
async function poke(iter: unknown, where: string, steps = 1): Promise<void> {
  if (iter === null || typeof iter !== 'object' || typeof (iter as AsyncIterator<unknown>).next !== 'function') return
  const it = iter as AsyncIterator<unknown>
  try {
    for (let i = 0; i < steps; i++) {
      let done = true
      await bounded(it.next().then((r) => { done = r.done === true }), `${where}.next()`)
      if (done) break
    }
  } finally {
    if (typeof it.return === 'function') await bounded(it.return(), `${where}.return()`)
  }
}

const params = () => ({ numRuns: RUNS })

let server: CoapServer
let client: CoapClient
let port: number
let base: string
let randomResult: unknown
const serverErrors: unknown[] = []
const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => { unhandled.push(reason) }
const onWarning = (w: Error) => { if ((w as { code?: string }).code === 'LIBCOAP_HANDLER_ERROR') serverErrors.push(w) }

async function normalGet(): Promise<void> {
  const res = await client.get(`${base}/ok?q=1`, { timeout: 3000 })
  expect(res.code).toBe('2.05')
  expect(res.text()).toBe('ok q=1')
}

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled)
  process.on('warning', onWarning)
  server = new CoapServer({ listen: `coap://${HOST}:0` })
  server.on('error', (err) => { serverErrors.push(err) })
  server.resource('/ok', { rt: 'ok', ct: 0 })
    .get((req) => `ok ${req.query.join('&')}`)
    .put((req) => `put ${req.text().length}`)
    .post((req) => `post ${req.payload.length}`)
    .delete(() => undefined)
    .fetch((req) => req.payload)
    .patch(() => 'patched')
    .iPatch(() => 'ipatched')
  server.resource('/obs', { observable: true }).get(() => 'obs')
  // Handler results are input too: whatever the property put here is what the handler returns.
  server.resource('/rand').get(() => randomResult).post(async () => randomResult)
  const [ep] = await server.listen()
  port = ep.port
  base = `coap://${HOST}:${port}`
  client = new CoapClient({ timeout: 1000 })
  await normalGet()
})

afterAll(async () => {
  for (const t of timers) clearTimeout(t)
  await client?.close()
  await server?.close()
  process.off('unhandledRejection', onUnhandled)
  process.off('warning', onWarning)
})

describe('exported functions', () => {
  const fns: Array<[string, (...a: unknown[]) => unknown]> = [
    ['parseUri', parseUri as never], ['parseCode', parseCode as never], ['codeToString', codeToString as never],
    ['parseContentFormat', parseContentFormat as never], ['contentFormatName', contentFormatName as never],
    ['optionName', optionName as never], ['parseLinkFormat', parseLinkFormat as never],
    ['setLogLevel', setLogLevel as never], ['onLog', onLog as never], ['versions', versions as never], ['capabilities', capabilities as never],
  ]
  const shaped = fc.oneof(
    junk, weirdNumber, urlArg(5683), contentFormatArb,
    fc.constantFrom('2.05', '0.00', '7.31', '8.00', '2.5', '2.055', 'GET', 'content', ' 2.05', 'text/plain', 'emerg', 'debug', 'err'),
    // link-format shaped text
    fc.array(fc.oneof(fc.constantFrom('<', '>', ';', ',', '"', '=', '\\', 'rt', 'ct', '/a', ' '), fc.string({ maxLength: 4 })), { maxLength: 12 }).map((a) => a.join('')),
  )
  it.each(fns)('%s(random) throws nothing undocumented', async (name, fn) => {
    try {
      // The documented argument only: the optional `name` parameters some of them have are for
      // the library's own messages.
      await fc.assert(fc.asyncProperty(fc.array(shaped, { maxLength: 1 }), async (args) => {
        await call(() => fn(...args), `${name}(${args.map(safeString).join(', ')})`)
      }), params())
    } finally {
      setLogLevel('err')
      onLog(null)
    }
  }, TEST_TIMEOUT)
})

describe('CoapClient', () => {
  const clientOptionsArb = fc.oneof(
    junk,
    withExtraKeys(fc.record({
      timeout: timeoutArb, confirmable: maybe(fc.boolean()), psk: clientPskArb, pki: clientPkiArb,
      keepalive: maybe(weirdNumber), maxMessageSize: maybe(weirdNumber), parameters: parametersArb,
      maxBodySize: maybe(weirdNumber), blockSize: maybe(fc.oneof(weirdNumber, fc.constantFrom(16, 32, 64, 128, 256, 512, 1024))),
    }, { requiredKeys: [] })),
  )

  it('constructor options, then a request with that client', async () => {
    await fc.assert(fc.asyncProperty(clientOptionsArb, async (options) => {
      const made = await call(() => new CoapClient(options as never), 'new CoapClient')
      if (!made.ok) return
      const c = made.value as CoapClient
      try {
        await call(() => c.get(`${base}/ok`, { timeout: 1000 }), 'get with that client')
        await call(() => c.put(`${base}/ok`, Buffer.alloc(2000, 1), { timeout: 1500 }), 'block-wise put with that client')
      } finally {
        await bounded(c.close(), 'close')
      }
    }), params())
  }, TEST_TIMEOUT)

  type Method = 'get' | 'delete' | 'discover' | 'ping' | 'put' | 'post' | 'fetch' | 'patch' | 'iPatch'
  const noBody: Method[] = ['get', 'delete', 'discover', 'ping']
  const withBody: Method[] = ['put', 'post', 'fetch', 'patch', 'iPatch']

  it.each(noBody)('%s(url, options)', async (m) => {
    await fc.assert(fc.asyncProperty(fc.constant(0).chain(() => urlArg(port)), requestOptionsArb, async (url, options) => {
      await call(() => (client[m] as (...a: unknown[]) => unknown)(url, options), `${m}(${safeString(url)})`)
    }), params())
  }, TEST_TIMEOUT)

  it.each(withBody)('%s(url, payload, options)', async (m) => {
    await fc.assert(fc.asyncProperty(fc.constant(0).chain(() => urlArg(port)), bodyArb, requestOptionsArb, async (url, payload, options) => {
      await call(() => (client[m] as (...a: unknown[]) => unknown)(url, payload, options), `${m}(${safeString(url)})`)
    }), params())
  }, TEST_TIMEOUT)

  it('request(init)', async () => {
    const initArb = fc.oneof(
      { weight: 1, arbitrary: junk },
      {
        weight: 5,
        arbitrary: fc.tuple(requestOptionsArb, fc.record({ url: fc.constant(0).chain(() => urlArg(port)), method: methodNameArb, payload: bodyArb }, { requiredKeys: ['url'] }))
          .map(([o, r]) => (o !== null && typeof o === 'object' && !Array.isArray(o) ? { ...o, ...r } : r)),
      },
    )
    await fc.assert(fc.asyncProperty(initArb, async (init) => {
      await call(() => client.request(init as never), 'request')
    }), params())
  }, TEST_TIMEOUT)

  it('observe(url, options): first value, then return()', async () => {
    const opts = fc.tuple(requestOptionsArb, fc.record({ method: maybe(fc.constantFrom('GET', 'FETCH', 'PUT')), payload: bodyArb }, { requiredKeys: [] }))
      .map(([o, r]) => (o !== null && typeof o === 'object' && !Array.isArray(o) ? { ...o, ...r } : o))
    await fc.assert(fc.asyncProperty(fc.constant(0).chain(() => urlArg(port)), opts, async (url, options) => {
      const r = await call(() => client.observe(url as never, options as never), 'observe')
      if (r.ok) await poke(r.value, `observe(${safeString(url)})`)
    }), params())
  }, TEST_TIMEOUT)

  it('observeStream(url, options): first event, then destroy()', async () => {
    await fc.assert(fc.asyncProperty(fc.constant(0).chain(() => urlArg(port)), requestOptionsArb, async (url, options) => {
      const r = await call(() => client.observeStream(url as never, options as never), 'observeStream')
      if (!r.ok) return
      const s = r.value as import('node:stream').Readable
      const first = new Promise<void>((resolve, reject) => {
        s.once('data', () => resolve())
        s.once('end', () => resolve())
        s.once('close', () => resolve())
        s.once('error', reject)
      })
      try {
        await bounded(first, `observeStream(${safeString(url)})`)
      } finally {
        s.destroy()
      }
    }), params())
  }, TEST_TIMEOUT)

  it('multicast(url, options)', async () => {
    // URLs name no group here (nothing may leave the machine), so this covers argument checking.
    const opts = fc.tuple(requestOptionsArb, fc.record({ method: methodNameArb, payload: bodyArb, interface: maybe(fc.constantFrom('lo', 'nxnope')) }, { requiredKeys: [] }))
      .map(([o, r]) => (o !== null && typeof o === 'object' && !Array.isArray(o) ? { ...o, ...r } : o))
    await fc.assert(fc.asyncProperty(fc.constant(0).chain(() => urlArg(port)), opts, async (url, options) => {
      const r = await call(() => client.multicast(url as never, options as never), 'multicast')
      if (r.ok) await poke(r.value, `multicast(${safeString(url)})`, 20)
    }), params())
  }, TEST_TIMEOUT)

  it('handler results: any value a handler returns gets an answer, and only documented errors', async () => {
    const resultArb = fc.oneof(
      junk, bodyArb,
      withExtraKeys(fc.record({
        code: maybe(fc.constantFrom('2.05', '2.01', '4.04', '5.03', '2.03', '2.31', '0.00', '1.00', '7.01', '6.00', '2.5', 'x', 69, 132)),
        payload: bodyArb, contentFormat: contentFormatArb, options: optionsInitArb,
      }, { requiredKeys: [] })),
    )
    await fc.assert(fc.asyncProperty(resultArb, fc.boolean(), async (result, viaPost) => {
      randomResult = result
      serverErrors.length = 0
      const r = viaPost
        ? await call(() => client.post(`${base}/rand`, 'x', { timeout: 1500 }), 'POST /rand')
        : await call(() => client.get(`${base}/rand`, { timeout: 1500 }), 'GET /rand')
      for (const e of serverErrors) assertDocumented(e, `server 'error' for handler result ${safeString(result)}`)
    }), params())
    randomResult = undefined
  }, TEST_TIMEOUT)
})

describe('CoapServer', () => {
  const serverOptionsArb = fc.oneof(
    junk,
    withExtraKeys(fc.record({
      listen: listenUrlArb(), separateResponseAfter: maybe(weirdNumber), psk: serverPskArb, pki: serverPkiArb,
      maxHandshakes: maybe(weirdNumber), maxIdleSessions: maybe(weirdNumber), sessionTimeout: maybe(weirdNumber),
      maxMessageSize: maybe(weirdNumber), maxBodySize: maybe(weirdNumber), blockSize: maybe(weirdNumber),
      multicast: multicastOptionArb, parameters: parametersArb, reusePort: maybe(fc.boolean()),
    }, { requiredKeys: [] })).map((o) => {
      // The default listen URL is the well-known port on every interface; keep to a free loopback one.
      if (o !== null && typeof o === 'object' && !('listen' in o)) return { ...o, listen: `coap://${HOST}:0` }
      return o
    }),
  )

  it('constructor options, listen(), close()', async () => {
    await fc.assert(fc.asyncProperty(serverOptionsArb, async (options) => {
      const made = await call(() => new CoapServer(options as never), 'new CoapServer')
      if (!made.ok) return
      const s = made.value as CoapServer
      try {
        await call(() => s.listen(), 'listen')
      } finally {
        await bounded(s.close(), 'server close')
      }
    }), params())
  }, TEST_TIMEOUT)

  it('resource(path, attributes) and every ServerResource method', async () => {
    const scratch = new CoapServer({ listen: `coap://${HOST}:0` })
    scratch.on('error', () => {})
    const pathArb = maybe(fc.oneof(
      fc.constantFrom('/', '//', '/a/', '/a?b', '/a#b', '/.well-known/core', '/%zz', '/a b', '/ÿ', '/a//b', '/x'),
      fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }).map((a) => '/' + a.join('/')),
    ))
    const attrsArb = fc.oneof(fc.constant(undefined), maybe(withExtraKeys(fc.record({
      rt: maybe(fc.string({ maxLength: 6 })), if: maybe(fc.string({ maxLength: 6 })), ct: maybe(fc.oneof(weirdNumber, fc.array(weirdNumber, { maxLength: 3 }))),
      sz: maybe(weirdNumber), title: maybe(fc.string({ maxLength: 6 })), observable: maybe(fc.boolean()),
      notifications: maybe(fc.constantFrom('non', 'con', 'non-always', 'NON')),
    }, { requiredKeys: [] }))))
    const step = fc.oneof(
      fc.tuple(fc.constant('handle'), methodNameArb, maybe(funcArb)),
      fc.tuple(fc.constantFrom('get', 'post', 'put', 'delete', 'fetch', 'patch', 'iPatch'), maybe(funcArb)),
      fc.tuple(fc.constant('etag='), maybe(fc.oneof(bufferArb, fc.constant(undefined)))),
      fc.tuple(fc.constant('notify'), fc.array(junk, { maxLength: 1 })),
      fc.tuple(fc.constant('setRepresentation'), junk),
      fc.tuple(fc.constant('registerOption'), maybe(weirdNumber)),
    )
    try {
      await fc.assert(fc.asyncProperty(pathArb, attrsArb, fc.array(step, { maxLength: 4 }), async (path, attrs, steps) => {
        const made = await call(() => (attrs === undefined ? scratch.resource(path as never) : scratch.resource(path as never, attrs as never)), `resource(${safeString(path)})`)
        if (!made.ok) return
        const r = made.value as Record<string, unknown> & { etag: unknown }
        for (const [name, ...args] of steps) {
          await call(() => {
            if (name === 'etag=') r.etag = args[0]
            else if (name === 'notify') return (r.notify as (...a: unknown[]) => unknown)(...(args[0] as unknown[]))
            else if (name === 'registerOption') return scratch.registerOption(args[0] as never)
            else return (r[name] as (...a: unknown[]) => unknown)(...args)
          }, `resource ${safeString(path)}.${name}`)
        }
        void r.usesEtags
        void r.observers
      }), params())
    } finally {
      await scratch.close()
    }
  }, TEST_TIMEOUT)
})

describe('libcoap/core', () => {
  let ctx: Context
  let session: Session
  const path = (p: string) => [[11, Buffer.from(p)]] as const

  beforeAll(() => {
    ctx = new Context()
    ctx.on('error', () => {})
    session = ctx.newClientSession({ remote: { host: HOST, port } })
  })
  afterAll(() => {
    ctx?.close()
  })

  const protoArb = maybe(fc.constantFrom('udp', 'dtls', 'tcp', 'tls', 'ws', 'wss', 'UDP', 'coap'))
  const hostArb = maybe(fc.constantFrom('127.0.0.1', '::1', '0.0.0.0', '::', '', 'localhost', '127.0.0.1 ', '::ffff:127.0.0.1', 'fe80::1%lo', '1.2.3.4.5', '[::1]'))

  it('Context.newClientSession(options), then release()', async () => {
    const arb = fc.oneof(junk, withExtraKeys(fc.record({
      proto: protoArb,
      remote: maybe(withExtraKeys(fc.record({ host: hostArb, port: fc.oneof(fc.constant(port), weirdNumber, junk) }, { requiredKeys: [] }))),
      psk: clientPskArb, pki: clientPkiArb, wsHost: maybe(fc.string({ maxLength: 8 })),
    }, { requiredKeys: [] })))
    await fc.assert(fc.asyncProperty(arb, async (options) => {
      const made = await call(() => ctx.newClientSession(options as never), 'newClientSession')
      if (!made.ok) return
      const s = made.value as Session
      void [s.id, s.valid, s.proto, s.side, s.state, s.remote, s.local, s.mtu, s.maxPduSize, s.pskIdentity, s.peerCommonName, String(s)]
      await call(() => s.release(), 'release')
    }), params())
  }, TEST_TIMEOUT)

  const optionPairArb = fc.oneof(
    fc.tuple(maybe(fc.oneof(fc.constantFrom(1, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 17, 23, 27, 28, 35, 39, 60, 258, 2048, 65001, 65535, 65536, -1, 1.5), fc.nat(70_000))), maybe(bufferArb)),
    junk,
  )
  const initArb = fc.oneof(junk, withExtraKeys(fc.record({
    method: methodNameArb,
    type: maybe(fc.constantFrom('CON', 'NON', 'ACK', 'RST', 'con')),
    options: maybe(fc.oneof(fc.array(optionPairArb, { maxLength: 4 }).map((a) => [...path('ok'), ...a]), fc.array(optionPairArb, { maxLength: 4 }))),
    payload: maybe(fc.oneof(bufferArb, fc.constant(Buffer.alloc(1500, 0x62)))),
  }, { requiredKeys: [] })))
  // Always an object with a bounded timeout or no object at all: without one, a request nobody
  // answers (e.g. carrying No-Response) waits for libcoap's own limits, which is documented.
  const sendOptionsArb = fc.oneof(
    nonNumberJunk.filter((v) => v === null || typeof v !== 'object'),
    withExtraKeys(fc.record({ timeout: timeoutArb, signal: maybe(fc.constant(0).map(() => AbortSignal.timeout(5))), onProgress: maybe(funcArb) }, { requiredKeys: ['timeout'] })),
  ).filter((o) => o !== undefined)
  const sessionArb = fc.oneof({ weight: 6, arbitrary: fc.constant('session') }, { weight: 1, arbitrary: junk })
  const pick = (s: unknown) => (s === 'session' ? session : s)

  it('Context.send(session, init, options)', async () => {
    await fc.assert(fc.asyncProperty(sessionArb, initArb, sendOptionsArb, async (s, init, options) => {
      const r = await call(() => ctx.send(pick(s) as never, init as never, options as never), 'send')
      if (r.ok && r.value) {
        const pdu = r.value as { codeString: string; options: unknown; option: (n: unknown) => unknown; payload: unknown }
        await call(() => [pdu.codeString, pdu.options, pdu.payload, pdu.option('ETag')], 'Pdu accessors')
        await call(() => pdu.option(99999), 'Pdu.option(99999)')
      }
    }), params())
  }, TEST_TIMEOUT)

  it('Context.observe(session, init, options): first value, then return()', async () => {
    const obsInit = initArb.map((i) => (i !== null && typeof i === 'object' && Array.isArray((i as { options?: unknown }).options) ? { ...i, options: [[6, Buffer.alloc(0)], [11, Buffer.from('obs')], ...((i as { options: unknown[] }).options.slice(1))] } : i))
    await fc.assert(fc.asyncProperty(sessionArb, obsInit, sendOptionsArb, async (s, init, options) => {
      const r = await call(() => ctx.observe(pick(s) as never, init as never, options as never), 'observe')
      if (r.ok) await poke(r.value, 'ctx.observe')
    }), params())
  }, TEST_TIMEOUT)

  it('Context.multicast(session, init, options) to a unicast session', async () => {
    await fc.assert(fc.asyncProperty(sessionArb, initArb, sendOptionsArb, async (s, init, options) => {
      const r = await call(() => ctx.multicast(pick(s) as never, init as never, options as never), 'ctx.multicast')
      if (r.ok) await poke(r.value, 'ctx.multicast', 20)
    }), params())
  }, TEST_TIMEOUT)

  it('Context.ping(session, options)', async () => {
    await fc.assert(fc.asyncProperty(sessionArb, sendOptionsArb, async (s, options) => {
      await call(() => ctx.ping(pick(s) as never, options as never), 'ctx.ping')
    }), params())
  }, TEST_TIMEOUT)

  it('Session: mtu, setParameters, reference/release on a session of its own', async () => {
    await fc.assert(fc.asyncProperty(maybe(weirdNumber), parametersArb, fc.nat(3), fc.nat(3), async (mtu, p, refs, releases) => {
      const s = ctx.newClientSession({ remote: { host: HOST, port } })
      await call(() => { s.mtu = mtu as never }, `mtu = ${safeString(mtu)}`)
      await call(() => s.setParameters(p as never), 'setParameters')
      for (let i = 0; i < refs; i++) await call(() => s.reference(), 'reference')
      // One more release than references: the extra one must be refused, not crash.
      for (let i = 0; i <= refs + releases; i++) await call(() => s.release(), 'release')
      void [s.valid, s.state, String(s), s.mtu]
      await call(() => s.setParameters({ ackTimeout: 2 }), 'setParameters after release')
      await call(() => ctx.send(s, { method: 'GET', options: path('ok') }, { timeout: 500 }), 'send on a released session')
    }), params())
  }, TEST_TIMEOUT)

  it('Context setters, setPsk/setPki, endpoints, groups, options and resources', async () => {
    const c = new Context()
    c.on('error', () => {})
    const setters = ['separateResponseAfter', 'maxHandshakes', 'maxIdleSessions', 'keepalive', 'maxMessageSize', 'blockSize', 'reusePort', 'maxBodySize', 'sessionTimeout', 'serverParameters'] as const
    const step = fc.oneof(
      fc.tuple(fc.constantFrom(...setters), fc.oneof(weirdNumber, junk, parametersArb)),
      fc.tuple(fc.constant('setPsk'), serverPskArb),
      fc.tuple(fc.constant('setPki'), serverPkiArb),
      fc.tuple(fc.constant('addEndpoint'), fc.oneof(junk, withExtraKeys(fc.record({ proto: protoArb, host: hostArb, port: fc.oneof(fc.constant(0), weirdNumber, junk) }, { requiredKeys: [] })))),
      fc.tuple(fc.constant('removeEndpoint'), fc.oneof(junk, fc.constant('last'))),
      fc.tuple(fc.constant('joinGroup'), groupArb, fc.oneof(fc.constant(undefined), fc.constantFrom('lo', 'nxnope', ''), junk)),
      fc.tuple(fc.constant('registerOption'), maybe(weirdNumber)),
      fc.tuple(fc.constant('getResource'), junk),
      fc.tuple(fc.constant('addResource'), fc.oneof(junk, fc.string({ maxLength: 4 }).map((p) => `/${p}`))),
    )
    const endpoints: unknown[] = []
    try {
      await fc.assert(fc.asyncProperty(fc.array(step, { maxLength: 5 }), async (steps) => {
        for (const [name, a, b] of steps) {
          const r = await call(() => {
            if ((setters as readonly string[]).includes(name)) {
              ;(c as unknown as Record<string, unknown>)[name] = a
              return (c as unknown as Record<string, unknown>)[name]
            }
            if (name === 'removeEndpoint') return c.removeEndpoint((a === 'last' ? endpoints.pop() : a) as never)
            if (name === 'joinGroup') {
              // Joining a real group on the default interface would send IGMP/MLD reports out of the machine.
              const g = onLoopback(typeof a === 'object' && a !== null ? (a as { group?: unknown }).group : a)
              if (g !== null && typeof g === 'object') return c.joinGroup((g as { group: string }).group, (g as { interface: string }).interface)
              return c.joinGroup(g as never, (typeof b === 'string' ? `nx${b}` : b) as never)
            }
            if (name === 'addResource') return c.addResource(typeof a === 'string' ? new Resource(a) : (a as never))
            return (c as unknown as Record<string, (...x: unknown[]) => unknown>)[name](a, b)
          }, `Context.${name}(${safeString(a)})`)
          if (r.ok && name === 'addEndpoint') endpoints.push(r.value)
        }
        void [c.endpoints, c.closed]
      }), params())
    } finally {
      c.close()
    }
    // A closed context refuses everything with documented errors, too.
    await call(() => c.newClientSession({ remote: { host: HOST, port } }), 'closed newClientSession')
    await call(() => c.addEndpoint({ host: HOST, port: 0 }), 'closed addEndpoint')
    await call(() => c.send(session, { method: 'GET' }, { timeout: 100 }), 'closed send')
  }, TEST_TIMEOUT)

  it('Resource constructor, handle(), notify(), setRepresentation() off any context', async () => {
    await fc.assert(fc.asyncProperty(maybe(fc.string({ maxLength: 6 }).map((s) => `/${s}`)), junk, methodNameArb, maybe(funcArb), junk, async (p, attrs, m, h, v) => {
      const made = await call(() => new Resource(p as never, attrs as never), 'new Resource')
      if (!made.ok) return
      const r = made.value as Resource
      await call(() => r.handle(m as never, h as never), 'handle')
      await call(() => r.notify(v as never), 'notify')
      await call(() => r.setRepresentation(v as never), 'setRepresentation')
    }), params())
  }, TEST_TIMEOUT)
})

describe('after all of the above', () => {
  it('the same server still answers a normal GET, and nothing was left unhandled', async () => {
    await normalGet()
    const res = await client.get(`${base}/obs`, { timeout: 3000 })
    expect(res.code).toBe('2.05')
    expect(unhandled.map(describeError)).toEqual([])
  })

  it('argument errors were the library\'s own checks, not engine or Node-internal errors', () => {
    const list = [...notOwnChecks].map(([err, where]) => `${where} -> ${err}`)
    expect(list.length, `\n${list.join('\n')}\n`).toBe(0)
  })
})
