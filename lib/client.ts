/**
 * `CoapClient`: fetch-like requests to `coap://` URLs, built on `lib/core`.
 * @module
 */
import './dispose'
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { Readable } from 'node:stream'
import { setTimeout } from 'node:timers/promises'
import { Method, type MethodName } from './codes'
import { parseContentFormat, type ContentFormatLike } from './content-format'
import { Context } from './core/context'
import { checkParameters, type Session, type TransmissionParameters } from './core/session'
import type { TransferProgress } from './core/types'
import { channels, type DiagnosticsRequest } from './diagnostics'
import { CoapAbortedError, CoapBadResponseError, CoapClosedError, CoapConnectionError, CoapError } from './errors'
import { parseLinkFormat, type Link } from './link-format'
import { appendOptions, encodeOptions, type OptionsInit } from './options'
import { clientSecurity, type ClientPki, type ClientPsk } from './security'
import { CoapResponse } from './response'
import { parseUri, type CoapUri } from './uri'
import { show } from './show'

/**
 * A request body.
 * @example
 * ```ts
 * import { CoapClient, type RequestBody } from 'libcoap'
 *
 * const client = new CoapClient()
 * const body: RequestBody = new Uint8Array([0xa1, 0x01, 0x02]) // CBOR {1: 2}
 * await client.post('coap://[::1]/cbor', body, { contentFormat: 'application/cbor' })
 * ```
 */
export type RequestBody = string | Buffer | Uint8Array

/**
 * Per-request settings.
 * @example
 * ```ts
 * import { CoapClient, type RequestOptions } from 'libcoap'
 *
 * const client = new CoapClient()
 * const options: RequestOptions = {
 *   accept: 'application/json',
 *   query: { unit: 'C' },
 *   signal: AbortSignal.timeout(10_000),
 *   onProgress: ({ direction, bytes, total }) => console.log(direction, bytes, total),
 * }
 * const res = await client.get('coap://[::1]/temperature', options)
 * console.log(res.json())
 * ```
 */
export interface RequestOptions {
  /** CON (default `true`, retransmitted by libcoap) or NON. */
  confirmable?: boolean
  /** Milliseconds until the request fails with `ERR_COAP_TIMEOUT` (client default: 30 000; 0 = libcoap's own limits). */
  timeout?: number
  /** Cancels the request with `ERR_COAP_ABORTED`. */
  signal?: AbortSignal
  /** Accept option: a media type or Content-Format number. */
  accept?: ContentFormatLike
  /** Content-Format of the body (default: text/plain for string bodies). */
  contentFormat?: ContentFormatLike
  /** Extra Uri-Query items, added after those in the URL. */
  query?: string | string[] | Record<string, string | number | boolean>
  /** Any other options, by name or number. */
  options?: OptionsInit
  /** Called as a block-wise body moves (bytes so far, total when known); see {@link TransferProgress}. */
  onProgress?: (progress: TransferProgress) => void
}

/**
 * Everything {@link CoapClient.request} takes.
 * @example
 * ```ts
 * import { CoapClient } from 'libcoap'
 *
 * const client = new CoapClient()
 * const res = await client.request({
 *   url: 'coap://[::1]/sensors',
 *   method: 'POST',
 *   payload: JSON.stringify({ name: 'kitchen' }),
 *   contentFormat: 'application/json',
 *   confirmable: false,
 * })
 * console.log(res.code) // e.g. '2.01'
 * ```
 */
export interface RequestInit extends RequestOptions {
  url: string | URL
  method?: MethodName
  payload?: RequestBody
}

/**
 * Settings of a {@link CoapClient}.
 * @example
 * ```ts
 * import { CoapClient, type ClientOptions } from 'libcoap'
 *
 * const options: ClientOptions = {
 *   timeout: 10_000,
 *   blockSize: 512,
 *   parameters: { ackTimeout: 1, maxRetransmit: 2 },
 *   psk: { identity: 'device-17', key: 'secret-key' }, // for coaps:// URLs
 * }
 * await using client = new CoapClient(options)
 * console.log((await client.get('coaps://[::1]/status')).text())
 * ```
 */
