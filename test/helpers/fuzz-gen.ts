// Input generators for test/fuzz.test.ts: a seeded PRNG, CoAP-over-UDP messages (RFC 7252 §3)
// built byte by byte so that they can be broken on purpose, their mutations, DTLS 1.2 records
// (RFC 6347 §4.1) and CoAP-over-TCP frames (RFC 8323 §3.2). Every input is a pure function of
// the PRNG's state, so a seed reproduces the exact byte sequence sent.

/** mulberry32: tiny, fast, good enough to drive a fuzzer, and identical on every platform. */
export class Rng {
  #s: number
  constructor(seed: number) {
    this.#s = seed >>> 0
  }
  u32(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
  /** 0 ≤ n < max */
  int(max: number): number {
    return Math.floor((this.u32() / 4294967296) * max)
  }
  /** lo ≤ n ≤ hi */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }
  chance(p: number): boolean {
    return this.u32() / 4294967296 < p
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]
  }
  /** Picks by weight: [[weight, value], …]. */
  weighted<T>(table: ReadonlyArray<readonly [number, T]>): T {
    let total = 0
    for (const [w] of table) total += w
    let r = this.u32() / 4294967296 * total
    for (const [w, v] of table) {
      if (r < w) return v
      r -= w
    }
    return table[table.length - 1][1]
  }
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n)
    let i = 0
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.u32(), i)
    for (; i < n; i++) out[i] = this.u32() & 0xff
    return out
  }
  /** A length skewed towards small values, as most interesting cases are near boundaries. */
  len(max: number): number {
    return this.weighted([[5, this.int(Math.min(max, 16) + 1)], [3, this.int(Math.min(max, 300) + 1)], [1, this.int(max + 1)]])
  }
}

export function uint(n: number): Buffer {
  const bytes: number[] = []
  while (n > 0) {
    bytes.unshift(n & 0xff)
    n = Math.floor(n / 256)
  }
  return Buffer.from(bytes)
}

// ---------------------------------------------------------------------------------------------
// CoAP options, shared by UDP and TCP (same encoding, RFC 7252 §3.1)

export const OPT = {
  IF_MATCH: 1, URI_HOST: 3, ETAG: 4, IF_NONE_MATCH: 5, OBSERVE: 6, URI_PORT: 7, LOCATION_PATH: 8,
  URI_PATH: 11, CONTENT_FORMAT: 12, MAX_AGE: 14, URI_QUERY: 15, HOP_LIMIT: 16, ACCEPT: 17,
  Q_BLOCK1: 19, LOCATION_QUERY: 20, BLOCK2: 23, BLOCK1: 27, SIZE2: 28, Q_BLOCK2: 31, PROXY_URI: 35,
  PROXY_SCHEME: 39, SIZE1: 60, ECHO: 252, NO_RESPONSE: 258, REQUEST_TAG: 292,
} as const

/** Delta or length nibble plus its 0–2 extension bytes (13: +1 byte, 14: +2 bytes). */
function nibble(v: number): [number, number[]] {
  if (v < 13) return [v, []]
  if (v < 269) return [13, [v - 13]]
  const e = v - 269
  return [14, [(e >> 8) & 0xff, e & 0xff]]
}

export function optionHeader(delta: number, length: number): Buffer {
  const [d, de] = nibble(delta)
  const [l, le] = nibble(length)
  return Buffer.from([(d << 4) | l, ...de, ...le])
}

/** Options in the order given (callers sort them; unsorted lists give negative deltas). */
export function encodeOptions(options: ReadonlyArray<readonly [number, Buffer]>): Buffer {
  const parts: Buffer[] = []
  let prev = 0
  for (const [num, value] of options) {
    parts.push(optionHeader(Math.max(0, num - prev), value.length), value)
    prev = num
  }
  return Buffer.concat(parts)
}

const sortOptions = (o: Array<[number, Buffer]>) => o.sort((a, b) => a[0] - b[0])

const PATHS: ReadonlyArray<readonly [number, string[]]> = [
  [30, ['hello']], [20, ['echo']], [15, ['big']], [8, ['obs']], [6, ['.well-known', 'core']],
  [5, ['nope']], [3, ['hello', 'extra']], [3, []], [2, ['']], [2, ['..', 'hello']],
]

