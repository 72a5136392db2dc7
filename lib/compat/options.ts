/**
 * node-coap's option and Content-Format conventions: `registerOption`, `ignoreOption`,
 * `registerFormat`, option names as `setOption()` takes them, and the `options`/`headers`
 * fields of a message.
 * @module
 */
import { contentFormatName, parseContentFormat } from '../content-format'
import { encodeOptionValue, optionName, optionNumber, type CoapOption, type OptionValue as CoreOptionValue } from '../options'

/**
 * An option value as node-coap takes it: one value, several (repeated option), or `null` to remove it.
 * @example
 * ```ts
 * import { request, type OptionValue } from 'libcoap/compat'
 *
 * const etags: OptionValue = [Buffer.from('a1', 'hex'), Buffer.from('b2', 'hex')] // a repeated option
 * const req = request({ hostname: 'localhost', pathname: '/doc' })
 * req.setOption('ETag', etags)
 * req.end()
 * ```
 */
export type OptionValue = null | string | number | Buffer | Buffer[]

/** One option of a message, as node-coap lists them in `message.options`. */
export interface Option {
  name: string
  value: string | number | Buffer
}

const toBinaryFns = new Map<string, (value: string | number) => Buffer>()
const fromBinaryFns = new Map<string, (value: Buffer) => unknown>()
const ignored = new Set<string>(['cache-control', 'content-length', 'accept-ranges'])
const formatsByName = new Map<string, number>()
const formatsByNumber = new Map<number, string>()
const ALIASES: Record<string, string> = { 'content-type': 'Content-Format' }
// Options node-coap shows as strings or numbers; every other option stays a Buffer.
const AS_STRING = new Set([3, 4, 8, 11, 15, 20, 35])
const AS_UINT = new Set([6, 14, 28, 60])

/** Canonical name and number of an option as `setOption()` takes it; `undefined` for ignored names. */
export function resolveName(name: unknown): { name: string; number: number } | undefined {
  if (typeof name === 'number') name = String(name)
  if (typeof name !== 'string') throw new TypeError(`option name must be a string or number, got ${name === null ? 'null' : typeof name}`)
  const key = name.trim().toLowerCase()
  if (ignored.has(key)) return undefined
  const number = optionNumber(ALIASES[key] ?? name.trim(), 'option')
  return { name: optionName(number), number }
}

/**
 * Registers converters for an option (node-coap `registerOption`): `toBinary` turns a string or
 * number given to `setOption()` into bytes, `fromBinary` turns received bytes into the value
 * shown in `options` and `headers`. `name` is a known option name or a number as a string (e.g.
 * `'2048'`); node-coap also accepts names it does not know, which libcoap cannot send (RangeError).
 * @example
 * ```ts
 * import { registerOption, request } from 'libcoap/compat'
 *
 * registerOption('2048', (value) => Buffer.from(String(value)), (bytes) => bytes.toString('utf8'))
 * request({ hostname: 'localhost', pathname: '/tagged', options: { '2048': 'tag-1' } }).end()
 * ```
 */
export function registerOption(name: string, toBinary: (value: string | number) => Buffer, fromBinary: (value: Buffer) => unknown): void {
  if (typeof toBinary !== 'function') throw new TypeError(`toBinary must be a function, got ${typeof toBinary}`)
  if (typeof fromBinary !== 'function') throw new TypeError(`fromBinary must be a function, got ${typeof fromBinary}`)
  const resolved = resolveName(name)
  if (resolved === undefined) throw new RangeError(`option '${name}' is ignored (ignoreOption) and cannot be registered`)
  toBinaryFns.set(resolved.name, toBinary)
  fromBinaryFns.set(resolved.name, fromBinary)
}

/**
 * Makes `setOption(name, …)` a no-op for `name` (node-coap `ignoreOption`), e.g. HTTP headers.
 * @example
 * ```ts
 * import { ignoreOption, request } from 'libcoap/compat'
 *
 * ignoreOption('X-Request-Id') // headers copied over from HTTP are dropped instead of rejected
 * const req = request({ hostname: 'localhost', pathname: '/' })
 * req.setOption('X-Request-Id', 'abc-123')
 * req.end()
 * ```
 */
export function ignoreOption(name: string): void {
  if (typeof name !== 'string') throw new TypeError(`name must be a string, got ${typeof name}`)
  ignored.add(name.trim().toLowerCase())
}

/**
 * Registers a Content-Format (node-coap `registerFormat`): media type `name` ↔ number `value`.
 * @example
 * ```ts
 * import { registerFormat, request } from 'libcoap/compat'
 *
 * registerFormat('application/vnd.example+json', 65000)
 * const req = request({ hostname: 'localhost', pathname: '/data', method: 'POST' })
 * req.setOption('Content-Format', 'application/vnd.example+json')
 * req.end('{"x":1}')
 * ```
 */
