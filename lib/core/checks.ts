/**
 * Validation and error mapping shared by `lib/core`'s {@link Context} (TypeError/RangeError
 * naming the parameter; libcoap's NACK reasons as {@link CoapError}s).
 * @module
 * @internal
 */
import { isIP } from 'node:net'
import { Method } from '../codes'
import {
  CoapBadResponseError, CoapConnectionError, CoapDtlsHandshakeError, CoapError, CoapResetError, CoapTimeoutError, CoapTlsError,
} from '../errors'
import type { Proto } from '../uri'
import { protoNumber, type NackReason, type SessionEventName } from './constants'
import type { Context } from './context'
import { Session } from './session'
import type { Address, SendInit, SendOptions } from './types'
import { show } from '../show'

export const DEFAULT_CODE: Record<number, number> = { 1: 69, 2: 65, 3: 68, 4: 66, 5: 69, 6: 68, 7: 68 }
export const SUPPORTED_PROTOS: ReadonlySet<Proto> = new Set(['udp', 'dtls', 'tcp', 'tls', 'ws', 'wss'])
export const SECURE_PROTOS: ReadonlySet<Proto> = new Set(['dtls', 'tls', 'wss'])
export const SYSTEM_CA_DIR = '/etc/ssl/certs'
export const RELIABLE_PROTOS: ReadonlySet<Proto> = new Set(['tcp', 'tls', 'ws', 'wss'])
export const CONNECTION_LOST: ReadonlySet<SessionEventName> = new Set([
  'tcp-failed', 'tcp-closed', 'session-failed', 'session-closed', 'ws-closed', 'dtls-closed', 'dtls-error', 'keepalive-failure',
])

export function nackError(reason: NackReason, where: string, detail: string): CoapError {
  const why = detail ? `: ${detail}` : ''
  switch (reason) {
    case 'too-many-retries':
      return new CoapTimeoutError(`no response from ${where}: libcoap gave up retransmitting`)
    case 'rst':
      return new CoapResetError(`${where} answered with a Reset`)
    case 'tls-failed':
      return new CoapDtlsHandshakeError(`DTLS handshake with ${where} failed${why}`)
    case 'tls-layer-failed':
      return new CoapTlsError(`TLS layer to ${where} failed${why}`)
    case 'bad-response':
      return new CoapBadResponseError(`malformed response from ${where}`)
    default:
      return new CoapConnectionError(`cannot reach ${where} (${reason})`)
  }
}

export function checkSend(session: unknown, ctx: Context, init: SendInit, options: SendOptions): void {
  if (!(session instanceof Session) || session.context !== ctx) throw new TypeError('session must be a Session of this context')
  if (typeof init !== 'object' || init === null) throw new TypeError(`init must be an object { method, type?, options?, payload? }, got ${init === null ? 'null' : typeof init}`)
  if (typeof init.method !== 'string' || !Object.hasOwn(Method, init.method)) throw new RangeError(`init.method must be one of ${Object.keys(Method).join(', ')}, got ${show(init.method)}`)
  if (init.type !== undefined && init.type !== 'CON' && init.type !== 'NON') throw new RangeError(`init.type must be 'CON' or 'NON', got ${show(init.type)}`)
  if (init.payload !== undefined && !Buffer.isBuffer(init.payload)) throw new TypeError(`init.payload must be a Buffer, got ${typeof init.payload}`)
  if (init.options !== undefined) {
    if (!Array.isArray(init.options)) throw new TypeError(`init.options must be an array of [number, Buffer] pairs, got ${typeof init.options}`)
    for (const o of init.options) {
      if (!Array.isArray(o) || typeof o[0] !== 'number' || !Buffer.isBuffer(o[1])) throw new TypeError('init.options entries must be [number, Buffer] pairs')
      if (!Number.isInteger(o[0]) || o[0] < 1 || o[0] > 65535) throw new RangeError(`init.options: option number must be 1-65535, got ${o[0]}`)
      if (o[1].length > 65535) throw new RangeError(`init.options: value of option ${o[0]} is longer than 65535 bytes`)
    }
  }
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object { timeout?, signal? }')
  const { timeout, signal } = options
  if (timeout !== undefined) {
    if (typeof timeout !== 'number') throw new TypeError(`options.timeout must be a number of milliseconds, got ${typeof timeout}`)
    if (!Number.isFinite(timeout) || timeout < 0 || timeout > 2 ** 31 - 1) throw new RangeError(`options.timeout must be 0 to 2147483647 ms, got ${timeout}`)
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('options.signal must be an AbortSignal')
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new TypeError(`options.onProgress must be a function, got ${typeof options.onProgress}`)
}

export function checkCount(n: unknown, name: string): number {
  if (typeof n !== 'number') throw new TypeError(`${name} must be a number, got ${typeof n}`)
  if (!Number.isInteger(n) || n < 0 || n > 1_000_000) throw new RangeError(`${name} must be an integer 0-1000000, got ${n}`)
  return n
}

export function checkProto(proto: unknown, what: string): Proto {
  if (typeof proto !== 'string') throw new TypeError(`${what}.proto must be a string, got ${typeof proto}`)
  if (!(proto in protoNumber)) throw new RangeError(`${what}.proto must be one of ${Object.keys(protoNumber).join(', ')}, got '${proto}'`)
  if (!SUPPORTED_PROTOS.has(proto as Proto)) throw new RangeError(`${what}.proto '${proto}' is not available in this release (only ${[...SUPPORTED_PROTOS].map((p) => `'${p}'`).join(', ')})`)
  return proto as Proto
}

export function checkAddress(addr: unknown, what: string): Address {
  if (typeof addr !== 'object' || addr === null) throw new TypeError(`${what} must be an object { host, port }`)
  const { host, port } = addr as Address
  if (typeof host !== 'string') throw new TypeError(`${what}.host must be a string, got ${typeof host}`)
  if (isIP(host) === 0) throw new RangeError(`${what}.host must be a numeric IP address, got '${host}'`)
  if (typeof port !== 'number') throw new TypeError(`${what}.port must be a number, got ${typeof port}`)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`${what}.port must be an integer 0-65535, got ${port}`)
  return { host, port }
}
