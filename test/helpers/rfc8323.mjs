// CoAP over TCP message framing (RFC 8323 §3.2), written by hand for tests that talk to libcoap
// byte for byte. Plain JavaScript so a worker thread (raw-peer-worker.mjs) can load it directly.
//
//   0 1 2 3 4 5 6 7
//  +-------+-------+--------------------------+--------+---------+---------+------+---------+
//  |  Len  |  TKL  | Extended Length (0-4 B)  |  Code  |  Token  | Options | 0xFF | Payload |
//  +-------+-------+--------------------------+--------+---------+---------+------+---------+
//
// Len counts the bytes after the token (options, the 0xFF marker and the payload): 0-12 as is,
// 13 → one more byte (Len - 13), 14 → two bytes (Len - 269), 15 → four bytes (Len - 65805).
// Options are encoded as in RFC 7252 §3.1 (delta/length nibbles with 13/14 extensions).
// Over WebSockets (RFC 8323 §4.2) the same message has Len = 0 and no extended length.

/** Message codes used by the tests (class << 5 | detail). */
export const Code = Object.freeze({
  EMPTY: 0x00,
  GET: 0x01,
  POST: 0x02,
  PUT: 0x03,
  DELETE: 0x04,
  CREATED: 0x41, // 2.01
  CHANGED: 0x44, // 2.04
  CONTENT: 0x45, // 2.05
  NOT_FOUND: 0x84, // 4.04
  CSM: 0xe1, // 7.01
  PING: 0xe2, // 7.02
  PONG: 0xe3, // 7.03
  RELEASE: 0xe4, // 7.04
  ABORT: 0xe5, // 7.05
})

/** Option numbers used by the tests. */
export const Opt = Object.freeze({
  URI_PATH: 11,
  CONTENT_FORMAT: 12,
  URI_QUERY: 15,
  BLOCK2: 23,
  BLOCK1: 27,
  SIZE2: 28,
  SIZE1: 60,
  // Signaling options (meaning depends on the 7.xx code)
  MAX_MESSAGE_SIZE: 2, // CSM
  BLOCK_WISE_TRANSFER: 4, // CSM
  CUSTODY: 2, // Ping/Pong
  BAD_CSM_OPTION: 2, // Abort
})

/** '2.05' for 0x45. */
export function codeString(code) {
  return `${code >> 5}.${String(code & 0x1f).padStart(2, '0')}`
}

/** Minimal big-endian unsigned integer (0 → no bytes), as CoAP uint options are encoded. */
export function encodeUint(n) {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`uint out of range: ${n}`)
  const bytes = []
  while (n > 0) {
    bytes.unshift(n & 0xff)
    n = Math.floor(n / 256)
  }
  return Buffer.from(bytes)
}

/** Big-endian unsigned integer of up to 4 bytes. */
export function decodeUint(buf) {
  let n = 0
  for (const b of buf) n = n * 256 + b
  return n
}

function nibble(value) {
  if (value < 13) return [value, Buffer.alloc(0)]
  if (value < 269) return [13, Buffer.from([value - 13])]
  const ext = Buffer.alloc(2)
  ext.writeUInt16BE(value - 269)
  return [14, ext]
}

/** Encodes options given as [number, Buffer] pairs (sorted here, stable for repeats). */
export function encodeOptions(options) {
  const sorted = options.map((o, i) => [o[0], o[1], i]).sort((a, b) => a[0] - b[0] || a[2] - b[2])
  const parts = []
  let prev = 0
  for (const [num, value] of sorted) {
    const [d, dExt] = nibble(num - prev)
    const [l, lExt] = nibble(value.length)
    parts.push(Buffer.from([(d << 4) | l]), dExt, lExt, value)
    prev = num
  }
  return Buffer.concat(parts)
}