export function registerFormat(name: string, value: number): void {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('name must be a non-empty media type string')
  if (typeof value !== 'number') throw new TypeError(`value must be a number, got ${typeof value}`)
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new RangeError(`value must be a Content-Format number 0-65535, got ${value}`)
  formatsByName.set(name.trim().toLowerCase(), value)
  formatsByNumber.set(value, name)
}

/** Content-Format number of a media type (registered ones first) or number. */
export function formatNumber(value: string | number, what = 'Content-Format'): number {
  if (typeof value === 'string') {
    const n = formatsByName.get(value.trim().toLowerCase())
    if (n !== undefined) return n
  }
  return parseContentFormat(value, what)
}

/** Media type of a Content-Format number, or the number when it has no known name. */
export function formatName(value: number): string | number {
  return formatsByNumber.get(value) ?? contentFormatName(value) ?? value
}

/** Option numbers registered by number (custom options a server must let through). */
export function registeredNumbers(): number[] {
  return [...toBinaryFns.keys()].filter((k) => /^\d+$/.test(k)).map(Number)
}

/** The bytes of each value `setOption(name, value)` stands for (none for `null`). */
export function encodeValues(name: string, number: number, value: OptionValue): Buffer[] {
  if (value === null) return []
  const list = Array.isArray(value) ? value : [value]
  return list.map((v) => {
    if (Buffer.isBuffer(v)) return v
    if (typeof v !== 'string' && typeof v !== 'number') throw new TypeError(`${name} value must be a string, number or Buffer, got ${v === null ? 'null' : typeof v}`)
    const custom = toBinaryFns.get(name)
    if (custom !== undefined) {
      const out = custom(v)
      if (!Buffer.isBuffer(out)) throw new TypeError(`the toBinary converter of ${name} must return a Buffer`)
      return out
    }
    if (number === 12 || number === 17) return encodeOptionValue(number, formatNumber(v, name))
    return encodeOptionValue(number, v as CoreOptionValue, name)
  })
}

/** The value node-coap shows for an option's bytes. */
export function decodeValue(name: string, number: number, raw: Buffer): unknown {
  const custom = fromBinaryFns.get(name)
  if (custom !== undefined) return custom(raw)
  if (number === 12 || number === 17) return formatName(uint(raw))
  if (AS_UINT.has(number)) return uint(raw)
  if (AS_STRING.has(number)) return raw.toString('utf8')
  return raw
}

function uint(raw: Buffer): number {
  let v = 0
  for (const b of raw) v = v * 256 + b
  return v
}

/** `options` (every option, converted where node-coap converts) and `headers` (the non-Buffer ones). */
export function messageFields(list: readonly CoapOption[]): { options: Option[]; headers: Record<string, unknown> } {
  const options: Option[] = []
  const headers: Record<string, unknown> = {}
  for (const o of list) {
    const raw = Buffer.isBuffer(o.value) ? o.value : encodeOptionValue(o.number, o.value)
    const value = decodeValue(o.name, o.number, raw)
    options.push({ name: o.name, value: value as Option['value'] })
    if (value !== null && value !== undefined && !Buffer.isBuffer(value)) headers[o.name] = value
  }
  if (headers['Content-Format'] !== undefined) headers['Content-Type'] = headers['Content-Format']
  return { options, headers }
}

/** The options of a message being built: `setOption()` replaces every value of an option. */
export class OptionSet {
  readonly #values = new Map<number, Buffer[]>()

  /** node-coap `setOption(name, value)`: validates, converts, replaces. */
  set(name: unknown, value: OptionValue): void {
    const resolved = resolveName(name)
    if (resolved === undefined) return
    if (value === undefined) throw new TypeError(`${resolved.name} value must not be undefined (use null to remove the option)`)
    const values = encodeValues(resolved.name, resolved.number, value)
    if (values.length === 0) this.#values.delete(resolved.number)
    else this.#values.set(resolved.number, values)
  }

  /** The bytes of an option, if set. */
  get(number: number): Buffer[] | undefined {
    return this.#values.get(number)
  }

  /** Removes an option and returns its bytes. */
  take(number: number): Buffer[] | undefined {
    const v = this.#values.get(number)
    this.#values.delete(number)
    return v
  }

  /** The options in the form `CoapClient`/`CoapServer` take (by number, bytes as given). */
  toInit(): Record<number, Buffer[]> {
    return Object.fromEntries(this.#values)
  }
}
