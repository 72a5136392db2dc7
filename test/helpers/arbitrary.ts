// fast-check arbitraries for test/properties.test.ts: junk of every JavaScript kind, plus values
// shaped like the real arguments so that random input also gets past the first type check.
//
// Network rule: nothing generated here may make the library talk to anything but this machine.
// CoAP URLs with a real scheme therefore only ever name loopback/wildcard hosts or hosts the URL
// parser rejects (a random host name would go to the resolver, a stray IPv4 literal like '1.2.3'
// is a real address to WHATWG URL), and multicast groups are only ever joined on 'lo'.
import fc from 'fast-check'
import { isIP } from 'node:net'

export const weirdNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(
    NaN, Infinity, -Infinity, -0, 0, -1, 1, 0.5, -0.5, 1.5, 15, 16, 17, 63, 64, 1023, 1024, 1025,
    65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e21, Number.MAX_VALUE,
    Number.MIN_VALUE, Number.EPSILON, -(2 ** 31),
  ),
  fc.integer(),
  fc.integer({ min: -1, max: 70_000 }),
  fc.double(),
)

const symbolArb = fc.oneof(
  fc.string({ maxLength: 5 }).map((s) => Symbol(s)),
  fc.constantFrom(Symbol.iterator, Symbol.asyncIterator, Symbol.toPrimitive),
)

export const bufferArb: fc.Arbitrary<Buffer> = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a))

// Callbacks never throw: a user callback that throws is the user's bug, not random input.
export const funcArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.func(fc.anything()),
  fc.constantFrom(() => {}, async () => {}, function* () {}, class {}, Math.max),
)

/** Any JavaScript value, biased towards the awkward ones. */
export const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything({
    withBoxedValues: true, withMap: true, withSet: true, withNullPrototype: true, withObjectString: true,
    withBigInt: true, withDate: true, withTypedArray: true, withSparseArray: true,
  }),
  weirdNumber,
  fc.string(),
  fc.constantFrom(null, undefined, true, false, '', [], {}, new Date(NaN), Object.create(null)),
  fc.bigInt(),
  symbolArb,
  funcArb,
  bufferArb,
  fc.uint8Array({ maxLength: 8 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.anything(), { maxKeys: 4 }),
)

/** Junk that is not a number (so that it cannot be a large, valid timeout). */
export const nonNumberJunk: fc.Arbitrary<unknown> = junk.filter((v) => typeof v !== 'number')

/** Either `good` or anything at all. */
export const maybe = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: junk })

/**
 * Timeouts: every invalid kind, and valid ones short enough that waiting them out is not a hang.
 * 0 (libcoap's own retransmission limits, ~93 s for a CON) and big valid values are left out on
 * purpose: a request waiting for its valid timeout is documented behaviour.
 */
export const timeoutArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(NaN, Infinity, -Infinity, -1, -0.5, 2 ** 31, 2 ** 53, 1e300, -(2 ** 31)),
  fc.integer({ min: 1, max: 800 }),
  fc.double({ min: 1, max: 800, noNaN: true }),
  nonNumberJunk,
)

/** An object with some of `known` and, sometimes, unknown keys too. */
export function withExtraKeys<T extends object>(known: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: known },
    {
      weight: 1,
      arbitrary: fc.tuple(known, fc.dictionary(fc.string({ maxLength: 8 }), junk, { minKeys: 1, maxKeys: 3 }))
        .map(([k, extra]) => ({ ...extra, ...k })),
    },
  )
}

const coapSchemes = ['coap', 'coaps', 'coap+tcp', 'coaps+tcp', 'coap+ws', 'coaps+ws']
const SAFE_HOSTS = [
  '127.0.0.1', '[::1]', '0.0.0.0', '[::]', '127.1', '0x7f.1', '[::ffff:127.0.0.1]',
  // rejected by the URL parser or by the library
  '', '256.0.0.1', '[::1', '[', '%zz', 'user:pw@127.0.0.1', '[fe80::1%25lo]', '127.0.0.1.', ' ',
]

