/**
 * node-coap's `createServer()` server: one `'request'` event `(req, res)` for every path it
 * serves, on top of our `CoapServer`.
 * @module
 */
import { EventEmitter } from 'node:events'
import { isIP } from 'node:net'
import { CoapServer, type ServerResource } from '../server'
import { Method, type MethodName } from '../codes'
import type { CoapRequest } from '../core/request'
import type { HandlerResult } from '../core/resource'
import type { Session } from '../core/session'
import { optionName, type CoapOption } from '../options'
import { emitError } from './emit'
import { IncomingMessage, compatMethod } from './incoming-message'
import { registeredNumbers } from './options'
import { ObserveWriteStream, ServerResponse } from './server-response'
import { parameters, transmission } from './timing'

/**
 * What `createServer()` takes (node-coap's `CoapServerOptions`, plus `paths`).
 * @example
 * ```ts
 * import { createServer, type CoapServerOptions } from 'libcoap/compat'
 *
 * const options: CoapServerOptions = { type: 'udp6', piggybackReplyMs: 100, paths: ['/', '/sensors', '/config'] }
 * createServer(options, (req, res) => res.end(`you asked for ${req.url}`)).listen(5683)
 * ```
 */
export interface CoapServerOptions {
  /** `'udp4'` (default: listens on 0.0.0.0) or `'udp6'` (listens on ::). */
  type?: 'udp4' | 'udp6'
  /** Not supported (`RangeError` when `true`): libcoap's proxy code is compiled out. */
  proxy?: boolean
  /** A multicast group to join (the server must listen on a wildcard address). */
  multicastAddress?: string
  /** The interface for `multicastAddress`. */
  multicastInterface?: string
  /** ms to wait for `res.end()` before an empty ACK and a separate response (default: `parameters.piggybackReplyMs`, 50). */
  piggybackReplyMs?: number
  /** Accepted and ignored: libcoap never ACKs NON requests (RFC 7252 §4.3). */
  sendAcksForNonConfirmablePackets?: boolean
  /** Accepted and ignored: libcoap keeps its own per-session state. */
  clientIdentifier?: (request: IncomingMessage) => string
  /** Accepted and ignored: libcoap binds UDP endpoints with SO_REUSEADDR, as node-coap's default `true` does. */
  reuseAddr?: boolean
  /** Accepted and ignored: libcoap deduplicates retransmissions itself. */
  cacheSize?: number
  /**
   * Not in node-coap: the paths that can be observed (default `['/']`). Requests for any path
   * reach `'request'`, but libcoap can only observe paths it has a resource for: an Observe
   * registration for a path not listed here (or added with {@link Server.addPath}) is answered
   * as a plain request.
   */
  paths?: string[]
}

/**
 * The `'request'` listener's signature.
 * @example
 * ```ts
 * import { Server, type RequestListener } from 'libcoap/compat'
 *
 * const hello: RequestListener = (req, res) => res.end(`Hello ${req.url.slice(1)}`)
 * new Server({ paths: ['/world'] }, hello).listen()
 * ```
 */
export type RequestListener = (req: IncomingMessage, res: ServerResponse | ObserveWriteStream) => void

const METHODS = Object.keys(Method) as MethodName[]
const SERVER_KEYS = new Set(['type', 'proxy', 'multicastAddress', 'multicastInterface', 'piggybackReplyMs', 'sendAcksForNonConfirmablePackets', 'clientIdentifier', 'reuseAddr', 'cacheSize', 'paths'])

/**
 * A CoAP server in node-coap's shape: `'request'` `(req, res)` for every request to one of its
 * paths, `listen(port, address, cb)`, `close(cb)`. Requests whose method has no meaning for
 * libcoap never reach it; retransmissions are answered by libcoap from its cache. A listener
 * that throws gets the request answered 5.00 and the error as `'error'` (a process warning when
 * nobody listens) — the process keeps running, unlike node-coap.
 * @example
 * ```ts
 * import { Server } from 'libcoap/compat'
 *
 * const server = new Server({ type: 'udp6', paths: ['/', '/hello'] })
 * server.on('request', (req, res) => res.end(`hello from ${req.url}`))
 * server.on('error', (err) => console.error(err))
 * server.listen(5683, '::', () => console.log('listening', server.address()))
 * ```
 */