function blockValue(rng: Rng): Buffer {
  const num = rng.weighted([[4, rng.int(8)], [2, rng.int(1 << 12)], [1, (1 << 20) - 1], [1, rng.int(1 << 20)]])
  const v = num * 16 + (rng.chance(0.5) ? 8 : 0) + rng.int(8) // SZX 7 is reserved (BERT on TCP only)
  return rng.weighted<Buffer>([[10, uint(v)], [1, Buffer.alloc(0)], [1, rng.bytes(rng.range(4, 6))]])
}

function stringy(rng: Rng, max: number): Buffer {
  return rng.weighted<Buffer>([
    [4, Buffer.from(rng.pick(['a', 'fuzz', 'x=1', 'rt=obs', 'href=/hello', 'ü', '%00', '?', '/', '&&']))],
    [2, rng.bytes(rng.len(max))],
    [1, Buffer.alloc(rng.len(max), 0x61)],
  ])
}

/** A value for option `num`, usually well-formed, sometimes of a length the option forbids. */
function optionValue(rng: Rng, num: number): Buffer {
  switch (num) {
    case OPT.OBSERVE:
      return rng.weighted<Buffer>([[6, uint(0)], [3, uint(1)], [1, uint(rng.int(1 << 24))], [1, rng.bytes(4)]])
    case OPT.BLOCK1:
    case OPT.BLOCK2:
    case OPT.Q_BLOCK1:
    case OPT.Q_BLOCK2:
      return blockValue(rng)
    case OPT.SIZE1:
    case OPT.SIZE2:
      return rng.weighted<Buffer>([[3, uint(0xffffffff)], [3, uint(rng.u32())], [1, uint(rng.int(5000))], [1, rng.bytes(rng.range(5, 8))]])
    case OPT.CONTENT_FORMAT:
    case OPT.ACCEPT:
      return rng.weighted<Buffer>([[3, uint(rng.pick([0, 40, 42, 50, 60, 110, 11542]))], [2, uint(rng.int(65536))], [1, rng.bytes(3)]])
    case OPT.ETAG:
    case OPT.IF_MATCH:
    case OPT.REQUEST_TAG:
      return rng.bytes(rng.weighted([[8, rng.int(9)], [1, rng.range(9, 20)]]))
    case OPT.IF_NONE_MATCH:
      return rng.chance(0.8) ? Buffer.alloc(0) : rng.bytes(rng.range(1, 3))
    case OPT.URI_PORT:
    case OPT.MAX_AGE:
    case OPT.HOP_LIMIT:
    case OPT.NO_RESPONSE:
      return rng.chance(0.8) ? uint(rng.u32() >>> rng.int(32)) : rng.bytes(rng.range(5, 9))
    case OPT.URI_HOST:
    case OPT.PROXY_SCHEME:
      return stringy(rng, 300)
    case OPT.PROXY_URI:
      return rng.chance(0.5) ? Buffer.from(`coap://127.0.0.1:${rng.int(65536)}/hello`) : stringy(rng, 1100)
    case OPT.ECHO:
      return rng.bytes(rng.weighted([[5, rng.range(1, 40)], [1, rng.range(41, 60)], [1, 0]]))
    default:
      return rng.chance(0.3) ? uint(rng.u32()) : rng.bytes(rng.len(300))
  }
}

const EXTRA_OPTIONS = [
  OPT.IF_MATCH, OPT.URI_HOST, OPT.ETAG, OPT.IF_NONE_MATCH, OPT.OBSERVE, OPT.URI_PORT, OPT.LOCATION_PATH,
  OPT.CONTENT_FORMAT, OPT.MAX_AGE, OPT.URI_QUERY, OPT.HOP_LIMIT, OPT.ACCEPT, OPT.Q_BLOCK1, OPT.LOCATION_QUERY,
  OPT.BLOCK2, OPT.BLOCK1, OPT.SIZE2, OPT.Q_BLOCK2, OPT.PROXY_URI, OPT.PROXY_SCHEME, OPT.SIZE1, OPT.ECHO,
  OPT.NO_RESPONSE, OPT.REQUEST_TAG,
  // Reserved (0, 128, 132, 136, 140), unknown critical and elective, OSCORE (9, not compiled in).
  0, 128, 132, 136, 140, 2049, 2048, 9, 65535, 65000,
]

export interface CoapRequestSpec {
  type: number
  code: number
  token: Buffer
  options: Array<[number, Buffer]>
  payload?: Buffer
}

