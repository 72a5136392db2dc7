/**
 * node-coap's `OutgoingMessage` as `request()` returns it: a `Writable` collecting the body,
 * sent by `end()`, answered with `'response'`, failing with `'timeout'`/`'error'`.
 * @module
 */
import { isIP } from 'node:net'
import { Writable } from 'node:stream'
import { Method, type MethodName } from '../codes'
import type { CoapClient } from '../client'
import type { CoapResponse } from '../response'
import { CoapError } from '../errors'
import { parseUri } from '../uri'
import { show } from '../show'
import { emitError } from './emit'
import { IncomingMessage, type MessageInit } from './incoming-message'
import { ObserveReadStream } from './observe-stream'
import { OptionSet, type OptionValue } from './options'
import { parameters } from './timing'

/**
 * What `request()` takes besides a URL string (node-coap's `CoapRequestParams`, plus `timeout`).
 * @example
 * ```ts
 * import { request, type CoapRequestParams } from 'libcoap/compat'
 *
 * const params: CoapRequestParams = {
 *   hostname: 'localhost',
 *   port: 5683,
 *   pathname: '/sensors',
 *   query: 'kind=temperature',
 *   method: 'POST',
 *   confirmable: false,
 *   options: { 'Content-Format': 'application/json' },
 *   timeout: 5000,
 * }
 * request(params).end(JSON.stringify({ name: 'kitchen' }))
 * ```
 */
export interface CoapRequestParams {
  /** Host name or IP address (default `'localhost'`); `hostname` wins when both are given. */
  host?: string
  hostname?: string
  /** Default 5683. */
  port?: number
  /** `'GET'` (default), `'POST'`, `'PUT'`, `'DELETE'`, `'FETCH'`, `'PATCH'`, `'iPATCH'`; any case. */
  method?: string
  /** CON (default `true`) or NON. */
  confirmable?: boolean
  /** `true`/`0`/`'0'`: observe (the response is an {@link ObserveReadStream}); `1`/`'1'`: deregister. */
  observe?: boolean | 0 | 1 | '0' | '1'
  /** Path, default `'/'` (no query string). */
  pathname?: string
  /** Query string without `?`, e.g. `'a=b&c=d'`. */
  query?: string
  /** Options, each given to `setOption()`. */
  options?: Record<string, OptionValue>
  /** Alias of `options`, used only when `options` is missing. */
  headers?: Record<string, OptionValue>
  /** The {@link Agent} to use; `undefined`: the global agent; `false`: a private one for this request. */
  agent?: import('./agent').Agent | false
  /** Sets the Proxy-Uri option. */
  proxyUri?: string
  /** Send to a multicast group and emit `'response'` for every answer until `multicastTimeout`. */
  multicast?: boolean
  /** ms to collect multicast answers (default 20 000). */
  multicastTimeout?: number
  /** MAX_RETRANSMIT for this request (0-20). */
  retrySend?: number
  /** Accepted and ignored: libcoap chooses tokens. */
  token?: Buffer
  /** Content-Format option (media type or number). */
  contentFormat?: string | number
  /** Accept option (media type or number). */
  accept?: string | number
  /**
   * Not in node-coap: ms until `'timeout'`. Default: EXCHANGE_LIFETIME for CON and MAX_RTT for
   * NON (from {@link parameters}), as node-coap; libcoap also gives up once its retransmissions
   * are exhausted (about 93 s with the default parameters).
   */
  timeout?: number
}

/** A request ready to be sent. @internal */
export interface NormalizedRequest {
  url: string
  host: string
  port: number
  path: string
  method: MethodName
  confirmable: boolean
  observe: 'register' | 'deregister' | undefined
  multicast: boolean
  multicastTimeout: number
  retrySend: number | undefined
  timeout: number
}

/** Client sessions an {@link OutgoingMessage} borrows from its agent. @internal */
export interface ClientSource {
  _lease(retrySend: number | undefined): { client: CoapClient; release(): void }
}

