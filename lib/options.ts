/**
 * CoAP options: the registry of names and value formats, and the translation between option
 * values and the flat records the native layer exchanges with libcoap.
 * @module
 */

/** How an option's value is encoded (RFC 7252 §3.2). */
export type OptionFormat = 'empty' | 'opaque' | 'uint' | 'string'

/**
 * Options known by name (RFC 7252, 7641, 7959, 7967, 8613, 8768, 9175).
 * @example
 * ```ts
 * import { OptionNumber } from 'libcoap'
 *
 * console.log(OptionNumber['Max-Age'], OptionNumber['Uri-Path']) // 14 11
 * ```
 */
export const OptionNumber = {
  'If-Match': 1,
  'Uri-Host': 3,
  ETag: 4,
  'If-None-Match': 5,
  Observe: 6,
  'Uri-Port': 7,
  'Location-Path': 8,
  OSCORE: 9,
  'Uri-Path': 11,
  'Content-Format': 12,
  'Max-Age': 14,
  'Uri-Query': 15,
  'Hop-Limit': 16,
  Accept: 17,
  'Q-Block1': 19,
  'Location-Query': 20,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  'Q-Block2': 31,
  'Proxy-Uri': 35,
  'Proxy-Scheme': 39,
  Size1: 60,
  Echo: 252,
  'No-Response': 258,
  'Request-Tag': 292,
} as const

/** Name of a known option. */
export type OptionName = keyof typeof OptionNumber

const formats: Record<number, OptionFormat> = {
  1: 'opaque', 3: 'string', 4: 'opaque', 5: 'empty', 6: 'uint', 7: 'uint', 8: 'string', 9: 'opaque',
  11: 'string', 12: 'uint', 14: 'uint', 15: 'string', 16: 'uint', 17: 'uint', 19: 'uint', 20: 'string',
  23: 'uint', 27: 'uint', 28: 'uint', 31: 'uint', 35: 'string', 39: 'string', 60: 'uint', 252: 'opaque',
  258: 'uint', 292: 'opaque',
}
const names = new Map<number, string>(Object.entries(OptionNumber).map(([k, v]) => [v, k]))
const lowerNames = new Map<string, number>(Object.entries(OptionNumber).map(([k, v]) => [k.toLowerCase(), v]))

/** A decoded option: uint options as numbers, string options as strings, others as Buffers. */
export interface CoapOption {
  readonly number: number
  /** Registered name, or the number as a string for unknown options. */
  readonly name: string
  readonly value: number | string | Buffer
}

/** An option value as callers may give it. */
export type OptionValue = number | string | Buffer | Uint8Array

/** Options as callers give them: by name or number, one value or several (repeatable options). */
export type OptionsInit = Partial<Record<OptionName | (string & {}) | number, OptionValue | OptionValue[] | null | undefined>>

/** Option number for a name or number. */
export function optionNumber(key: string | number, name = 'option'): number {
  if (typeof key === 'number' || /^\d+$/.test(key)) {
    const n = Number(key)
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new RangeError(`${name} number must be 1-65535, got ${key}`)
    return n
  }
  const n = lowerNames.get(key.toLowerCase())
  if (n === undefined) throw new RangeError(`${name}: unknown option '${key}' (use its number for unregistered options)`)
  return n
}

/**
 * Registered name of an option number (the number as a string when unregistered).
 * @example
 * ```ts
 * import { optionName } from 'libcoap'
 *
 * console.log(optionName(14), optionName(2048)) // 'Max-Age' '2048'
 * ```
 */
export function optionName(number: number): string {
  if (typeof number !== 'number') throw new TypeError(`number must be a number, got ${typeof number}`)
  return names.get(number) ?? String(number)
}

function uintBytes(value: number, name: string): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`${name} must be an unsigned 32-bit integer, got ${value}`)
  const out: number[] = []
  for (let v = value; v > 0; v = Math.floor(v / 256)) out.unshift(v % 256)
  return Buffer.from(out)
}