/**
 * A plausible request (or, now and then, an empty message, a response or a signaling code) to
 * a path the server has, with options that reach libcoap's block-wise, observe and cache code.
 */
export function genRequest(rng: Rng): CoapRequestSpec {
  const code = rng.weighted<number>([
    [45, 0x01], [12, 0x03], [12, 0x02], [4, 0x04], [2, 0x05], [2, 0x06], [2, 0x07], // GET PUT POST DELETE FETCH PATCH iPATCH
    [4, 0x00], [3, 0x45], [2, 0x84], [1, 0xe1], [1, 0xe2], [2, rng.int(256)],
  ])
  const type = rng.weighted<number>([[50, 0], [35, 1], [7, 2], [8, 3]])
  const token = rng.bytes(rng.weighted([[10, rng.int(9)], [1, 0]]))
  const options: Array<[number, Buffer]> = []
  const path = rng.weighted(PATHS)
  for (const seg of path) options.push([OPT.URI_PATH, Buffer.from(seg)])
  if (code === 0x01 && (path[0] === 'obs' || rng.chance(0.05)) && rng.chance(0.6)) options.push([OPT.OBSERVE, optionValue(rng, OPT.OBSERVE)])
  if (path[0] === 'big' || rng.chance(0.15)) {
    if (rng.chance(0.6)) options.push([OPT.BLOCK2, blockValue(rng)])
    if (rng.chance(0.2)) options.push([OPT.SIZE2, optionValue(rng, OPT.SIZE2)])
  }
  let payload: Buffer | undefined
  if (code === 0x02 || code === 0x03 || code === 0x05 || code === 0x06 || code === 0x07 || rng.chance(0.05)) {
    payload = rng.bytes(rng.len(1024))
    if (rng.chance(0.4)) options.push([OPT.BLOCK1, blockValue(rng)])
    if (rng.chance(0.3)) options.push([OPT.SIZE1, optionValue(rng, OPT.SIZE1)])
    if (rng.chance(0.3)) options.push([OPT.CONTENT_FORMAT, optionValue(rng, OPT.CONTENT_FORMAT)])
  }
  const extra = rng.weighted([[6, 0], [3, 1], [2, 2], [1, rng.range(3, 8)]])
  for (let i = 0; i < extra; i++) {
    const num = rng.chance(0.85) ? rng.pick(EXTRA_OPTIONS) : rng.int(65536)
    options.push([num, optionValue(rng, num)])
  }
  return { type, code, token, options: sortOptions(options), payload }
}

export interface Encoded {
  buf: Buffer
  /** Offset of the first option byte. */
  optStart: number
  /** Offset just past the options (the payload marker, if any, starts here). */
  optEnd: number
}

/** RFC 7252 §3: Ver | T | TKL, Code, Message ID, Token, Options, 0xFF, Payload. */
export function encodeUdp(m: CoapRequestSpec, mid: number): Encoded {
  const head = Buffer.from([(1 << 6) | (m.type << 4) | m.token.length, m.code, (mid >> 8) & 0xff, mid & 0xff])
  const opts = encodeOptions(m.options)
  const parts = [head, m.token, opts]
  if (m.payload && m.payload.length > 0) parts.push(Buffer.from([0xff]), m.payload)
  const optStart = 4 + m.token.length
  return { buf: Buffer.concat(parts), optStart, optEnd: optStart + opts.length }
}

export type UdpKind =
  | 'random' | 'random-v1' | 'valid' | 'truncated' | 'version' | 'tkl' | 'reserved-nibble' | 'ext-past-end'
  | 'huge-option' | 'empty-payload' | 'bitflip' | 'bytes' | 'dup-mid' | 'ext-token' | 'splice' | 'jumbo'