/** Splits the bytes after the token into options and payload; throws on malformed input. */
export function decodeBody(buf) {
  const options = []
  let i = 0
  let num = 0
  while (i < buf.length) {
    const b = buf[i++]
    if (b === 0xff) {
      if (i === buf.length) throw new Error('payload marker with an empty payload')
      return { options, payload: buf.subarray(i) }
    }
    let delta = b >> 4
    let len = b & 0x0f
    const ext = (v) => {
      if (v === 13) return buf[i++] + 13
      if (v === 14) {
        const x = buf.readUInt16BE(i) + 269
        i += 2
        return x
      }
      if (v === 15) throw new Error('reserved option nibble 15')
      return v
    }
    delta = ext(delta)
    len = ext(len)
    if (i + len > buf.length) throw new Error('option value runs past the message')
    num += delta
    options.push([num, buf.subarray(i, i + len)])
    i += len
  }
  return { options, payload: Buffer.alloc(0) }
}

/** The options + marker + payload part of a message. */
function body(options = [], payload) {
  const opts = encodeOptions(options)
  return payload && payload.length > 0 ? Buffer.concat([opts, Buffer.from([0xff]), payload]) : opts
}

/**
 * One CoAP-over-TCP message: { code, token?, options?: [number, Buffer][], payload? } → bytes.
 * Tokens of 0-8 bytes only (no RFC 8974 extended tokens).
 */
export function encodeTcp({ code, token = Buffer.alloc(0), options = [], payload }) {
  if (token.length > 8) throw new RangeError('token longer than 8 bytes')
  const rest = body(options, payload)
  const len = rest.length
  let head
  if (len < 13) head = Buffer.from([(len << 4) | token.length])
  else if (len < 269) head = Buffer.from([(13 << 4) | token.length, len - 13])
  else if (len < 65805) {
    head = Buffer.alloc(3)
    head[0] = (14 << 4) | token.length
    head.writeUInt16BE(len - 269, 1)
  } else {
    head = Buffer.alloc(5)
    head[0] = (15 << 4) | token.length
    head.writeUInt32BE(len - 65805, 1)
  }
  return Buffer.concat([head, Buffer.from([code]), token, rest])
}

/** The same message framed for WebSockets (RFC 8323 §4.2: Len 0, no extended length). */
export function encodeWs({ code, token = Buffer.alloc(0), options = [], payload }) {
  if (token.length > 8) throw new RangeError('token longer than 8 bytes')
  return Buffer.concat([Buffer.from([token.length, code]), token, body(options, payload)])
}

/**
 * Incremental parser of a CoAP-over-TCP byte stream. push(chunk) returns the messages completed
 * by it: { code, token, options, payload, size } (size = bytes on the wire, header included).
 * Throws on a malformed message (the stream cannot be resynchronised after that).
 */
export class TcpFrameParser {
  #buf = Buffer.alloc(0)

  /** Bytes received but not yet part of a complete message. */
  get buffered() {
    return this.#buf.length
  }

  push(chunk) {
    this.#buf = this.#buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#buf, chunk])
    const out = []
    for (;;) {
      const buf = this.#buf
      if (buf.length < 2) break
      const lenNibble = buf[0] >> 4
      const tkl = buf[0] & 0x0f
      if (tkl > 8) throw new Error(`TKL ${tkl} (extended tokens are not expected here)`)
      const extBytes = lenNibble === 13 ? 1 : lenNibble === 14 ? 2 : lenNibble === 15 ? 4 : 0
      const headerSize = 1 + extBytes + 1 + tkl
      if (buf.length < 1 + extBytes) break
      let len = lenNibble
      if (lenNibble === 13) len = buf[1] + 13
      else if (lenNibble === 14) len = buf.readUInt16BE(1) + 269
      else if (lenNibble === 15) len = buf.readUInt32BE(1) + 65805
      const size = headerSize + len
      if (buf.length < size) break
      const code = buf[1 + extBytes]
      const token = Buffer.from(buf.subarray(2 + extBytes, headerSize))
      const { options, payload } = decodeBody(buf.subarray(headerSize, size))
      out.push({ code, token, options: options.map(([n, v]) => [n, Buffer.from(v)]), payload: Buffer.from(payload), size })
      this.#buf = buf.subarray(size)
    }
    return out
  }
}

/** Block1/Block2 option value → { num, more, szx, size } (szx 7 = BERT, RFC 8323 §6). */
export function decodeBlock(value) {
  const n = decodeUint(value)
  const szx = n & 7
  return { num: Math.floor(n / 16), more: (n & 8) !== 0, szx, size: szx === 7 ? 1024 : 16 << szx }
}
