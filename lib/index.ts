/**
 * libcoap for Node.js: CoAP client and server over libcoap.
 *
 * High level: {@link CoapClient}, {@link CoapServer}. libcoap's own model: `libcoap/core`.
 * @module
 */
import { native } from './native'

export { CoapClient } from './client'
export type { ClientOptions, RequestBody, RequestInit, RequestOptions } from './client'
export { CoapServer, ServerResource } from './server'
export type { ServerOptions } from './server'
export { CoapResponse } from './response'
export { CoapRequest } from './core/request'
export type { Body, HandlerResult, RequestHandler, ResourceAttributes } from './core/resource'
export type { Endpoint } from './core/context'
export type { SessionEventName } from './core/constants'
export * from './errors'
export { Method, MessageType, codeToString, parseCode } from './codes'
export type { CodeString, MessageTypeName, MethodName } from './codes'
export { ContentFormat, contentFormatName, parseContentFormat } from './content-format'
export type { ContentFormatLike } from './content-format'
export { OptionNumber, optionName } from './options'
export type { CoapOption, OptionName, OptionValue, OptionsInit } from './options'
export { parseUri } from './uri'
export type { CoapUri, Proto } from './uri'

/** Versions actually running: libcoap, and the TLS library libcoap was built with. */
export function versions(): { libcoap: string; dtlsBackend: string; tlsLibraryVersion?: number } {
  const v = native.versions()
  return { libcoap: v.libcoap, dtlsBackend: v.dtlsBackend, tlsLibraryVersion: v.tlsLibraryVersion }
}

/**
 * Sets libcoap's log level (↔ `coap_set_log_level`); libcoap writes its log to stderr.
 * Default: `'err'`. The `LIBCOAP_LOG_LEVEL` environment variable sets it at load time.
 */
export function setLogLevel(level: 'emerg' | 'alert' | 'crit' | 'err' | 'warn' | 'notice' | 'info' | 'debug'): void {
  const levels = ['emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug']
  if (typeof level !== 'string') throw new TypeError(`level must be a string, got ${typeof level}`)
  const n = levels.indexOf(level)
  if (n < 0) throw new RangeError(`level must be one of ${levels.join(', ')}, got '${level}'`)
  native.setLogLevel(n)
}

const envLevel = process.env.LIBCOAP_LOG_LEVEL
if (envLevel) setLogLevel(envLevel as Parameters<typeof setLogLevel>[0])