const PARAM_KEYS = new Set(['host', 'hostname', 'port', 'method', 'confirmable', 'observe', 'pathname', 'query', 'options', 'headers', 'agent', 'proxyUri', 'multicast', 'multicastTimeout', 'retrySend', 'token', 'contentFormat', 'accept', 'timeout'])

function methodOf(value: unknown): MethodName {
  if (value === undefined) return 'GET'
  if (typeof value !== 'string') throw new TypeError(`method must be a string, got ${typeof value}`)
  const m = value.toUpperCase()
  if (!Object.hasOwn(Method, m)) throw new RangeError(`method must be one of GET, POST, PUT, DELETE, FETCH, PATCH, iPATCH, got '${show(value)}'`)
  return m as MethodName
}

function observeOf(value: unknown): NormalizedRequest['observe'] {
  if (value === undefined || value === false) return undefined
  if (value === true || value === 0 || value === '0') return 'register'
  if (value === 1 || value === '1') return 'deregister'
  throw new RangeError(`observe must be true, false, 0 or 1, got ${show(value)}`)
}

function ms(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number of milliseconds, got ${typeof value}`)
  if (!Number.isFinite(value) || value < 0 || value > 2 ** 31 - 1) throw new RangeError(`${name} must be 0 to 2147483647 ms, got ${value}`)
  return value
}

/** Validates `request()`'s argument and fills in node-coap's defaults. @internal */
export function normalizeRequest(params: string | URL | CoapRequestParams, out: OptionSet): NormalizedRequest {
  let p: CoapRequestParams
  let url: string
  if (typeof params === 'string' || params instanceof URL) {
    p = {}
    url = String(params)
  } else if (typeof params === 'object' && params !== null) {
    p = params
    for (const key of Object.keys(p)) if (!PARAM_KEYS.has(key)) throw new TypeError(`unknown request parameter '${key}'`)
    const host = p.hostname ?? p.host ?? 'localhost'
    if (typeof host !== 'string') throw new TypeError(`hostname must be a string, got ${typeof host}`)
    const port = p.port ?? 5683
    if (typeof port !== 'number') throw new TypeError(`port must be a number, got ${typeof port}`)
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be 1-65535, got ${port}`)
    const pathname = p.pathname ?? '/'
    if (typeof pathname !== 'string') throw new TypeError(`pathname must be a string, got ${typeof pathname}`)
    const query = p.query ?? ''
    if (typeof query !== 'string') throw new TypeError(`query must be a string, got ${typeof query}`)
    const h = host.replace(/^\[|\]$/g, '')
    url = `coap://${isIP(h) === 6 ? `[${h}]` : h}:${port}${pathname.startsWith('/') ? '' : '/'}${pathname}${query ? `?${query.replace(/^\?/, '')}` : ''}`
  } else {
    throw new TypeError(`request() takes a URL string or an object of parameters, got ${params === null ? 'null' : typeof params}`)
  }
  const uri = parseUri(url, 'url')
  const method = methodOf(p.method)
  if (p.confirmable !== undefined && typeof p.confirmable !== 'boolean') throw new TypeError(`confirmable must be a boolean, got ${typeof p.confirmable}`)
  const confirmable = p.confirmable ?? true
  if (p.multicast !== undefined && typeof p.multicast !== 'boolean') throw new TypeError(`multicast must be a boolean, got ${typeof p.multicast}`)
  if (p.retrySend !== undefined) {
    if (typeof p.retrySend !== 'number') throw new TypeError(`retrySend must be a number, got ${typeof p.retrySend}`)
    if (!Number.isInteger(p.retrySend) || p.retrySend < 0 || p.retrySend > 20) throw new RangeError(`retrySend must be an integer 0-20, got ${p.retrySend}`)
  }
  if (p.token !== undefined && !Buffer.isBuffer(p.token)) throw new TypeError('token must be a Buffer')
  if (p.proxyUri !== undefined && typeof p.proxyUri !== 'string') throw new TypeError(`proxyUri must be a string, got ${typeof p.proxyUri}`)
  const options = p.options ?? p.headers
  if (options !== undefined) {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new TypeError('options must be an object of option values')
    for (const [name, value] of Object.entries(options)) out.set(name, value)
  }
  if (p.contentFormat !== undefined) out.set('Content-Format', p.contentFormat)
  if (p.accept !== undefined) out.set('Accept', p.accept)
  if (p.proxyUri !== undefined) out.set('Proxy-Uri', p.proxyUri)
  const observe = observeOf(p.observe)
  const lifetime = confirmable ? parameters.exchangeLifetime : parameters.maxRTT
  return {
    url,
    host: uri.host,
    port: uri.port,
    path: `/${uri.path.join('/')}${uri.query.length ? `?${uri.query.join('&')}` : ''}`,
    method,
    confirmable,
    observe,
    multicast: p.multicast ?? false,
    multicastTimeout: ms(p.multicastTimeout, 'multicastTimeout', 20_000),
    retrySend: p.retrySend,
    timeout: ms(p.timeout, 'timeout', Math.min(Math.round(lifetime * 1000), 2 ** 31 - 1)),
  }
}