/** One fuzz datagram for the coap:// port, and what kind of damage it carries. */
export function genUdp(rng: Rng, recentMids: number[]): { kind: UdpKind; buf: Buffer } {
  const kind = rng.weighted<UdpKind>([
    [12, 'random'], [8, 'random-v1'], [20, 'valid'], [8, 'truncated'], [4, 'version'], [5, 'tkl'],
    [6, 'reserved-nibble'], [6, 'ext-past-end'], [4, 'huge-option'], [4, 'empty-payload'], [8, 'bitflip'],
    [5, 'bytes'], [4, 'dup-mid'], [3, 'ext-token'], [2, 'splice'], [1, 'jumbo'],
  ])
  const mid = kind === 'dup-mid' && recentMids.length > 0 ? rng.pick(recentMids) : rng.int(65536)
  if (recentMids.length < 64) recentMids.push(mid)
  else recentMids[rng.int(64)] = mid
  if (kind === 'random') return { kind, buf: rng.bytes(rng.len(1500)) }
  if (kind === 'random-v1') {
    // Version 1 and a request code get random bytes past the first checks.
    const b = rng.bytes(rng.range(4, rng.chance(0.8) ? 64 : 1500))
    b[0] = 0x40 | (b[0] & 0x3f)
    if (rng.chance(0.7)) b[1] = rng.range(1, 7)
    return { kind, buf: b }
  }
  if (kind === 'jumbo') {
    // Larger than any MTU: loopback carries up to 64 KiB, libcoap reads what fits its buffer.
    const spec = genRequest(rng)
    spec.payload = rng.bytes(rng.range(1500, 9000))
    return { kind, buf: encodeUdp(spec, mid).buf }
  }
  const spec = genRequest(rng)
  if (kind === 'ext-token') {
    // RFC 8974: TKL 13 → one more length byte (token 13..268 bytes), 14 → two (269..65804).
    const ext = rng.chance(0.5)
    const tokLen = ext ? rng.range(13, 300) : rng.range(0, 8)
    const token = rng.bytes(Math.min(tokLen, 1000))
    const head: number[] = [0x40 | (spec.type << 4), spec.code, (mid >> 8) & 0xff, mid & 0xff]
    if (tokLen < 13) {
      head[0] |= tokLen
    } else if (tokLen < 269) {
      head[0] |= 13
      head.push(tokLen - 13)
    } else {
      head[0] |= 14
      head.push(((tokLen - 269) >> 8) & 0xff, (tokLen - 269) & 0xff)
    }
    if (rng.chance(0.3)) head[head.length - 1] = rng.int(256) // the length no longer matches
    return { kind, buf: Buffer.concat([Buffer.from(head), token, encodeOptions(spec.options), spec.payload ? Buffer.concat([Buffer.from([0xff]), spec.payload]) : Buffer.alloc(0)]) }
  }
  const enc = encodeUdp(spec, mid)
  const b = enc.buf
  switch (kind) {
    case 'valid':
    case 'dup-mid':
      return { kind, buf: b }
    case 'truncated':
      return { kind, buf: b.subarray(0, rng.int(b.length)) }
    case 'version':
      b[0] = (b[0] & 0x3f) | (rng.pick([0, 2, 3]) << 6)
      return { kind, buf: b }
    case 'tkl':
      b[0] = (b[0] & 0xf0) | rng.range(9, 15)
      return { kind, buf: b }
    case 'reserved-nibble': {
      // Delta or length 15 outside the payload marker is a message format error (§3.1).
      const bad = rng.pick([0xf0 | rng.int(15), (rng.int(15) << 4) | 0x0f, 0xff])
      const at = rng.range(enc.optStart, enc.optEnd)
      return { kind, buf: Buffer.concat([b.subarray(0, at), Buffer.from([bad]), rng.bytes(rng.int(8)), b.subarray(at)]) }
    }
    case 'ext-past-end': {
      // An extended delta or length that claims more bytes than the datagram holds.
      const hdr = rng.pick([[0xde, 0x00, rng.int(256), 0xff, 0xff], [0x0e, 0xff, 0xff], [0x0d, 0xff], [0xd0], [0xe0, 0xff], [0xee, 0xff, 0xff, 0xff, 0xff], [0x1d, rng.int(256)]])
      return { kind, buf: Buffer.concat([b.subarray(0, enc.optEnd), Buffer.from(hdr), rng.bytes(rng.int(6))]) }
    }
    case 'huge-option': {
      const len = rng.weighted([[2, rng.range(269, 1400)], [1, rng.range(1401, 8000)], [1, 65535 + 269]])
      // At most 60 000 bytes present: a UDP datagram holds no more than 65 507.
      const value = rng.bytes(Math.min(len, 60_000, rng.chance(0.5) ? len : rng.int(len)))
      const num = rng.pick([OPT.URI_PATH, OPT.URI_QUERY, OPT.PROXY_URI, OPT.ETAG, OPT.BLOCK2, 2048, 65000])
      const hdr = len > 65535 + 268 ? Buffer.from([0x0e, 0xff, 0xff]) : optionHeader(num, len)
      return { kind, buf: Buffer.concat([b.subarray(0, enc.optStart), hdr, value]) }
    }
    case 'empty-payload':
      return { kind, buf: Buffer.concat([b.subarray(0, enc.optEnd), Buffer.from([0xff])]) }
    case 'bitflip': {
      const n = rng.range(1, 8)
      for (let i = 0; i < n && b.length > 0; i++) b[rng.int(b.length)] ^= 1 << rng.int(8)
      return { kind, buf: b }
    }
    case 'bytes': {
      let out = b
      for (let i = rng.range(1, 4); i > 0; i--) {
        const at = rng.int(out.length + 1)
        const op = rng.int(3)
        if (op === 0) out = Buffer.concat([out.subarray(0, at), rng.bytes(rng.range(1, 8)), out.subarray(at)])
        else if (op === 1) out = Buffer.concat([out.subarray(0, at), out.subarray(at + rng.range(1, 8))])
        else if (at < out.length) out[at] = rng.pick([0x00, 0xff, 0x0d, 0x0e, 0x0f, 0xd0, 0xe0, 0xf0, rng.int(256)])
      }
      return { kind, buf: out }
    }
    case 'splice': {
      const other = encodeUdp(genRequest(rng), rng.int(65536)).buf
      return { kind, buf: Buffer.concat([b.subarray(0, rng.int(b.length + 1)), other.subarray(rng.int(other.length))]) }
    }
  }
  return { kind, buf: b }
}

