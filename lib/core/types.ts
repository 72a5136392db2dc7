/**
 * Plain option and result types of `lib/core`'s {@link Context}.
 * @module
 */
import type { ClientPki, ClientPsk } from '../security'
import type { MessageTypeName, MethodName } from '../codes'
import type { Proto } from '../uri'

/** Where to reach or where to listen: a numeric IP address (v4 or v6) and a port. */
export interface Address {
  host: string
  port: number
}

/**
 * Options of {@link Context.newClientSession} (↔ `coap_new_client_session`, and with `psk` or
 * `pki` `coap_new_client_session_psk2` / `_pki`).
 * @example
 * ```ts
 * import { Context, type ClientSessionOptions } from 'libcoap/core'
 *
 * const ctx = new Context()
 * const options: ClientSessionOptions = {
 *   proto: 'dtls',
 *   remote: { host: '192.0.2.10', port: 5684 },
 *   psk: { identity: 'device-17', key: 'secret-17' },
 * }
 * const session = ctx.newClientSession(options)
 * console.log(String(session))
 * session.release()
 * ```
 */
export interface ClientSessionOptions {
  /** Transport (default `'udp'`). */
  proto?: Proto
  /** Numeric remote address (resolve names first, e.g. with `node:dns`). */
  remote: Address
  /** DTLS pre-shared key (required for `'dtls'` unless `pki` is given). */
  psk?: ClientPsk
  /** DTLS/TLS certificates. */
  pki?: ClientPki
  /** Host name for the WebSocket upgrade's Host header (`'ws'`/`'wss'`; default: the address). */
  wsHost?: string
}

/**
 * Options of {@link Context.addEndpoint} (↔ `coap_new_endpoint`).
 * @example
 * ```ts
 * import { Context, type EndpointOptions } from 'libcoap/core'
 *
 * const ctx = new Context()
 * const options: EndpointOptions = { proto: 'tcp', host: '0.0.0.0', port: 0 }
 * const endpoint = ctx.addEndpoint(options)
 * console.log(endpoint.port) // the port the system picked
 * ```
 */
export interface EndpointOptions {
  proto?: Proto
  /** Numeric local address, e.g. `'::'` or `'127.0.0.1'`. */
  host: string
  /** Port; 0 picks a free one. */
  port: number
}

/** A listening endpoint (↔ `coap_endpoint_t`). */
export interface Endpoint {
  readonly proto: Proto
  readonly host: string
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number
}

/**
 * A request for {@link Context.send}.
 * @example
 * ```ts
 * import { Context, type SendInit } from 'libcoap/core'
 *
 * const ctx = new Context()
 * const session = ctx.newClientSession({ remote: { host: '::1', port: 5683 } })
 * const init: SendInit = {
 *   method: 'PUT',
 *   type: 'NON',
 *   options: [[11, Buffer.from('config')], [12, Buffer.from([50])]], // Uri-Path, Content-Format: JSON
 *   payload: Buffer.from('{"interval":10}'),
 * }
 * const pdu = await ctx.send(session, init)
 * console.log(pdu.codeString)
 * ```
 */
export interface SendInit {
  method: MethodName
  type?: Extract<MessageTypeName, 'CON' | 'NON'>
  /** Options as `[number, encoded value]` pairs, in any order (libcoap sorts them). */
  options?: ReadonlyArray<readonly [number, Buffer]>
  payload?: Buffer
}

/** One answer to a group request. */
export interface MulticastResponse {
  /** The member that answered, e.g. `'192.0.2.7:5683'` or `'[fe80::1%eth0]:5683'`. */
  remote: string
  pdu: import('./pdu').Pdu
}

/** How far a block-wise (RFC 7959) body has moved. */
export interface TransferProgress {
  /** `'upload'`: our request body (Block1); `'download'`: the response body (Block2). */
  direction: 'upload' | 'download'
  /** Bytes acknowledged by the peer (upload) or received (download) so far. */
  bytes: number
  /** The body's size when known: always for uploads, from Size2 for downloads. */
  total: number | undefined
}

/**
 * Per-send settings.
 * @example
 * ```ts
 * import { Context, type SendOptions } from 'libcoap/core'
 *
 * const ctx = new Context()
 * const session = ctx.newClientSession({ remote: { host: '::1', port: 5683 } })
 * const options: SendOptions = {
 *   timeout: 30_000,
 *   signal: AbortSignal.timeout(60_000),
 *   onProgress: ({ direction, bytes, total }) => console.log(direction, bytes, '/', total),
 * }
 * const pdu = await ctx.send(session, { method: 'GET', options: [[11, Buffer.from('firmware.bin')]] }, options)
 * console.log(pdu.payload.length)
 * ```
 */
export interface SendOptions {
  /** Milliseconds until the request fails with `ERR_COAP_TIMEOUT`; 0 = libcoap's own limits only. */
  timeout?: number
  signal?: AbortSignal
  /** Called after each block of a block-wise body moves (never for a body that fits one message). */
  onProgress?: (progress: TransferProgress) => void
}
