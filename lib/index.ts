/**
 * libcoap for Node.js: CoAP client and server over libcoap.
 *
 * High level: {@link CoapClient}, {@link CoapServer}. libcoap's own model: `libcoap/core`.
 * @module libcoap
 */
import { native } from './native'

export { CoapClient } from './client'
export type { ClientOptions, RequestBody, RequestInit, RequestOptions } from './client'
export { CoapServer, ServerResource } from './server'
export type { MulticastGroup, ServerOptions } from './server'
export { CoapResponse } from './response'
export { CoapRequest } from './core/request'
export type { Body, HandlerResult, RequestHandler, ResourceAttributes } from './core/resource'
export type { Endpoint } from './core/context'
export type { TransferProgress } from './core/types'
export type { SessionEventName } from './core/constants'
export * from './errors'
export { Method, MessageType, codeToString, parseCode } from './codes'
export type { CodeString, MessageTypeName, MethodName } from './codes'
export { ContentFormat, contentFormatName, parseContentFormat } from './content-format'
export type { ContentFormatLike } from './content-format'
export { OptionNumber, optionName } from './options'
export type { CoapOption, OptionName, OptionValue, OptionsInit } from './options'
export { parseUri } from './uri'
export { parseLinkFormat } from './link-format'
export type { Link } from './link-format'
export { Observation } from './core/observation'
export type { ClientPki, ClientPsk, Pem, PkiSniEntry, PskSniEntry, Secret, ServerPki, ServerPsk } from './security'
export { Session } from './core/session'
export type { TransmissionParameters } from './core/session'
export type { CoapUri, Proto } from './uri'
export { onLog, setLogLevel } from './log'
export { channels } from './diagnostics'
export type { DiagnosticsRequest, RequestCreateMessage, RequestErrorMessage, RequestResponseMessage, SessionMessage } from './diagnostics'
export type { LogHandler, LogLevelName } from './log'

/**
 * Versions actually running: libcoap, the DTLS backend it was built with, and the TLS library
 * found at run time (for OpenSSL, the copy inside Node).
 * @example
 * ```ts
 * import { versions } from 'libcoap'
 *
 * const v = versions()
 * console.log(v.libcoap, v.dtlsBackend, v.tlsLibrary) // e.g. 'libcoap 4.3.5' 'openssl' 'OpenSSL 3.0.15'
 * ```
 */
export function versions(): { libcoap: string; dtlsBackend: string; tlsLibrary: string; tlsLibraryVersion?: number } {
  const v = native.versions()
  const n = v.tlsLibraryVersion
  // libcoap spells OpenSSL 3 version numbers the 1.x way; decode OPENSSL_VERSION_NUMBER instead.
  const tlsLibrary = v.dtlsBackend === 'openssl' && n !== undefined
    ? `OpenSSL ${Math.floor(n / 2 ** 28)}.${(n >>> 20) & 0xff}.${(n >>> 4) & 0xff}`
    : v.tlsLibrary.replace(/^TLS Library: /, '')
  return { libcoap: v.libcoap, dtlsBackend: v.dtlsBackend, tlsLibrary, tlsLibraryVersion: n }
}

/**
 * What this build supports (libcoap's `coap_*_is_supported()`). `oscore` is `false`: OSCORE is
 * not exposed yet and is compiled out (SECURITY.md).
 * @example
 * ```ts
 * import { capabilities } from 'libcoap'
 *
 * const { dtls, tcp, ws } = capabilities()
 * if (!dtls) console.log('this build cannot serve coaps://')
 * console.log({ tcp, ws })
 * ```
 */
export function capabilities(): { dtls: boolean; psk: boolean; pki: boolean; rpk: boolean; cid: boolean; tcp: boolean; tls: boolean; ws: boolean; wss: boolean; oscore: boolean } {
  return native.capabilities()
}