// ---------------------------------------------------------------------------------------------
// DTLS 1.2 records

export const DTLS_1_2 = 0xfefd
export const DTLS_1_0 = 0xfeff

export function dtlsRecord(type: number, version: number, epoch: number, seq: number, fragment: Buffer, length = fragment.length): Buffer {
  const h = Buffer.alloc(13)
  h[0] = type
  h.writeUInt16BE(version & 0xffff, 1)
  h.writeUInt16BE(epoch & 0xffff, 3)
  h.writeUIntBE(seq, 5, 6)
  h.writeUInt16BE(length & 0xffff, 11)
  return Buffer.concat([h, fragment])
}

/** Handshake message header (§4.2.2): type, length, message_seq, fragment offset and length. */
export function handshake(msgType: number, body: Buffer, msgSeq = 0, fragOffset = 0, fragLength = body.length, length = body.length): Buffer {
  const h = Buffer.alloc(12)
  h[0] = msgType
  h.writeUIntBE(length & 0xffffff, 1, 3)
  h.writeUInt16BE(msgSeq & 0xffff, 4)
  h.writeUIntBE(fragOffset & 0xffffff, 6, 3)
  h.writeUIntBE(fragLength & 0xffffff, 9, 3)
  return Buffer.concat([h, body])
}

const vec8 = (b: Buffer) => Buffer.concat([Buffer.from([b.length & 0xff]), b])
const vec16 = (b: Buffer) => Buffer.concat([Buffer.from([(b.length >> 8) & 0xff, b.length & 0xff]), b])

/** PSK suites OpenSSL offers for DTLS 1.2, and a few it does not know. */
const SUITES = [0x00a8, 0xc0a8, 0x00ae, 0x008c, 0xc037, 0xccab, 0x00ff, 0xc02b, 0x1301, 0x0000]

function extension(type: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type >> 8, type & 0xff]), vec16(data)])
}

/** SNI (RFC 6066 §3) with one host_name entry. */
function sniExtension(name: Buffer): Buffer {
  return extension(0, vec16(Buffer.concat([Buffer.from([0]), vec16(name)])))
}

export interface HelloOptions {
  random: Buffer
  cookie?: Buffer
  msgSeq?: number
  sni?: Buffer
}

/** A ClientHello body (RFC 6347 §4.2.1) offering PSK suites. */
export function clientHelloBody(rng: Rng, o: HelloOptions): Buffer {
  const suites = Buffer.alloc(2 * rng.range(1, 6))
  for (let i = 0; i < suites.length; i += 2) suites.writeUInt16BE(i === 0 ? 0x00a8 : rng.pick(SUITES), i)
  const exts: Buffer[] = []
  if (o.sni) exts.push(sniExtension(o.sni))
  if (rng.chance(0.5)) exts.push(extension(0x0017, Buffer.alloc(0))) // extended_master_secret
  if (rng.chance(0.3)) exts.push(extension(0x000a, vec16(Buffer.from([0x00, 0x1d, 0x00, 0x17])))) // supported_groups
  if (rng.chance(0.2)) exts.push(extension(rng.int(65536), rng.bytes(rng.len(64))))
  return Buffer.concat([
    Buffer.from([0xfe, 0xfd]),
    o.random,
    vec8(rng.chance(0.9) ? Buffer.alloc(0) : rng.bytes(rng.range(1, 32))), // session_id
    vec8(o.cookie ?? Buffer.alloc(0)),
    vec16(suites),
    Buffer.from([1, 0]), // compression: null
    exts.length > 0 ? vec16(Buffer.concat(exts)) : Buffer.alloc(0),
  ])
}

