/**
 * Content-Format registry (RFC 7252 §12.3 and the IANA CoAP Content-Formats registry).
 * @module
 */

/**
 * Well-known Content-Format numbers by media type.
 * @example
 * ```ts
 * import { ContentFormat } from 'libcoap'
 *
 * console.log(ContentFormat['application/cbor']) // 60
 * ```
 */
export const ContentFormat = {
  'text/plain': 0,
  'application/cose; cose-type="cose-encrypt0"': 16,
  'application/link-format': 40,
  'application/xml': 41,
  'application/octet-stream': 42,
  'application/exi': 47,
  'application/json': 50,
  'application/json-patch+json': 51,
  'application/merge-patch+json': 52,
  'application/cbor': 60,
  'application/cwt': 61,
  'application/senml+json': 110,
  'application/sensml+json': 111,
  'application/senml+cbor': 112,
  'application/sensml+cbor': 113,
  'application/coap-group+json': 256,
} as const

/** A media type from {@link ContentFormat}, or a Content-Format number. */
export type ContentFormatLike = keyof typeof ContentFormat | (string & {}) | number

const byNumber = new Map<number, string>(Object.entries(ContentFormat).map(([k, v]) => [v, k]))

/**
 * Content-Format number for a media type name or number; throws on unknown names.
 * @example
 * ```ts
 * import { parseContentFormat } from 'libcoap'
 *
 * console.log(parseContentFormat('application/json'), parseContentFormat(11542)) // 50 11542
 * ```
 */
export function parseContentFormat(value: ContentFormatLike, name = 'contentFormat'): number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 65535) throw new RangeError(`${name} must be an integer 0-65535, got ${value}`)
    return value
  }
  if (typeof value !== 'string') throw new TypeError(`${name} must be a media type string or a number, got ${typeof value}`)
  const key = value.trim().toLowerCase()
  const n = (ContentFormat as Record<string, number>)[key === 'text/plain; charset=utf-8' || key === 'text/plain;charset=utf-8' ? 'text/plain' : key]
  if (n === undefined) throw new RangeError(`${name}: unknown media type '${value}' (pass its Content-Format number instead)`)
  return n
}

/**
 * Media type of a Content-Format number, or `undefined` when it is not in the table.
 * @example
 * ```ts
 * import { contentFormatName } from 'libcoap'
 *
 * console.log(contentFormatName(50), contentFormatName(11542)) // 'application/json' undefined
 * ```
 */
export function contentFormatName(value: number): string | undefined {
  return byNumber.get(value)
}