function remoteOf(s: string): { address: string; port: number } {
  const i = s.lastIndexOf(':')
  return { address: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) }
}

/**
 * A client request (node-coap `OutgoingMessage`, as returned by `request()`): write or pipe the
 * body into it, set options with {@link OutgoingMessage.setOption}, and call `end()` to send
 * it. Emits `'response'` with an {@link IncomingMessage} (an {@link ObserveReadStream} for
 * `observe: true`), `'timeout'` with a `CoapTimeoutError`, and `'error'` with a `CoapError`.
 *
 * Differs from node-coap: a timeout goes to `'timeout'` and, when someone listens, `'error'`;
 * with no listener for either it is dropped — it never throws. Other failures nobody listens
 * for become a process warning, not an uncaught exception. `reset()` and `writeHead()` are not
 * provided on requests.
 * @example
 * ```ts
 * import { request } from 'libcoap/compat'
 *
 * const req = request({ hostname: 'localhost', pathname: '/config', method: 'PUT' })
 * req.setOption('Content-Format', 'application/json')
 * req.on('response', (res) => console.log(res.code))
 * req.on('timeout', (err: Error) => console.error(err.message))
 * req.on('error', (err: Error) => console.error(err.message))
 * req.end(JSON.stringify({ interval: 10 }))
 * ```
 */
export class OutgoingMessage extends Writable {
  /** Request code (e.g. `'0.01'` for GET). */
  readonly code: string
  /** Same as {@link OutgoingMessage.code}. */
  readonly statusCode: string
  /** The request's URL. */
  readonly url: string
  /** The response, once it arrived (the first one for observe and multicast requests). */
  response: IncomingMessage | undefined
  readonly #req: NormalizedRequest
  readonly #options: OptionSet
  readonly #source: ClientSource
  readonly #chunks: Buffer[] = []
  #sent = false

  /** @internal */
  constructor(req: NormalizedRequest, options: OptionSet, source: ClientSource) {
    super()
    this.#req = req
    this.#options = options
    this.#source = source
    this.url = req.url
    const code = Method[req.method]
    this.code = this.statusCode = `0.0${code}`
  }