export interface ClientOptions {
  /** Default per-request timeout in ms (default 30 000; 0 = libcoap's own limits). */
  timeout?: number
  /** Default message type (default `true`: CON). */
  confirmable?: boolean
  /** Pre-shared key for `coaps://` origins. */
  psk?: ClientPsk
  /** Certificates for `coaps://` origins. */
  pki?: ClientPki
  /** Seconds of silence before libcoap pings a peer (0, the default: never). */
  keepalive?: number
  /** Max-Message-Size we announce on TCP/TLS/WebSocket connections (CSM). */
  maxMessageSize?: number
  /** RFC 7252 transmission parameters for every session this client opens. */
  parameters?: TransmissionParameters
  /** Largest body sent or received, in bytes (default 8 MiB); beyond it `ERR_COAP_TOO_LARGE`. */
  maxBodySize?: number
  /** Largest block for block-wise transfers: 16, 32, …, 1024 bytes (default 1024). */
  blockSize?: number
}

const CLIENT_OPTIONS = new Set(['timeout', 'confirmable', 'psk', 'pki', 'keepalive', 'maxMessageSize', 'parameters', 'maxBodySize', 'blockSize'])
const SECURE: ReadonlySet<string> = new Set(['dtls', 'tls', 'wss'])
const FATAL_TO_SESSION = new Set(['ERR_COAP_DTLS_HANDSHAKE', 'ERR_COAP_TLS', 'ERR_COAP_CONNECTION'])
/** Parsed URLs kept per client. */
const TARGET_CACHE_SIZE = 256
/** Consecutive re-registrations of an observation whose connection went away. */
const OBSERVE_RETRIES = 3

const OPTION_KEYS = new Set(['confirmable', 'timeout', 'signal', 'accept', 'contentFormat', 'query', 'options', 'onProgress'])

function uintOption(n: number): Buffer {
  return n === 0 ? Buffer.alloc(0) : Buffer.from([n])
}

function isMulticast(host: string): boolean {
  if (isIP(host) === 4) return Number(host.split('.')[0]) >> 4 === 14
  return isIP(host) === 6 && /^ff/i.test(host)
}