/** Encodes one option value in the format its number calls for. */
export function encodeOptionValue(number: number, value: OptionValue, name = optionName(number)): Buffer {
  const format = formats[number] ?? 'opaque'
  let out: Buffer
  if (typeof value === 'number') out = uintBytes(value, name)
  else if (typeof value === 'string') {
    if (format === 'uint') {
      if (!/^\d+$/.test(value)) throw new TypeError(`${name} takes a number, got '${value}'`)
      out = uintBytes(Number(value), name)
    } else out = Buffer.from(value, 'utf8')
  } else if (value instanceof Uint8Array) out = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  else throw new TypeError(`${name} value must be a number, string or Buffer, got ${value === null ? 'null' : typeof value}`)
  if (out.length > 65535) throw new RangeError(`${name} value is ${out.length} bytes; CoAP options hold at most 65535`)
  return out
}

/** Builds the flat option records for the native layer; `undefined` when there are none. */
export function encodeOptions(list: ReadonlyArray<readonly [number, Buffer]>): Buffer | undefined {
  if (list.length === 0) return undefined
  let size = 0
  for (const [, v] of list) size += 4 + v.length
  const out = Buffer.allocUnsafe(size)
  let at = 0
  for (const [n, v] of list) {
    out.writeUInt16BE(n, at)
    out.writeUInt16BE(v.length, at + 2)
    v.copy(out, at + 4)
    at += 4 + v.length
  }
  return out
}

/** Whether an option number is one of the IANA-registered ones this package names. */
export function isNamedOption(number: number): boolean {
  return names.has(number)
}

/** Whether a flat option list holds option `number` (without decoding any value). */
export function hasOption(flat: Buffer | undefined, number: number): boolean {
  if (flat === undefined) return false
  for (let at = 0; at + 4 <= flat.length; at += 4 + flat.readUInt16BE(at + 2)) {
    if (flat.readUInt16BE(at) === number) return true
  }
  return false
}

/** The first value of uint option `number` in a flat option list, or undefined without one. */
export function optionUint(flat: Buffer | undefined, number: number): number | undefined {
  if (flat === undefined) return undefined
  for (let at = 0; at + 4 <= flat.length; at += 4 + flat.readUInt16BE(at + 2)) {
    if (flat.readUInt16BE(at) !== number) continue
    const len = flat.readUInt16BE(at + 2)
    let v = 0
    for (let i = 0; i < len && i < 4; i++) v = v * 256 + flat[at + 4 + i]!
    return v
  }
  return undefined
}

/** The path the Uri-Path options of a flat option list spell, e.g. `'/a/b'` (`'/'` for none). */
export function uriPath(flat: Buffer | undefined): string {
  let path = ''
  if (flat !== undefined) {
    for (let at = 0; at + 4 <= flat.length; at += 4 + flat.readUInt16BE(at + 2)) {
      if (flat.readUInt16BE(at) === 11) path += '/' + flat.toString('utf8', at + 4, at + 4 + flat.readUInt16BE(at + 2))
    }
  }
  return path || '/'
}

/** Adds every entry of an {@link OptionsInit} to `list` (validated, encoded). */
export function appendOptions(list: Array<[number, Buffer]>, init: OptionsInit | undefined, what = 'options'): void {
  if (init === undefined || init === null) return
  if (typeof init !== 'object' || Array.isArray(init)) throw new TypeError(`${what} must be an object of option values, got ${Array.isArray(init) ? 'an array' : typeof init}`)
  for (const [key, raw] of Object.entries(init)) {
    if (raw === undefined || raw === null) continue
    const number = optionNumber(key, `${what}.${key}`)
    for (const v of Array.isArray(raw) ? raw : [raw]) list.push([number, encodeOptionValue(number, v, `${what}.${key}`)])
  }
}

function decodeValue(number: number, raw: Buffer): number | string | Buffer {
  switch (formats[number]) {
    case 'uint': {
      let v = 0
      for (const b of raw) v = v * 256 + b
      return v
    }
    case 'string':
      return raw.toString('utf8')
    default:
      return raw
  }
}

/** Decodes the native layer's flat option records. */
export function decodeOptions(flat: Buffer | undefined): CoapOption[] {
  const out: CoapOption[] = []
  if (flat === undefined) return out
  for (let at = 0; at + 4 <= flat.length;) {
    const number = flat.readUInt16BE(at)
    const len = flat.readUInt16BE(at + 2)
    const raw = flat.subarray(at + 4, at + 4 + len)
    out.push({ number, name: optionName(number), value: decodeValue(number, raw) })
    at += 4 + len
  }
  return out
}
