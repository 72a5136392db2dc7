/**
 * node-coap's `IncomingMessage`: a request as a compat server sees it, or a response as a
 * compat client gets it — a `Readable` of the payload plus `code`, `method`, `options`,
 * `headers`, `url` and `rsinfo`.
 * @module
 */
import { isIP } from 'node:net'
import { Readable, type ReadableOptions } from 'node:stream'
import type { CoapOption } from '../options'
import { messageFields, type Option } from './options'

/**
 * The peer's address, in the shape of `dgram`'s `'message'` event `rinfo`.
 * @example
 * ```ts
 * import { createServer, type RemoteInfo } from 'libcoap/compat'
 *
 * createServer((req, res) => {
 *   const from: RemoteInfo = req.rsinfo
 *   res.end(`${from.family} ${from.address}:${from.port}, ${from.size} bytes`)
 * }).listen()
 * ```
 */
export interface RemoteInfo {
  address: string
  family: 'IPv4' | 'IPv6'
  port: number
  /** Bytes of the payload (node-coap: of the datagram). */
  size: number
}

/** What an {@link IncomingMessage} is made from. @internal */
export interface MessageInit {
  code: string
  method: string | null
  payload: Buffer
  options: readonly CoapOption[]
  url: string
  address: string
  port: number
}

const METHOD_NAMES: Record<string, string> = { IPATCH: 'iPATCH' }

/** node-coap spells iPATCH so; the others are as our `MethodName`. @internal */
export function compatMethod(method: string | undefined): string | null {
  return method === undefined ? null : METHOD_NAMES[method] ?? method
}

/**
 * A received message, readable as a stream of its payload (node-coap `IncomingMessage`).
 * Block-wise bodies arrive whole (libcoap reassembles them). Differs from node-coap: option
 * values are read from what libcoap parsed (`Uri-Path`/`Uri-Query` of a response are not
 * listed), `outSocket` is not provided, and `rsinfo.size` is the payload size.
 * @example
 * ```ts
 * import { createServer, type IncomingMessage } from 'libcoap/compat'
 *
 * createServer((req: IncomingMessage, res) => {
 *   console.log(req.method, req.url, req.headers['Content-Format'], req.rsinfo.address)
 *   let body = ''
 *   req.on('data', (chunk: Buffer) => (body += chunk))
 *   req.on('end', () => res.end(body.toUpperCase()))
 * }).listen(5683)
 * ```
 */
export class IncomingMessage extends Readable {
  /** Code in dotted form: `'2.05'` for a response, `'0.01'` (GET) … for a request. */
  code: string
  /** `'GET'`, `'POST'`, `'PUT'`, `'DELETE'`, `'FETCH'`, `'PATCH'`, `'iPATCH'`; `null` for responses. */
  method: string | null
  /** The whole payload (empty Buffer when there is none). */
  payload: Buffer
  /** Every option in wire order, values converted as node-coap does (`registerOption`). */
  options: Option[]
  /** Options with a string or number value (`Content-Format` as its media type, also as `Content-Type`). */
  headers: Record<string, unknown>
  /** Path and query, e.g. `'/hello/world?a=b'` (requests); the requested URL's path for responses. */
  url: string
  /** Who sent it. */
  rsinfo: RemoteInfo
  #pushed = false

  /** @internal */
  constructor(init: MessageInit, streamOptions?: ReadableOptions) {
    super(streamOptions)
    this.code = init.code
    this.method = init.method
    this.payload = init.payload
    this.url = init.url
    const { options, headers } = messageFields(init.options)
    this.options = options
    this.headers = headers
    this.rsinfo = { address: init.address, family: isIP(init.address) === 6 ? 'IPv6' : 'IPv4', port: init.port, size: init.payload.length }
  }

  /** @internal */
  override _read(): void {
    if (this.#pushed) return
    this.#pushed = true
    if (this.payload.length > 0) this.push(this.payload)
    this.push(null)
  }
}
