/**
 * A handler's result (or a stored representation) in the form the native layer sends.
 * @module
 */
import { parseCode } from '../codes'
import { parseContentFormat } from '../content-format'
import { appendOptions, encodeOptions } from '../options'
import { DEFAULT_CODE } from './checks'
import type { HandlerResult } from './resource'

/** Code, Content-Format (-1: none), body and flat options of a response. */
export interface EncodedResult {
  code: number
  contentFormat: number
  payload: Buffer | undefined
  options: Buffer | undefined
}

function bodyOf(payload: unknown): Buffer | undefined {
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8')
  if (payload instanceof Uint8Array) return Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  return undefined
}

/** Validates and encodes `result` for `method`; `what` names it in errors (TypeError/RangeError). */
export function encodeResult(method: number, result: HandlerResult, what: string): EncodedResult {
  if (result === undefined || result === null) return { code: DEFAULT_CODE[method]!, contentFormat: -1, payload: undefined, options: undefined }
  if (typeof result === 'string' || result instanceof Uint8Array) {
    return { code: DEFAULT_CODE[method]!, contentFormat: typeof result === 'string' ? 0 : -1, payload: bodyOf(result), options: undefined }
  }
  if (typeof result !== 'object') throw new TypeError(`${what} returned a ${typeof result}; return a string, Buffer or { code, payload, contentFormat, options }`)
  const { code, payload, contentFormat, options } = result
  const body = bodyOf(payload)
  if (payload !== undefined && body === undefined) throw new TypeError(`${what} returned a payload of type ${typeof payload}; use a string or Buffer`)
  const wire = code === undefined ? DEFAULT_CODE[method]! : parseCode(code, 'code')
  // Responses are classes 2-5; libcoap drops anything else unanswered (6.xx, and 7.xx signals on UDP).
  if (wire < 64 || wire >= 192) throw new RangeError(`${what} returned code ${String(code)}, which is not a response code (2.xx-5.xx)`)
  const cf = contentFormat === null ? -1 : contentFormat === undefined ? (typeof payload === 'string' ? 0 : -1) : parseContentFormat(contentFormat)
  const list: Array<[number, Buffer]> = []
  appendOptions(list, options, 'options')
  return { code: wire, contentFormat: cf, payload: body, options: encodeOptions(list) }
}
