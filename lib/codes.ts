/**
 * Message types, methods and response codes, converted between CoAP's wire numbers and the
 * forms people write (`'CON'`, `'GET'`, `'2.05'`).
 * @module
 */

/**
 * CoAP message types (RFC 7252 §3), as libcoap's `COAP_MESSAGE_*`.
 * @example
 * ```ts
 * import { MessageType, type MessageTypeName } from 'libcoap'
 *
 * const name: MessageTypeName = 'NON'
 * console.log(MessageType[name]) // 1
 * ```
 */
export const MessageType = { CON: 0, NON: 1, ACK: 2, RST: 3 } as const
/** Name of a message type. */
export type MessageTypeName = keyof typeof MessageType
const typeNames: MessageTypeName[] = ['CON', 'NON', 'ACK', 'RST']

/**
 * Request methods (RFC 7252, 8132), as libcoap's `COAP_REQUEST_CODE_*`.
 * @example
 * ```ts
 * import { Method, type MethodName } from 'libcoap'
 *
 * const name: MethodName = 'IPATCH'
 * console.log(Method.GET, Method[name]) // 1 7
 * ```
 */
export const Method = { GET: 1, POST: 2, PUT: 3, DELETE: 4, FETCH: 5, PATCH: 6, IPATCH: 7 } as const
/** Name of a request method. */
export type MethodName = keyof typeof Method
const methodNames = Object.keys(Method) as MethodName[]

/** Response code in dotted form, e.g. `'2.05'`, `'4.04'`. */
export type CodeString = `${number}.${string}`

/** Name of a message type number, or `undefined` when out of range. */
export function typeName(type: number): MessageTypeName | undefined {
  return typeNames[type]
}

/** Name of a method code, or `undefined` when the code is not a method. */
export function methodName(code: number): MethodName | undefined {
  return methodNames[code - 1]
}

/**
 * `69` → `'2.05'`.
 * @example
 * ```ts
 * import { codeToString } from 'libcoap'
 *
 * console.log(codeToString(69), codeToString(132)) // '2.05' '4.04'
 * ```
 */
export function codeToString(code: number): CodeString {
  if (typeof code !== 'number') throw new TypeError(`code must be a number, got ${typeof code}`)
  if (!Number.isInteger(code) || code < 0 || code > 255) throw new RangeError(`code must be a wire code 0-255, got ${code}`)
  const detail = code & 0x1f
  return `${code >> 5}.${detail < 10 ? '0' : ''}${detail}` as CodeString
}

/**
 * `'2.05'`, `205` or `69`-as-wire-number → wire number. Numbers from 100 to 599 are read as the
 * dotted form without its dot (`404` → 4.04); smaller numbers are taken as wire codes.
 * @example
 * ```ts
 * import { parseCode } from 'libcoap'
 *
 * console.log(parseCode('4.04'), parseCode(404), parseCode(132)) // 132 132 132
 * ```
 */
export function parseCode(code: string | number, name = 'code'): number {
  if (typeof code === 'number') {
    if (!Number.isInteger(code) || code < 0 || code > 599) throw new RangeError(`${name} must be a CoAP code such as '2.05' or 205, got ${code}`)
    if (code >= 100) return parseCode(`${Math.floor(code / 100)}.${String(code % 100).padStart(2, '0')}`, name)
    return code
  }
  if (typeof code !== 'string') throw new TypeError(`${name} must be a string like '2.05' or a number, got ${typeof code}`)
  const m = /^([0-7])\.(\d\d)$/.exec(code)
  if (!m || Number(m[2]) > 31) throw new RangeError(`${name} must look like '2.05' (class 0-7, detail 00-31), got '${code}'`)
  return (Number(m[1]) << 5) | Number(m[2])
}