/** URL-shaped strings with random schemes, hosts, ports, paths, queries and fragments. */
export function urlString(serverPort: number): fc.Arbitrary<string> {
  const port = fc.oneof(
    { weight: 4, arbitrary: fc.constant(`:${serverPort}`) },
    { weight: 1, arbitrary: fc.constantFrom('', ':', ':0', ':1', ':65535', ':65536', ':-1', ':abc', ':5683', ':99999999999') },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 65535 }).map((p) => `:${p}`) },
  )
  const segment = fc.oneof(
    fc.constantFrom('ok', 'obs', 'rand', '.well-known', 'core', '%zz', '%00', '%2F', '..', '.', '', 'ÿ', '%C3%BF'),
    fc.string({ maxLength: 6 }),
  )
  const path = fc.array(segment, { maxLength: 4 }).map((a) => (a.length ? '/' + a.join('/') : ''))
  const query = fc.option(fc.oneof(fc.constantFrom('rt=x', 'a&b', '=', '&&', '%zz'), fc.string({ maxLength: 6 })).map((q) => `?${q}`), { nil: '' })
  const fragment = fc.option(fc.string({ maxLength: 4 }).map((f) => `#${f}`), { nil: '' }, )
  const coapish = fc.tuple(fc.constantFrom(...coapSchemes, 'COAP', 'Coap+TCP'), fc.constantFrom('://', ':/', ':', ':///'), fc.constantFrom(...SAFE_HOSTS), port, path, query, fragment)
    .map(([s, sep, h, p, pa, q, f]) => `${s}${sep}${h}${p}${pa}${q}${f}`)
  // Unsupported schemes never reach the network, so their hosts may be anything.
  const other = fc.tuple(
    fc.oneof(fc.constantFrom('http', 'https', 'ws', 'file', 'mailto', 'data', 'coap-tcp', 'javascript'), fc.stringMatching(/^[a-z][a-z0-9+.-]{0,5}$/).filter((s) => !coapSchemes.includes(s.toLowerCase()))),
    fc.oneof(fc.constantFrom(...SAFE_HOSTS), fc.domain()), port, path, query,
  ).map(([s, h, p, pa, q]) => `${s}://${h}${p}${pa}${q}`)
  return fc.oneof({ weight: 6, arbitrary: coapish }, { weight: 1, arbitrary: other }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }).filter((s) => !/^\s*coaps?(\+(tcp|ws))?:/i.test(s)) })
}

/** A URL argument: mostly URL-shaped strings, sometimes URL objects, sometimes junk. */
export function urlArg(serverPort: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 6, arbitrary: urlString(serverPort) },
    { weight: 1, arbitrary: urlString(serverPort).map((s) => { try { return new URL(s) } catch { return s } }) },
    { weight: 1, arbitrary: junk },
  )
}

export const contentFormatArb: fc.Arbitrary<unknown> = maybe(fc.oneof(
  fc.constantFrom('text/plain', 'application/json', 'application/cbor', 'text/plain;charset=utf-8', 'application/link-format', 'x/unknown', 'TEXT/PLAIN', '', 0, 40, 50, 60, 65535, 65536, -1, 1.5),
  fc.integer({ min: -2, max: 70_000 }),
))

const OPTION_NAMES = [
  'If-Match', 'Uri-Host', 'ETag', 'If-None-Match', 'Observe', 'Uri-Port', 'Location-Path', 'Uri-Path',
  'Content-Format', 'Max-Age', 'Uri-Query', 'Accept', 'Location-Query', 'Block2', 'Block1', 'Size2',
  'Proxy-Uri', 'Proxy-Scheme', 'Size1', 'No-Response', 'etag', 'Unknown-Option',
  '0', '1', '2048', '65000', '65001', '65535', '65536', '-1', '1.5', 'NaN',
]

export const optionValueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 10 }), bufferArb, fc.integer({ min: -1, max: 2 ** 32 }), weirdNumber,
  fc.array(fc.oneof(fc.string({ maxLength: 4 }), bufferArb, fc.nat(300)), { maxLength: 3 }),
  junk,
)

/** The `options` request option: option names or numbers to values. */
export const optionsInitArb: fc.Arbitrary<unknown> = maybe(
  fc.dictionary(fc.oneof(fc.constantFrom(...OPTION_NAMES), fc.string({ maxLength: 6 })), optionValueArb, { maxKeys: 3 }),
)

export const queryArb: fc.Arbitrary<unknown> = maybe(fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.array(fc.oneof(fc.string({ maxLength: 6 }), junk), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.boolean(), junk), { maxKeys: 3 }),
))

export const signalArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(undefined),
  fc.constant(0).map(() => new AbortController().signal),
  fc.constant(0).map(() => AbortSignal.abort()),
  fc.constant(0).map(() => AbortSignal.abort(new Error('because'))),
  fc.integer({ min: 0, max: 30 }).map((ms) => AbortSignal.timeout(ms)),
  fc.constant({ aborted: false, addEventListener() {}, removeEventListener() {} }),
  junk,
)

export const bodyArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 30 }), bufferArb, fc.uint8Array({ maxLength: 30 }), fc.constant(undefined),
  // just over one block, to take the block-wise path too
  fc.constant(0).map(() => Buffer.alloc(1100, 0x61)),
  junk,
)

export const methodNameArb: fc.Arbitrary<unknown> = maybe(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'FETCH', 'PATCH', 'iPATCH', 'IPATCH', 'get', 'BREW', ''))

export const requestOptionsArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 1, arbitrary: junk.filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)) },
  {
    weight: 5,
    arbitrary: withExtraKeys(fc.record({
      confirmable: maybe(fc.boolean()),
      timeout: timeoutArb,
      signal: signalArb,
      accept: contentFormatArb,
      contentFormat: contentFormatArb,
      query: queryArb,
      options: optionsInitArb,
      onProgress: maybe(funcArb),
    }, { requiredKeys: [] })),
  },
)

