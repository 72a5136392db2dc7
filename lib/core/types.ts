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

/** Options of {@link Context.addEndpoint} (↔ `coap_new_endpoint`). */
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

/** A request for {@link Context.send}. */
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

/** Per-send settings. */
export interface SendOptions {
  /** Milliseconds until the request fails with `ERR_COAP_TIMEOUT`; 0 = libcoap's own limits only. */
  timeout?: number
  signal?: AbortSignal
  /** Called after each block of a block-wise body moves (never for a body that fits one message). */
  onProgress?: (progress: TransferProgress) => void
}