export class Server extends EventEmitter {
  readonly #options: CoapServerOptions
  readonly #paths = new Set<string>()
  readonly #observers = new Map<Session, Map<string, ObserveWriteStream>>()
  #coap: CoapServer | undefined
  #pendingNotify = new Set<ServerResource>()

  constructor(options: CoapServerOptions = {}, listener?: RequestListener) {
    super()
    if (typeof options !== 'object' || options === null) throw new TypeError(`options must be an object, got ${options === null ? 'null' : typeof options}`)
    for (const key of Object.keys(options)) if (!SERVER_KEYS.has(key)) throw new TypeError(`unknown server option '${key}'`)
    if (options.type !== undefined && options.type !== 'udp4' && options.type !== 'udp6') throw new RangeError(`type must be 'udp4' or 'udp6', got '${String(options.type)}'`)
    if (options.proxy === true) throw new RangeError('proxy is not supported: libcoap is built without its proxy code')
    if (options.piggybackReplyMs !== undefined && typeof options.piggybackReplyMs !== 'number') throw new TypeError(`piggybackReplyMs must be a number, got ${typeof options.piggybackReplyMs}`)
    if (options.multicastAddress !== undefined && typeof options.multicastAddress !== 'string') throw new TypeError('multicastAddress must be a string')
    if (options.paths !== undefined && !Array.isArray(options.paths)) throw new TypeError('paths must be an array of paths')
    this.#options = { ...options }
    for (const p of options.paths ?? ['/']) this.addPath(p)
    if (listener !== undefined) {
      if (typeof listener !== 'function') throw new TypeError(`listener must be a function, got ${typeof listener}`)
      this.on('request', listener)
    }
  }