export const secretArb: fc.Arbitrary<unknown> = maybe(fc.oneof(fc.string({ maxLength: 20 }), bufferArb, fc.constant(''), fc.constant(Buffer.alloc(0)), fc.constant('x'.repeat(300))))

export const pemArb: fc.Arbitrary<unknown> = maybe(fc.oneof(
  fc.constantFrom('/', '/nonexistent/x.pem', '/etc/hostname', '/dev/null', '', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', '-----BEGIN'),
  bufferArb,
))

export const clientPskArb: fc.Arbitrary<unknown> = maybe(withExtraKeys(fc.record({
  identity: secretArb, key: secretArb, sni: maybe(fc.string({ maxLength: 10 })), onHint: maybe(funcArb),
}, { requiredKeys: [] })))

export const clientPkiArb: fc.Arbitrary<unknown> = maybe(withExtraKeys(fc.record({
  ca: pemArb, cert: pemArb, key: pemArb, verifyPeer: maybe(fc.boolean()), checkCommonName: maybe(fc.boolean()),
  allowSelfSigned: maybe(fc.boolean()), allowExpired: maybe(fc.boolean()), sni: maybe(fc.string({ maxLength: 10 })),
}, { requiredKeys: [] })))

const lookupArb = (value: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => maybe(fc.oneof(
  fc.dictionary(fc.string({ maxLength: 6 }), value, { maxKeys: 3 }),
  fc.array(fc.tuple(fc.string({ maxLength: 6 }), value), { maxLength: 3 }).map((e) => new Map(e)),
  funcArb,
))

export const serverPskArb: fc.Arbitrary<unknown> = maybe(withExtraKeys(fc.record({
  hint: secretArb, key: secretArb, keys: lookupArb(secretArb),
  sni: lookupArb(maybe(fc.record({ hint: secretArb, key: secretArb }, { requiredKeys: [] }))),
}, { requiredKeys: [] })))

export const serverPkiArb: fc.Arbitrary<unknown> = maybe(withExtraKeys(fc.record({
  cert: pemArb, key: pemArb, ca: pemArb, verifyPeer: maybe(fc.boolean()), onCommonName: maybe(funcArb),
  sni: lookupArb(maybe(fc.record({ cert: pemArb, key: pemArb }, { requiredKeys: [] }))),
}, { requiredKeys: [] })))

export const parametersArb: fc.Arbitrary<unknown> = maybe(withExtraKeys(fc.record({
  ackTimeout: maybe(weirdNumber), ackRandomFactor: maybe(weirdNumber), maxRetransmit: maybe(weirdNumber),
  nstart: maybe(weirdNumber), defaultLeisure: maybe(weirdNumber), probingRate: maybe(weirdNumber),
  maxLatency: maybe(weirdNumber),
}, { requiredKeys: [] })))

const isGroup = (s: string): boolean => {
  const v = isIP(s)
  return (v === 4 && Number(s.split('.')[0]) >= 224 && Number(s.split('.')[0]) <= 239) || (v === 6 && /^ff/i.test(s))
}

/** Rewrites real multicast groups so they are joined on 'lo' only (see the network rule above). */
export function onLoopback(g: unknown): unknown {
  if (typeof g === 'string') return isGroup(g) ? { group: g, interface: 'lo' } : g
  if (g !== null && typeof g === 'object' && !Array.isArray(g) && typeof (g as { group?: unknown }).group === 'string' && isGroup((g as { group: string }).group)) {
    const i = (g as { interface?: unknown }).interface
    // A non-empty string is kept prefixed, so that it names no real interface.
    return { ...g, interface: typeof i === 'string' && i !== '' ? `nx${i}`.slice(0, 15) : 'lo' }
  }
  return g
}

export const groupArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom('224.0.1.187', 'ff02::fd', 'ff05::fd', '127.0.0.1', '::1', 'not-an-ip', '', '239.255.255.255', '300.1.1.1'),
  fc.record({ group: maybe(fc.constantFrom('224.0.1.187', 'ff02::fd', 'x')), interface: maybe(fc.constantFrom('lo', 'nxnope', '')) }, { requiredKeys: [] }),
  junk,
)

export const multicastOptionArb: fc.Arbitrary<unknown> = fc.oneof(groupArb, fc.array(groupArb, { maxLength: 3 }))
  .map((m) => (Array.isArray(m) ? m.map(onLoopback) : onLoopback(m)))

/** Listen URLs: loopback/wildcard only (a server binds, it does not send). */
export function listenUrlArb(): fc.Arbitrary<unknown> {
  const one = fc.oneof(
    { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...coapSchemes, 'http', 'COAP', 'coap+udp'), fc.constantFrom('127.0.0.1', '[::1]', '0.0.0.0', '[::]', '', '256.1.1.1', '[::1'), fc.constantFrom(':0', '', ':', ':65536', ':-1', ':0/path', ':0?q', ':0#f'))
      .map(([s, h, p]) => `${s}://${h}${p}`) },
    { weight: 1, arbitrary: junk },
  )
  return fc.oneof(one, fc.array(one, { maxLength: 3 }), fc.constant(undefined))
}