export function clientHello(rng: Rng, o: HelloOptions, seq = 0): Buffer {
  return dtlsRecord(22, DTLS_1_2, 0, seq, handshake(1, clientHelloBody(rng, o), o.msgSeq ?? 0))
}

/** The cookie of a HelloVerifyRequest (handshake type 3), or undefined for anything else. */
export function helloVerifyCookie(datagram: Buffer): Buffer | undefined {
  if (datagram.length < 13 + 12 + 3 || datagram[0] !== 22 || datagram[13] !== 3) return undefined
  const len = datagram[13 + 12 + 2]
  const start = 13 + 12 + 3
  return datagram.length >= start + len ? Buffer.from(datagram.subarray(start, start + len)) : undefined
}

export function fuzzName(rng: Rng): Buffer {
  return rng.weighted<Buffer>([
    [3, Buffer.from('fuzz-client')],
    [2, Buffer.from(`fuzz-${rng.u32().toString(36)}`)],
    [2, rng.bytes(rng.len(300))],
    [1, Buffer.from('fuzz\u0000nul')],
    [1, Buffer.alloc(0)],
  ])
}

export type DtlsKind = 'random' | 'record' | 'hello' | 'hello-mutated' | 'handshake' | 'fragmented' | 'alert' | 'ccs' | 'appdata' | 'multi' | 'cke'