function checkTimeout(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number of milliseconds, got ${typeof value}`)
  if (!Number.isFinite(value) || value < 0 || value > 2 ** 31 - 1) throw new RangeError(`${name} must be 0 to 2147483647 ms, got ${value}`)
  return value
}

function checkBody(body: unknown): Buffer | undefined {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string') return Buffer.from(body, 'utf8')
  if (body instanceof Uint8Array) return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  throw new TypeError(`payload must be a string, Buffer or Uint8Array, got ${typeof body}`)
}

function queryItems(query: RequestOptions['query']): string[] {
  if (query === undefined) return []
  if (typeof query === 'string') return [query]
  if (Array.isArray(query)) {
    for (const q of query) if (typeof q !== 'string') throw new TypeError(`query items must be strings, got ${typeof q}`)
    return query
  }
  if (typeof query === 'object' && query !== null) {
    return Object.entries(query).map(([k, v]) => {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new TypeError(`query value '${k}' must be a string, number or boolean, got ${typeof v}`)
      return `${k}=${v}`
    })
  }
  throw new TypeError(`query must be a string, array of strings or object, got ${typeof query}`)
}

/** A parsed URL, its Uri-Host/Uri-Path/Uri-Query options, and those encoded. */
interface Target {
  uri: CoapUri
  base: ReadonlyArray<readonly [number, Buffer]>
  flat: Buffer | undefined
}

/** A connection the peer closed is not reopened by libcoap: such a session needs replacing. */
function usable(s: Session): boolean {
  return s.valid && !(s.proto !== 'udp' && s.proto !== 'dtls' && s.state === 'none')
}

/**
 * A CoAP client. One libcoap session per origin is opened on first use and reused. An idle client
 * never keeps Node alive; `close()` (or `await using`) fails pending requests with
 * `ERR_COAP_CLOSED` and frees everything.
 * @example
 * ```ts
 * import { CoapClient } from 'libcoap'
 *
 * await using client = new CoapClient({ timeout: 5000 })
 * const res = await client.get('coap://[::1]/alarm')
 * console.log(res.code, res.text())
 * await client.put('coap://[::1]/alarm', 'ON')
 * ```
 */
export class CoapClient {
  /** The libcoap context underneath (for `lib/core` users). */
  readonly context: Context
  #sessions = new Map<string, Promise<Session>>()
  // The settled, usable ones: a request to a known origin starts without waiting a turn.
  #ready = new Map<string, Session>()
  // Requests numbered as sent, and per session the latest one answered (DTLS timeouts).
  #sends = 0
  #answered = new WeakMap<Session, number>()
  // Dropped sessions released once their last pending request settles.
  #retired = new WeakSet<Session>()
  #timeout: number
  #confirmable: boolean
  #psk: ClientPsk | undefined
  #pki: ClientPki | undefined
  #parameters: TransmissionParameters | undefined

  constructor(options: ClientOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError(`options must be an object, got ${options === null ? 'null' : typeof options}`)
    for (const key of Object.keys(options)) if (!CLIENT_OPTIONS.has(key)) throw new TypeError(`unknown client option '${key}'`)
    clientSecurity(options.psk, options.pki) // validate now: a mistake shows at construction
    this.#psk = options.psk
    this.#pki = options.pki
    this.#parameters = options.parameters === undefined ? undefined : { ...checkParameters(options.parameters, 'options.parameters') }
    this.#timeout = checkTimeout(options.timeout, 'options.timeout') ?? 30_000
    if (options.confirmable !== undefined && typeof options.confirmable !== 'boolean') throw new TypeError(`options.confirmable must be a boolean, got ${typeof options.confirmable}`)
    this.#confirmable = options.confirmable ?? true
    this.context = new Context()
    try {
      if (options.keepalive !== undefined) this.context.keepalive = options.keepalive
      if (options.maxMessageSize !== undefined) this.context.maxMessageSize = options.maxMessageSize
      if (options.maxBodySize !== undefined) this.context.maxBodySize = options.maxBodySize
      if (options.blockSize !== undefined) this.context.blockSize = options.blockSize
    } catch (err) {
      this.context.close()
      throw err
    }
  }

  /**
   * Pings an origin (CoAP ping over UDP/DTLS, 7.02 Ping over TCP/TLS/WebSockets) and resolves
   * with the round-trip time in ms. Only the URL's scheme, host and port matter.
   */
  async ping(url: string | URL, options: { timeout?: number; signal?: AbortSignal } = {}): Promise<number> {
    if (typeof options !== 'object' || options === null) throw new TypeError(`options must be an object, got ${options === null ? 'null' : typeof options}`)
    const uri = parseUri(url, 'url')
    const timeout = checkTimeout(options.timeout, 'timeout') ?? this.#timeout
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal')
    const session = await this.#session(uri)
    try {
      return await this.context.ping(session, { timeout, signal: options.signal })
    } catch (err) {
      if (err instanceof CoapError && FATAL_TO_SESSION.has(err.code)) this.#drop(uri.origin, session)
      throw err
    } finally {
      this.#releaseIfRetired(session)
    }
  }

  /** GET a resource. */
  get(url: string | URL, options?: RequestOptions): Promise<CoapResponse> {
    return this.request({ ...options, url, method: 'GET' })
  }

  /** PUT a body. */
  put(url: string | URL, payload?: RequestBody, options?: RequestOptions): Promise<CoapResponse> {
    return this.request({ ...options, url, method: 'PUT', payload })
  }

  /** POST a body. */
  post(url: string | URL, payload?: RequestBody, options?: RequestOptions): Promise<CoapResponse> {
    return this.request({ ...options, url, method: 'POST', payload })
  }

  /** DELETE a resource. */
  delete(url: string | URL, options?: RequestOptions): Promise<CoapResponse> {
    return this.request({ ...options, url, method: 'DELETE' })
  }

  /** FETCH (RFC 8132) with a body. */
  fetch(url: string | URL, payload?: RequestBody, options?: RequestOptions): Promise<CoapResponse> {
    return this.request({ ...options, url, method: 'FETCH', payload })
  }

  /** PATCH (RFC 8132) with a body. */
  patch(url: string | URL, payload?: RequestBody, options?: RequestOptions): Promise<CoapResponse> {
    return this.request({ ...options, url, method: 'PATCH', payload })
  }

  /** iPATCH (RFC 8132) with a body. */
  iPatch(url: string | URL, payload?: RequestBody, options?: RequestOptions): Promise<CoapResponse> {
    return this.request({ ...options, url, method: 'IPATCH', payload })
  }

  /**
   * Observes a resource (RFC 7641): yields the first response and then every notification, in
   * order (stale reordered ones dropped). `break`, `return()` or `options.signal` deregister
   * (GET with Observe=1); the iteration ends by itself when the server stops the observation
   * or answers without Observe. `options.timeout` bounds the wait for the first response.
   *
   * ```ts
   * for await (const n of client.observe('coap://host/temp')) console.log(n.text())
   * ```
   */
  async *observe(url: string | URL, options: Omit<RequestOptions, 'confirmable'> & { method?: 'GET' | 'FETCH'; payload?: RequestBody } = {}): AsyncGenerator<CoapResponse, void, undefined> {
    if (typeof options !== 'object' || options === null) throw new TypeError(`options must be an object, got ${options === null ? 'null' : typeof options}`)
    const { method = 'GET', payload, ...rest } = options
    if (method !== 'GET' && method !== 'FETCH') throw new RangeError(`method must be GET or FETCH for observe, got '${show(method)}'`)
    const { uri, optionList, body, timeout, signal } = this.#prepare({ ...rest, url, method, payload })
    const href = typeof url === 'string' ? url : url.href
    // A connection or DTLS session lost under a running observation is re-established and the
    // observation registered again (RFC 7641 §3.3.1): up to OBSERVE_RETRIES failed attempts in
    // a row, 1, 2, 4 s apart.
    let delivered = false
    for (let failures = 0; ; failures++) {
      if (failures > 0) await setTimeout(1000 * 2 ** (failures - 1), undefined, { signal }).catch(() => undefined)
      if (signal?.aborted) throw new CoapAbortedError('observation aborted', { cause: signal.reason })
      const session = await this.#session(uri)
      const observation = this.context.observe(session, { method, options: optionList, payload: body }, { timeout, signal })
      try {
        for await (const pdu of observation) {
          delivered = true
          failures = -1
          yield new CoapResponse(pdu, href)
        }
        return
      } catch (err) {
        if (!(err instanceof CoapError && FATAL_TO_SESSION.has(err.code))) throw err
        this.#drop(uri.origin, session)
        if (!delivered || failures + 1 >= OBSERVE_RETRIES || this.context.closed) throw err
      } finally {
        await observation.return()
        this.#releaseIfRetired(session)
      }
    }
  }

  /**
   * The EventEmitter form of {@link CoapClient.observe}: an object-mode `Readable` emitting
   * each response as `'data'`, `'end'` when the observation ends and `'error'` on failure;
   * `destroy()` deregisters.
   *
   * ```ts
   * client.observeStream('coap://host/temp').on('data', (res) => console.log(res.text()))
   * ```
   */
  observeStream(url: string | URL, options?: Parameters<CoapClient['observe']>[1]): Readable {
    return Readable.from(this.observe(url, options), { objectMode: true })
  }

  /**
   * Sends a NON request to a multicast group (RFC 7252 §8.1), e.g.
   * `coap://224.0.1.187/.well-known/core` or `coap://[ff02::fd]/sensors` with
   * `interface: 'eth0'`, and yields every answer with the member that sent it until
   * `options.timeout` ms have passed (default 6000: servers wait up to their leisure, 5 s by
   * default, before answering). `break` or `options.signal` stop early.
   *
   * ```ts
   * for await (const { remote, response } of client.multicast('coap://224.0.1.187/.well-known/core')) {
   *   console.log(remote, response.text())
   * }
   * ```
   */
  async *multicast(
    url: string | URL,
    options: Omit<RequestOptions, 'confirmable' | 'onProgress'> & { method?: MethodName; payload?: RequestBody; interface?: string } = {},
  ): AsyncGenerator<{ remote: string; response: CoapResponse }, void, undefined> {
    if (typeof options !== 'object' || options === null) throw new TypeError(`options must be an object, got ${options === null ? 'null' : typeof options}`)
    const { method = 'GET', payload, interface: ifname, timeout: wait, ...rest } = options
    if (ifname !== undefined && typeof ifname !== 'string') throw new TypeError(`interface must be a string, got ${typeof ifname}`)
    const { uri, optionList, body, signal } = this.#prepare({ ...rest, url, method, payload })
    if (uri.proto !== 'udp') throw new RangeError(`multicast needs a coap:// URL, got '${uri.scheme}//'`)
    if (!isMulticast(uri.host)) throw new RangeError(`multicast needs a group address (224.0.0.0/4 or ff00::/8) in the URL, got '${uri.host}'`)
    if (ifname !== undefined && isIP(uri.host) === 4) throw new RangeError(`interface applies to IPv6 groups (ff02::fd%eth0); an IPv4 group's interface is chosen by the routing table, got interface '${ifname}' for ${uri.host}`)
    const timeout = checkTimeout(wait, 'timeout') ?? 6000
    if (this.context.closed) throw new CoapClosedError('client is closed')
    const host = ifname === undefined ? uri.host : `${uri.host}%${ifname}`
    const session = this.context.newClientSession({ proto: 'udp', remote: { host, port: uri.port } })
    try {
      if (this.#parameters !== undefined) session.setParameters(this.#parameters)
      const answers = this.context.multicast(session, { method, options: optionList, payload: body }, { timeout, signal })
      const href = typeof url === 'string' ? url : url.href
      try {
        for await (const { remote, pdu } of answers) yield { remote, response: new CoapResponse(pdu, href) }
      } finally {
        await answers.return()
      }
    } finally {
      session.release()
    }
  }

  /**
   * Resource discovery (RFC 6690): GETs `/.well-known/core` of the URL's origin (with the URL's
   * query as a filter, e.g. `?rt=temperature`) and returns the parsed links. A 4.xx/5.xx answer
   * rejects with a `CoapBadResponseError`.
   */
  async discover(url: string | URL, options: RequestOptions = {}): Promise<Link[]> {
    const uri = parseUri(url, 'url')
    const target = `${uri.scheme}//${uri.origin.slice(uri.scheme.length + 2)}/.well-known/core${uri.query.length ? `?${uri.query.join('&')}` : ''}`
    const res = await this.get(target, { accept: 'application/link-format', ...options })
    if (!res.ok) throw new CoapBadResponseError(`discovery at ${target} answered ${res.code}`)
    return parseLinkFormat(res.text())
  }

  /** Sends any request; resolves with the response (also for 4.xx/5.xx), rejects with a `CoapError`. */
  async request(init: RequestInit): Promise<CoapResponse> {
    const { uri, target, method, optionList, body: payload, timeout, signal, confirmable } = this.#prepare(init)
    const onProgress = init.onProgress
    if (onProgress !== undefined && typeof onProgress !== 'function') throw new TypeError(`onProgress must be a function, got ${typeof onProgress}`)
    if (signal?.aborted) throw new CoapAbortedError('request aborted', { cause: signal.reason })
    const href = typeof init.url === 'string' ? init.url : init.url.href
    const non = !(confirmable ?? this.#confirmable)
    let traced: DiagnosticsRequest | undefined
    if (channels.requestCreate.hasSubscribers || channels.requestResponse.hasSubscribers || channels.requestError.hasSubscribers) {
      traced = { method, url: href, confirmable: !non, payloadLength: payload?.length ?? 0 }
      channels.requestCreate.publish({ request: traced })
    }
    let session: Session | undefined
    let sent = 0
    try {
      const ready = this.#ready.get(uri.origin)
      session = ready !== undefined && usable(ready) ? ready : await this.#session(uri)
      sent = ++this.#sends
      // A request that adds nothing to its URL's options sends them as encoded the first time.
      const flatOptions = optionList === target.base ? target.flat : this.context._encodeRequestOptions(optionList)
      const pdu = await this.context._transmit(session, Method[method], non, flatOptions, payload, { timeout, signal, onProgress })
      this.#answered.set(session, sent)
      const response = new CoapResponse(pdu, href)
      if (traced !== undefined) channels.requestResponse.publish({ request: traced, response })
      return response
    } catch (err) {
      if (traced !== undefined) channels.requestError.publish({ request: traced, error: err })
      if (session === undefined) throw err
      // A failed handshake or connection leaves the session unusable: the next request opens a
      // new one. So does a DTLS timeout with nothing answered on the session since this request
      // went out: a server that lost its state (restarted) silently drops the old session's
      // records, and only a new handshake reaches it again.
      if (err instanceof CoapError && FATAL_TO_SESSION.has(err.code)) this.#drop(uri.origin, session)
      else if (err instanceof CoapError && err.code === 'ERR_COAP_TIMEOUT' && session.proto === 'dtls' && (this.#answered.get(session) ?? 0) < sent) {
        // Requests still waiting on it end on their own timeouts, not with ERR_COAP_CLOSED.
        this.#drop(uri.origin, session, true)
      }
      throw err
    } finally {
      if (session !== undefined) this.#releaseIfRetired(session)
    }
  }

  /** Validates a request and builds its options (shared by request() and observe()). */
  #prepare(init: RequestInit): {
    uri: CoapUri; target: Target; method: MethodName; optionList: ReadonlyArray<readonly [number, Buffer]>; body: Buffer | undefined
    timeout: number; signal: AbortSignal | undefined; confirmable: boolean | undefined
  } {
    if (typeof init !== 'object' || init === null) throw new TypeError(`request options must be an object, got ${init === null ? 'null' : typeof init}`)
    const target = this.#target(init.url)
    const { uri, base } = target
    const method = init.method ?? 'GET'
    if (typeof method !== 'string' || !(method in Method)) throw new RangeError(`method must be one of ${Object.keys(Method).join(', ')}, got '${show(method)}'`)
    const payload = checkBody(init.payload)
    const timeout = checkTimeout(init.timeout, 'timeout') ?? this.#timeout
    if (init.confirmable !== undefined && typeof init.confirmable !== 'boolean') throw new TypeError(`confirmable must be a boolean, got ${typeof init.confirmable}`)
    const signal = init.signal
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal')
    for (const key of Object.keys(init)) {
      if (!OPTION_KEYS.has(key) && key !== 'url' && key !== 'method' && key !== 'payload') throw new TypeError(`unknown request option '${key}'`)
    }
    // The URL's own options, shared with every request to it unless this one adds any.
    let options: ReadonlyArray<readonly [number, Buffer]> = base
    const added = (): Array<[number, Buffer]> => {
      if (options === base) options = base.slice()
      return options as Array<[number, Buffer]>
    }
    for (const q of queryItems(init.query)) added().push([15, Buffer.from(q)])
    if (init.contentFormat !== undefined) appendOptions(added(), { 'Content-Format': parseContentFormat(init.contentFormat) })
    else if (typeof init.payload === 'string') added().push([12, Buffer.alloc(0)])
    if (init.accept !== undefined) appendOptions(added(), { Accept: parseContentFormat(init.accept, 'accept') })
    if (init.options !== undefined) appendOptions(added(), init.options, 'options')
    // Our block size also bounds the answer's blocks: ask for it (RFC 7959 §2.4, Block2 num 0).
    const size = this.context.blockSize
    if (size !== undefined && !options.some(([n]) => n === 23)) added().push([23, uintOption(Math.log2(size) - 4)])
    return { uri, target, method, optionList: options, body: payload, timeout, signal, confirmable: init.confirmable }
  }

  // Parsed URLs and their Uri-Host/Uri-Path/Uri-Query options: a client usually talks to a
  // few URLs many times, and parsing one costs more than the rest of a request's set-up.
  #targets = new Map<string, Target>()
  #target(url: string | URL): Target {
    const key = typeof url === 'string' ? url : undefined
    const cached = key === undefined ? undefined : this.#targets.get(key)
    if (cached !== undefined) return cached
    const uri = parseUri(url, 'url')
    const base: Array<[number, Buffer]> = []
    if (isIP(uri.host) === 0) base.push([3, Buffer.from(uri.host)])
    for (const seg of uri.path) base.push([11, Buffer.from(seg)])
    for (const q of uri.query) base.push([15, Buffer.from(q)])
    const target = { uri, base, flat: encodeOptions(base) }
    if (key !== undefined) {
      if (this.#targets.size >= TARGET_CACHE_SIZE) this.#targets.clear()
      this.#targets.set(key, target)
    }
    return target
  }

  /** Stops using a session for new requests and releases it, at once or (`whenIdle`) once nothing waits on it. */
  #drop(origin: string, session: Session, whenIdle = false): void {
    if (this.#ready.get(origin) === session) this.#ready.delete(origin)
    if (whenIdle) this.#retired.add(session)
    void this.#sessions.get(origin)?.then((s) => {
      if (s !== session) return
      this.#sessions.delete(origin)
      // A retired session is released by whatever settles last on it (#releaseIfRetired).
      if (!whenIdle) session.release()
    }, () => undefined)
  }

  // Whatever settles last on a retired session (request, observation or ping) releases it.
  #releaseIfRetired(session: Session): void {
    if (this.#retired.has(session) && session.pending.size === 0 && session.valid) session.release()
  }

  #session(uri: CoapUri): Promise<Session> {
    if (this.context.closed) return Promise.reject(new CoapClosedError('client is closed'))
    if (SECURE.has(uri.proto) && this.#psk === undefined && this.#pki === undefined) {
      return Promise.reject(new TypeError(`${uri.scheme}// needs the client's psk or pki option`))
    }
    let entry = this.#sessions.get(uri.origin)
    if (entry === undefined) {
      entry = this.#open(uri)
      this.#sessions.set(uri.origin, entry)
      entry.catch(() => this.#sessions.delete(uri.origin))
    }
    return entry.then((s) => {
      if (usable(s)) {
        if (this.#sessions.get(uri.origin) === entry) this.#ready.set(uri.origin, s)
        return s
      }
      this.#ready.delete(uri.origin)
      if (this.#sessions.get(uri.origin) === entry) this.#sessions.delete(uri.origin)
      if (s.valid) s.release()
      return this.#session(uri)
    })
  }

  async #open(uri: CoapUri): Promise<Session> {
    let host = uri.host
    if (isIP(host) === 0) {
      try {
        host = (await lookup(host)).address
      } catch (err) {
        throw new CoapConnectionError(`cannot resolve '${uri.host}': ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err })
      }
    }
    if (this.context.closed) throw new CoapClosedError('client is closed')
    const remote = { host, port: uri.port }
    const wsHost = uri.proto === 'ws' || uri.proto === 'wss' ? uri.host : undefined
    // Certificates are checked against the URL's host name (SNI too), not the resolved address.
    const pki = SECURE.has(uri.proto) && this.#pki ? this.#pkiFor({ ...this.#pki, sni: this.#pki.sni ?? (isIP(uri.host) ? undefined : uri.host) }) : undefined
    const psk = SECURE.has(uri.proto) ? this.#psk : undefined
    const session = this.context.newClientSession({ proto: uri.proto, remote, wsHost, psk, pki })
    if (this.#parameters !== undefined) session.setParameters(this.#parameters)
    return session
  }

  // One native set-up per distinct certificate settings (the SNI differs per host name).
  #pkiCache = new Map<string | undefined, ClientPki>()
  #pkiFor(pki: ClientPki): ClientPki {
    let cached = this.#pkiCache.get(pki.sni)
    if (cached === undefined) {
      cached = pki
      this.#pkiCache.set(pki.sni, cached)
    }
    return cached
  }

  /** Fails pending requests with `ERR_COAP_CLOSED` and frees every session. Idempotent. */
  async close(): Promise<void> {
    this.#sessions.clear()
    this.#ready.clear()
    this.context.close()
  }

  /** Same as {@link CoapClient.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}