  /** Not in node-coap: makes one more path observable (at once when listening). */
  addPath(path: string): this {
    if (typeof path !== 'string') throw new TypeError(`path must be a string, got ${path === null ? 'null' : typeof path}`)
    if (!path.startsWith('/')) throw new RangeError(`path must start with '/', got '${path}'`)
    if (this.#paths.has(path)) return this
    if (this.#coap !== undefined) this.#serve(this.#coap, path)
    this.#paths.add(path)
    return this
  }

  /**
   * Starts listening (node-coap `listen`): `port` defaults to 5683 (0 picks a free one), `address`
   * to the wildcard address of the server's `type`. `callback` runs once listening (also the
   * `'listening'` event); a failure (e.g. `ERR_COAP_LISTEN`) is an `'error'`. Custom socket
   * objects are not supported (`TypeError`).
   */
  listen(port?: number | (() => void), address?: string | (() => void), callback?: () => void): this {
    if (typeof port === 'function') [callback, port, address] = [port, undefined, undefined]
    if (typeof address === 'function') [callback, address] = [address, undefined]
    if (port !== undefined && typeof port !== 'number') throw new TypeError(`port must be a number (custom sockets are not supported), got ${port === null ? 'null' : typeof port}`)
    if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new RangeError(`port must be 0-65535, got ${port}`)
    if (address !== undefined && address !== null && typeof address !== 'string') throw new TypeError(`address must be a string, got ${typeof address}`)
    if (callback !== undefined && typeof callback !== 'function') throw new TypeError(`callback must be a function, got ${typeof callback}`)
    if (this.#coap !== undefined) throw new RangeError('the server is already listening')
    const host = address ?? (this.#options.type === 'udp6' ? '::' : '0.0.0.0')
    const after = this.#options.piggybackReplyMs ?? parameters.piggybackReplyMs
    const coap = new CoapServer({
      listen: `coap://${isIP(host) === 6 ? `[${host}]` : host}:${port ?? 5683}`,
      separateResponseAfter: after,
      parameters: transmission().values,
      multicast: this.#options.multicastAddress === undefined ? undefined : { group: this.#options.multicastAddress, interface: this.#options.multicastInterface },
    })
    this.#coap = coap
    for (const n of registeredNumbers()) coap.registerOption(n)
    for (const path of this.#paths) this.#serve(coap, path)
    this.#serve(coap, undefined) // every other path, like node-coap (not observable)
    coap.on('error', (err) => emitError(this, err))
    coap.on('unobserve', (resource, session) => {
      const byPath = this.#observers.get(session)
      const stream = byPath?.get(resource.path)
      if (stream === undefined) return
      byPath!.delete(resource.path)
      if (byPath!.size === 0) this.#observers.delete(session)
      stream._leave()
    })
    coap.listen().then(() => {
      this.emit('listening')
      callback?.()
    }, (err: unknown) => {
      if (this.#coap === coap) this.#coap = undefined
      void coap.close()
      emitError(this, err)
    })
    return this
  }

  /** The bound address (`{ address, family, port }`), or `null` before listening. */
  address(): { address: string; family: 'IPv4' | 'IPv6'; port: number } | null {
    const ep = this.#coap?.endpoints[0]
    return ep === undefined ? null : { address: ep.host, family: isIP(ep.host) === 6 ? 'IPv6' : 'IPv4', port: ep.port }
  }

  /** Stops listening; every observer stream finishes. `callback` runs once closed (also `'close'`). */
  close(callback?: (err?: Error) => void): this {
    if (callback !== undefined && typeof callback !== 'function') throw new TypeError(`callback must be a function, got ${typeof callback}`)
    const coap = this.#coap
    this.#coap = undefined
    for (const byPath of this.#observers.values()) for (const s of byPath.values()) s._leave()
    this.#observers.clear()
    this.#pendingNotify.clear()
    void (coap?.close() ?? Promise.resolve()).then(() => {
      this.emit('close')
      callback?.()
    })
    return this
  }

  #serve(coap: CoapServer, path: string | undefined): void {
    const resource = path === undefined ? coap.unknownResource() : coap.resource(path, { observable: true })
    const handler = (req: CoapRequest): HandlerResult | Promise<HandlerResult> => this.#handle(resource, req)
    for (const m of METHODS) resource.handle(m, handler)
  }

  #handle(resource: ServerResource, req: CoapRequest): HandlerResult | Promise<HandlerResult> {
    // libcoap cannot observe its unknown resource: a registration there is a plain request.
    const observe = !resource.isUnknown && (req.method === 'GET' || req.method === 'FETCH') && req.option('Observe')[0] === 0
    const session = req.session
    if (observe) {
      // libcoap re-runs the handler for each observer when we ask it to notify.
      const current = this.#observers.get(session)?.get(resource.path)
      if (current !== undefined && current._answered && !current._gone) {
        const result = current._next()
        if (current._queued > 0) this.#notify(resource)
        return result
      }
    }
    const message = this.#message(req)
    if (this.listenerCount('request') === 0) return { code: '5.01' }
    // Answered while the listener runs: returned as is (piggybacked). Later: a Promise.
    let result: HandlerResult
    let settled = false
    let resolve: ((r: HandlerResult) => void) | undefined
    const done = (r: HandlerResult): void => {
      if (settled) return
      settled = true
      result = r
      resolve?.(r)
    }
    let res: ServerResponse | ObserveWriteStream
    if (observe) {
      const stream = new ObserveWriteStream(done, () => this.#notify(resource))
      let byPath = this.#observers.get(session)
      if (byPath === undefined) this.#observers.set(session, (byPath = new Map()))
      byPath.get(resource.path)?._leave()
      byPath.set(resource.path, stream)
      res = stream
    } else {
      res = new ServerResponse(done)
    }
    this.emit('request', message, res)
    if (settled) return result
    return new Promise<HandlerResult>((r) => (resolve = r))
  }

  // Writes within one turn of the event loop ask libcoap once; it runs the handler per observer.
  #notify(resource: ServerResource): void {
    if (this.#pendingNotify.has(resource)) return
    this.#pendingNotify.add(resource)
    setImmediate(() => {
      if (!this.#pendingNotify.delete(resource) || this.#coap === undefined) return
      resource.notify()
    })
  }

  #message(req: CoapRequest): IncomingMessage {
    const segments = req.path === '/' ? [] : req.path.slice(1).split('/')
    const query = req.query
    const opt = (number: number, value: string): CoapOption => ({ number, name: optionName(number), value })
    const options = [...segments.map((s) => opt(11, s)), ...req.options.filter((o) => o.number !== 11), ...query.map((q) => opt(15, q))]
      .sort((a, b) => a.number - b.number)
    const { address, port } = req.remote
    return new IncomingMessage({
      code: `0.0${Method[req.method]}`,
      method: compatMethod(req.method),
      payload: req.payload,
      options,
      url: `${req.path}${query.length ? `?${query.join('&')}` : ''}`,
      address,
      port,
    })
  }
}