/** One fuzz datagram for the coaps:// port. */
export function genDtls(rng: Rng): { kind: DtlsKind; buf: Buffer } {
  const kind = rng.weighted<DtlsKind>([
    [10, 'random'], [10, 'record'], [10, 'hello'], [15, 'hello-mutated'], [10, 'handshake'], [6, 'fragmented'],
    [5, 'alert'], [4, 'ccs'], [8, 'appdata'], [4, 'multi'], [10, 'cke'],
  ])
  const version = rng.weighted<number>([[6, DTLS_1_2], [2, DTLS_1_0], [1, 0x0303], [1, 0xfefc], [1, rng.int(65536)]])
  const epoch = rng.weighted<number>([[5, 0], [3, 1], [1, rng.int(65536)]])
  const seq = rng.weighted<number>([[3, rng.int(16)], [1, rng.int(2 ** 32) * 65536 + rng.int(65536)]])
  const wrongLen = (n: number) => rng.weighted<number>([[6, n], [1, 0], [1, 0xffff], [1, n + rng.range(1, 100)], [1, Math.max(0, n - rng.range(1, 20))]])
  const hello = () => clientHelloBody(rng, { random: rng.bytes(32), cookie: rng.chance(0.3) ? rng.bytes(rng.range(1, 255)) : undefined, sni: rng.chance(0.3) ? fuzzName(rng) : undefined })
  switch (kind) {
    case 'random':
      return { kind, buf: rng.bytes(rng.len(1500)) }
    case 'record': {
      const frag = rng.bytes(rng.len(600))
      return { kind, buf: dtlsRecord(rng.pick([20, 21, 22, 23, 24, 25, rng.int(256)]), version, epoch, seq, frag, wrongLen(frag.length)) }
    }
    case 'hello': {
      const frag = handshake(1, hello(), rng.int(3))
      return { kind, buf: dtlsRecord(22, version, 0, seq, frag, wrongLen(frag.length)) }
    }
    case 'hello-mutated': {
      const b = dtlsRecord(22, DTLS_1_2, 0, seq, handshake(1, hello(), rng.int(3)))
      const n = rng.range(1, 6)
      for (let i = 0; i < n; i++) {
        // Aim at the lengths: record, handshake, session id / cookie / suites / extensions.
        const at = rng.chance(0.5) ? rng.pick([11, 12, 14, 15, 16, 22, 23, 24, 25, 59, 60]) : rng.int(b.length)
        if (at < b.length) b[at] = rng.pick([0x00, 0xff, 0x7f, 0x80, rng.int(256), b[at] ^ (1 << rng.int(8))])
      }
      return { kind, buf: rng.chance(0.2) ? b.subarray(0, rng.int(b.length)) : b }
    }
    case 'handshake': {
      const body = rng.bytes(rng.len(400))
      const t = rng.pick([0, 2, 3, 4, 11, 12, 13, 14, 15, 16, 20, rng.int(256)])
      return { kind, buf: dtlsRecord(22, version, epoch, seq, handshake(t, body, rng.int(8), 0, body.length, wrongLen(body.length))) }
    }
    case 'fragmented': {
      // Fragment offsets and lengths that overlap, overrun or contradict the message length.
      const body = hello()
      const off = rng.int(body.length)
      const flen = rng.weighted([[3, body.length - off], [1, rng.int(0xffffff)], [1, 0]])
      const part = body.subarray(off, off + Math.min(flen, body.length - off))
      return { kind, buf: dtlsRecord(22, version, 0, seq, handshake(1, part, rng.int(4), off, flen, rng.chance(0.7) ? body.length : rng.int(0xffffff))) }
    }
    case 'alert':
      return { kind, buf: dtlsRecord(21, version, epoch, seq, Buffer.from([rng.pick([1, 2, rng.int(256)]), rng.pick([0, 10, 20, 40, 80, 90, 115, rng.int(256)])])) }
    case 'ccs':
      return { kind, buf: dtlsRecord(20, version, epoch, seq, rng.chance(0.7) ? Buffer.from([1]) : rng.bytes(rng.len(8))) }
    case 'appdata': {
      const frag = rng.bytes(rng.range(0, 300))
      return { kind, buf: dtlsRecord(23, version, rng.pick([0, 1, epoch]), seq, frag, wrongLen(frag.length)) }
    }
    case 'cke': {
      // ClientKeyExchange for a PSK suite: the identity reaches the server's PSK lookup.
      const body = vec16(fuzzName(rng))
      return { kind, buf: dtlsRecord(22, DTLS_1_2, 0, seq, handshake(16, body, rng.int(4))) }
    }
    case 'multi': {
      const parts: Buffer[] = []
      for (let i = rng.range(2, 5); i > 0; i--) parts.push(genDtls(rng).buf.subarray(0, 400))
      return { kind, buf: Buffer.concat(parts) }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CoAP over TCP (RFC 8323 §3.2)

export interface TcpFrameOverrides {
  /** Len nibble to write instead of the right one (13, 14 and 15 take 1, 2 and 4 bytes). */
  lenNibble?: number
  /** Value of the extended length field instead of the right one. */
  extLen?: number
  tklNibble?: number
}

/** Len | TKL, Extended Length, Code, Token, Options, 0xFF, Payload. */
export function encodeTcpFrame(code: number, token: Buffer, options: Array<[number, Buffer]>, payload?: Buffer, o: TcpFrameOverrides = {}): Buffer {
  const body = Buffer.concat([encodeOptions(options), payload && payload.length > 0 ? Buffer.concat([Buffer.from([0xff]), payload]) : Buffer.alloc(0)])
  const n = body.length
  let nib: number
  let ext: Buffer
  if (n < 13) [nib, ext] = [n, Buffer.alloc(0)]
  else if (n < 269) [nib, ext] = [13, Buffer.from([n - 13])]
  else if (n < 65805) [nib, ext] = [14, Buffer.from([((n - 269) >> 8) & 0xff, (n - 269) & 0xff])]
  else {
    ext = Buffer.alloc(4)
    ext.writeUInt32BE(n - 65805)
    nib = 15
  }
  if (o.lenNibble !== undefined) {
    nib = o.lenNibble
    const size = nib === 13 ? 1 : nib === 14 ? 2 : nib === 15 ? 4 : 0
    ext = Buffer.alloc(size)
    if (size > 0) ext.writeUIntBE((o.extLen ?? 0) % 2 ** (8 * size), 0, size)
  } else if (o.extLen !== undefined && ext.length > 0) {
    ext.writeUIntBE(o.extLen % 2 ** (8 * ext.length), 0, ext.length)
  }
  const first = (nib << 4) | (o.tklNibble ?? token.length)
  return Buffer.concat([Buffer.from([first]), ext, Buffer.from([code]), token, body])
}

/** A CSM (7.01) with Max-Message-Size (2) and Block-Wise-Transfer (4), sometimes odd. */
export function csm(rng: Rng): Buffer {
  const options: Array<[number, Buffer]> = []
  if (rng.chance(0.8)) options.push([2, rng.weighted<Buffer>([[5, uint(1152)], [2, uint(rng.u32())], [1, uint(0)], [1, rng.bytes(rng.range(5, 8))]])])
  if (rng.chance(0.6)) options.push([4, rng.chance(0.9) ? Buffer.alloc(0) : rng.bytes(2)])
  if (rng.chance(0.1)) options.push([rng.pick([1, 3, 9, 2049]), rng.bytes(rng.int(4))]) // unknown critical → Abort
  return encodeTcpFrame(0xe1, rng.bytes(rng.weighted([[8, 0], [1, rng.int(9)]])), sortOptions(options))
}

export type TcpFrameKind = 'request' | 'len-mismatch' | 'huge-len' | 'truncated' | 'signal' | 'ext-token' | 'random' | 'bitflip'

/** One frame (or damaged frame) for a coap+tcp:// stream. */
export function genTcpFrame(rng: Rng): { kind: TcpFrameKind; buf: Buffer } {
  const kind = rng.weighted<TcpFrameKind>([[30, 'request'], [10, 'len-mismatch'], [5, 'huge-len'], [8, 'truncated'], [8, 'signal'], [5, 'ext-token'], [8, 'random'], [8, 'bitflip']])
  const spec = genRequest(rng)
  const frame = () => encodeTcpFrame(spec.code, spec.token, spec.options, spec.payload)
  switch (kind) {
    case 'request':
      return { kind, buf: frame() }
    case 'len-mismatch': {
      const nib = rng.pick([13, 14, 15, rng.int(13)])
      return { kind, buf: encodeTcpFrame(spec.code, spec.token, spec.options, spec.payload, { lenNibble: nib, extLen: rng.weighted([[3, rng.int(300)], [1, rng.u32()]]) }) }
    }
    case 'huge-len': {
      // Up to and past libcoap's 8 MiB + 256 receive limit; only a little of it follows.
      const want = rng.weighted([[2, 8 * 1024 * 1024 + 256 - 65805 + rng.range(-10, 10)], [1, 0xffffffff], [2, rng.range(65536, 4 * 1024 * 1024)]])
      const head = encodeTcpFrame(0x01, spec.token, [[OPT.URI_PATH, Buffer.from('echo')]], undefined, { lenNibble: 15, extLen: want })
      return { kind, buf: Buffer.concat([head, rng.bytes(rng.len(4000))]) }
    }
    case 'truncated': {
      const b = frame()
      return { kind, buf: b.subarray(0, rng.int(b.length)) }
    }
    case 'signal': {
      const code = rng.pick([0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xff, 0x00])
      const options: Array<[number, Buffer]> = rng.chance(0.5) ? [[rng.pick([2, 4, 6]), rng.bytes(rng.int(6))]] : []
      return { kind, buf: encodeTcpFrame(code, rng.bytes(rng.int(9)), options, rng.chance(0.2) ? rng.bytes(rng.len(100)) : undefined) }
    }
    case 'ext-token': {
      const tkl = rng.pick([13, 14, 15, 9, 12])
      const token = rng.bytes(rng.range(0, 300))
      const head = encodeTcpFrame(spec.code, Buffer.alloc(0), spec.options, spec.payload, { tklNibble: tkl })
      // The extended-token length bytes follow the code, before the token.
      const extBytes = tkl === 13 ? Buffer.from([rng.int(256)]) : tkl === 14 ? rng.bytes(2) : Buffer.alloc(0)
      const lenNib = head[0] >> 4
      const afterCode = 1 + (lenNib === 13 ? 1 : lenNib === 14 ? 2 : lenNib === 15 ? 4 : 0) + 1
      return { kind, buf: Buffer.concat([head.subarray(0, afterCode), extBytes, token, head.subarray(afterCode)]) }
    }
    case 'random':
      return { kind, buf: rng.bytes(rng.len(2000)) }
    case 'bitflip': {
      const b = frame()
      for (let i = rng.range(1, 6); i > 0 && b.length > 0; i--) b[rng.int(b.length)] ^= 1 << rng.int(8)
      return { kind, buf: b }
    }
  }
}