  /**
   * Sets one option, replacing earlier values: by name (`'Content-Format'`, `'Content-Type'`,
   * `'ETag'`, any case) or number (`'2048'`); a value, an array for repeated options, or `null`
   * to remove it. Strings and numbers are converted by the option's format (or its
   * `registerOption` converter). Unknown names are a `RangeError` (node-coap sends them as given).
   */
  setOption(name: string, value: OptionValue): this {
    if (this.#sent) throw new RangeError('setOption() after end(): the request has been sent')
    this.#options.set(name, value)
    return this
  }

  /** Alias of {@link OutgoingMessage.setOption}. */
  setHeader(name: string, value: OptionValue): this {
    return this.setOption(name, value)
  }

  /** Finishes the body and sends the request (node-coap `end()`); calling it again does nothing. */
  override end(chunk?: unknown, encoding?: unknown, cb?: unknown): this {
    if (this.writableEnded) return this
    return super.end(chunk as never, encoding as never, cb as never)
  }

  /** @internal */
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#chunks.push(chunk)
    callback()
  }

  /** @internal */
  override _final(callback: (error?: Error | null) => void): void {
    callback()
    this.#sent = true
    void this.#send()
  }

  async #send(): Promise<void> {
    const req = this.#req
    const payload = this.#chunks.length === 0 ? undefined : Buffer.concat(this.#chunks)
    this.#chunks.length = 0
    let lease: ReturnType<ClientSource['_lease']>
    try {
      lease = this.#source._lease(req.retrySend)
    } catch (err) {
      return this.#fail(err)
    }
    try {
      if (req.multicast) await this.#multicast(lease.client, payload)
      else if (req.observe === 'register') await this.#observe(lease.client, payload)
      else {
        if (req.observe === 'deregister') this.#options.set('Observe', 1)
        const res = await lease.client.request({ url: req.url, method: req.method, payload, confirmable: req.confirmable, timeout: req.timeout, options: this.#options.toInit() })
        this.#respond(new IncomingMessage(this.#init(res)))
      }
    } catch (err) {
      this.#fail(err)
    } finally {
      lease.release()
    }
  }

  #init(res: CoapResponse, from?: { address: string; port: number }): MessageInit {
    return { code: res.code, method: null, payload: res.payload, options: res.options, url: this.#req.path, address: from?.address ?? this.#req.host, port: from?.port ?? this.#req.port }
  }

  // Listeners run outside our promise chain: an exception in one is the app's, as with any emitter.
  #respond(message: IncomingMessage): void {
    this.response ??= message
    process.nextTick(() => this.emit('response', message))
  }

  async #observe(client: CoapClient, payload: Buffer | undefined): Promise<void> {
    const req = this.#req
    if (req.method !== 'GET' && req.method !== 'FETCH') throw new RangeError(`observe needs GET or FETCH, got ${req.method}`)
    const stop = new AbortController()
    let stream: ObserveReadStream | undefined
    try {
      for await (const res of client.observe(req.url, { method: req.method, payload, timeout: req.timeout, options: this.#options.toInit(), signal: stop.signal })) {
        if (stream !== undefined) {
          stream._append(this.#init(res))
          continue
        }
        if (!res.ok) {
          this.#respond(new IncomingMessage(this.#init(res)))
          return
        }
        stream = new ObserveReadStream(this.#init(res), () => stop.abort())
        this.#respond(stream)
      }
    } catch (err) {
      if (!stop.signal.aborted) {
        if (stream === undefined) throw err
        emitError(stream, err)
      }
    } finally {
      stream?._finish()
    }
  }

  async #multicast(client: CoapClient, payload: Buffer | undefined): Promise<void> {
    const req = this.#req
    for await (const { remote, response } of client.multicast(req.url, { method: req.method, payload, timeout: req.multicastTimeout, options: this.#options.toInit() })) {
      this.#respond(new IncomingMessage(this.#init(response, remoteOf(remote))))
    }
  }

  #fail(err: unknown): void {
    process.nextTick(() => {
      if (err instanceof CoapError && err.code === 'ERR_COAP_TIMEOUT') {
        // node-coap emits both; with nobody listening it would crash the process. We never do.
        this.emit('timeout', err)
        if (this.listenerCount('error') > 0) this.emit('error', err)
        return
      }
      emitError(this, err)
    })
  }
}
