/**
 * `Resource` ↔ libcoap's `coap_resource_t`: a path and a handler per method.
 * @module
 */
import { Method, type CodeString, type MethodName } from '../codes'
import type { ContentFormatLike } from '../content-format'
import type { OptionsInit } from '../options'
import type { CoapRequest } from './request'
import { encodeResult, type EncodedResult } from './result'
import { show } from '../show'

/** A body a handler may return. */
export type Body = string | Buffer | Uint8Array

/**
 * What a handler returns: a body, nothing (default code for the method), or a full answer.
 * @example
 * ```ts
 * import { CoapServer, type HandlerResult } from 'libcoap'
 *
 * function answer(found: boolean): HandlerResult {
 *   return found ? { payload: '{"on":true}', contentFormat: 'application/json', options: { 'Max-Age': 30 } } : { code: '4.04' }
 * }
 * new CoapServer().resource('/lamp').get(() => answer(true))
 * ```
 */
export type HandlerResult =
  | Body
  | undefined
  | void
  | {
      /** Response code, default 2.05 for GET/FETCH, 2.01 for POST, 2.04 for PUT/PATCH/iPATCH, 2.02 for DELETE. */
      code?: CodeString | number
      payload?: Body
      /** Default: text/plain for string payloads, none for binary ones. */
      contentFormat?: ContentFormatLike | null
      options?: OptionsInit
    }

/**
 * A request handler; a returned Promise that is still pending gets a separate response.
 * @example
 * ```ts
 * import { CoapServer, type RequestHandler } from 'libcoap'
 *
 * const slowEcho: RequestHandler = async (req) => {
 *   await new Promise((resolve) => setTimeout(resolve, 1000)) // answered as a separate response
 *   return { code: '2.04', payload: req.payload, contentFormat: req.contentFormat ?? null }
 * }
 * new CoapServer().resource('/echo').put(slowEcho)
 * ```
 */
export type RequestHandler = (req: CoapRequest) => HandlerResult | Promise<HandlerResult>

/**
 * Link attributes of a resource (RFC 6690), listed by libcoap in `/.well-known/core`.
 * @example
 * ```ts
 * import { CoapServer, type ResourceAttributes } from 'libcoap'
 *
 * const attributes: ResourceAttributes = { rt: 'temperature-c', if: 'sensor', ct: 50, observable: true, notifications: 'con' }
 * const server = new CoapServer()
 * server.resource('/temperature', attributes).get(() => ({ payload: '{"c":21.5}', contentFormat: 50 }))
 * // GET /.well-known/core lists: </temperature>;rt="temperature-c";if="sensor";ct=50;obs
 * ```
 */
export interface ResourceAttributes {
  /** Resource type(s), e.g. `'temperature-c'`. */
  rt?: string
  /** Interface description(s). */
  if?: string
  /** Content-Format(s) the resource serves. */
  ct?: number | number[]
  /** Estimated size in bytes. */
  sz?: number
  title?: string
  /** Observable (RFC 7641); listed as `obs`. */
  observable?: boolean
  /**
   * Message type of notifications over UDP/DTLS: `'non'` (default: NON, with libcoap making
   * every fifth one — and at least one a day — CON to find out whether the observer is still
   * there), `'con'` (all CON) or `'non-always'` (never CON).
   */
  notifications?: 'non' | 'con' | 'non-always'
}

/** Native flag per notification type. @internal */
export const notificationTypes = { non: 1, con: 2, 'non-always': 3 } as const

const quote = (v: string): string => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`

/** The attributes in link-format form for libcoap (`obs` it adds itself). @internal */
export function linkAttributes(a: ResourceAttributes): Array<[string, string]> {
  const out: Array<[string, string]> = []
  if (a.rt !== undefined) out.push(['rt', quote(a.rt)])
  if (a.if !== undefined) out.push(['if', quote(a.if)])
  if (a.ct !== undefined) out.push(['ct', Array.isArray(a.ct) ? quote(a.ct.join(' ')) : String(a.ct)])
  if (a.sz !== undefined) out.push(['sz', String(a.sz)])
  if (a.title !== undefined) out.push(['title', quote(a.title)])
  return out
}

function checkAttributes(a: unknown): ResourceAttributes {
  if (typeof a !== 'object' || a === null || Array.isArray(a)) throw new TypeError('attributes must be an object')
  const o = a as Record<string, unknown>
  for (const k of Object.keys(o)) {
    if (!['rt', 'if', 'ct', 'sz', 'title', 'observable', 'notifications'].includes(k)) throw new TypeError(`attributes: unknown attribute '${k}'`)
  }
  for (const k of ['rt', 'if', 'title']) if (o[k] !== undefined && typeof o[k] !== 'string') throw new TypeError(`attributes.${k} must be a string`)
  const ct = o.ct === undefined ? [] : Array.isArray(o.ct) ? o.ct : [o.ct]
  for (const c of ct) if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c > 65535) throw new RangeError(`attributes.ct must be Content-Format numbers 0-65535, got ${show(c)}`)
  if (o.sz !== undefined && (typeof o.sz !== 'number' || !Number.isInteger(o.sz) || o.sz < 0)) throw new RangeError(`attributes.sz must be a non-negative integer, got ${show(o.sz)}`)
  if (o.observable !== undefined && typeof o.observable !== 'boolean') throw new TypeError('attributes.observable must be a boolean')
  if (o.notifications !== undefined && !Object.hasOwn(notificationTypes, o.notifications as string)) {
    throw new RangeError(`attributes.notifications must be 'non', 'con' or 'non-always', got ${show(o.notifications)}`)
  }
  return o as ResourceAttributes
}

// Set while an unknown resource is built: the one path that is not a path.
let creatingUnknown = false

/** Builds an unknown resource (path `'*'`) of any Resource class. @internal */
export function asUnknown<T extends Resource>(make: () => T): T {
  creatingUnknown = true
  try {
    return make()
  } finally {
    creatingUnknown = false
  }
}

/**
 * A resource: a path plus a handler per method (↔ `coap_resource_init` + `coap_register_request_handler`).
 * @example
 * ```ts
 * import { Context, Resource } from 'libcoap/core'
 *
 * const ctx = new Context()
 * let count = 0
 * const counter = new Resource('/counter', { observable: true, rt: 'count' })
 * counter
 *   .handle('GET', () => String(count))
 *   .handle('POST', () => {
 *     count++
 *     counter.notify() // observers get the GET handler's new answer
 *     return { code: '2.04' }
 *   })
 * ctx.addResource(counter)
 * ctx.addResource(new Resource('/version').setRepresentation('1.0.0')) // answered natively
 * ctx.addEndpoint({ host: '::', port: 5683 })
 * ```
 */
export class Resource {
  /** Path with a leading slash, e.g. `'/alarm'` (`'/'` for the root). */
  readonly path: string
  /** Link attributes. */
  readonly attributes: Readonly<ResourceAttributes>
  /** @internal handlers indexed by method code */
  readonly handlers: Array<RequestHandler | undefined> = []
  /** @internal set while the resource is registered with a context */
  _onHandler: ((method: number) => void) | undefined
  /** @internal */
  _notify: (() => boolean) | undefined
  /** @internal */
  _observers = 0
  /** @internal If-None-Match is decided by the handlers (a subclass's), not by libcoap */
  get _decidesIfNoneMatch(): boolean {
    return false
  }
  /** @internal the representation GET is answered with natively, if any */
  _representation: EncodedResult | undefined
  /** @internal hands it to the native layer once registered */
  _represent: ((r: EncodedResult) => void) | undefined
  /** @internal what notify(value) gave: the answer to observe GETs until the next notify() */
  _observed: HandlerResult | undefined

  /** How many observers the resource has (libcoap's subscriptions). */
  get observers(): number {
    return this._observers
  }

  /**
   * The resource for requests to paths no other resource has (↔ `coap_resource_unknown_init2`):
   * its handlers see the request's own path in `req.path`. Without it, or for a method it has no
   * handler for, libcoap answers such requests 4.04 itself (DELETE 2.02). It cannot be observable (libcoap cannot observe it: a
   * handler can create a real resource for the path instead), and a context has at most one.
   * @example
   * ```ts
   * import { Context, Resource } from 'libcoap/core'
   *
   * const ctx = new Context()
   * ctx.addResource(Resource.unknown().handle('GET', (req) => `nothing at ${req.path}`))
   * ```
   */
  static unknown(attributes: Omit<ResourceAttributes, 'observable' | 'notifications'> = {}): Resource {
    const checked = checkAttributes(attributes)
    if (checked.observable !== undefined || checked.notifications !== undefined) {
      throw new RangeError('the unknown resource cannot be observable (libcoap cannot observe it)')
    }
    return asUnknown(() => new Resource('*', checked))
  }

  /** Whether this is the {@link Resource.unknown} resource (its `path` is then `'*'`). */
  get isUnknown(): boolean {
    return this.path === '*'
  }

  constructor(path: string, attributes: ResourceAttributes = {}) {
    if (typeof path !== 'string') throw new TypeError(`path must be a string, got ${path === null ? 'null' : typeof path}`)
    if (path === '*' && creatingUnknown) {
      this.path = path
      this.attributes = attributes
      return
    }
    if (!path.startsWith('/')) throw new RangeError(`path must start with '/', got '${path}'`)
    if (path.length > 1 && path.endsWith('/')) throw new RangeError(`path must not end with '/', got '${path}'`)
    if (path.includes('//')) throw new RangeError(`path must not contain empty segments, got '${path}'`)
    if (path.includes('?') || path.includes('#')) throw new RangeError(`path must not contain '?' or '#', got '${path}'`)
    this.path = path
    this.attributes = { ...checkAttributes(attributes) }
  }

  /**
   * Tells observers the state changed (↔ `coap_resource_notify_observers`). Without an argument
   * libcoap runs the GET handler again for each observer and sends the result as a
   * notification. With one (a body or `{ code, payload, contentFormat, options }`), that is the
   * notification, and it also answers new registrations (GETs with Observe) until the next
   * `notify()`; plain GETs still go to the handler. The resource must have been created with
   * `observable: true` and have a GET handler. Returns `false` when it has no observers.
   */
  notify(...value: [] | [HandlerResult]): boolean {
    if (!this.attributes.observable) throw new RangeError(`resource '${this.path}' is not observable (create it with { observable: true })`)
    if (this._notify === undefined) throw new RangeError(`resource '${this.path}' is not registered with a server or context`)
    if (value.length > 0) {
      const v = value[0]
      if (v !== undefined && v !== null && typeof v !== 'string' && typeof v !== 'object') throw new TypeError(`notify() takes a string, Buffer or { code, payload, contentFormat, options }, got ${typeof v}`)
      this._observed = v ?? undefined
    } else {
      this._observed = undefined
    }
    return this._notify()
  }

  /**
   * The native fast path: GET is answered with `value` (a body or `{ code, payload,
   * contentFormat, options }`) by the addon itself, with no JS per request, until the next
   * call or a GET handler replaces it. A representation with an ETag option answers a GET
   * carrying that ETag with 2.03. Observers of an observable resource are notified.
   */
  setRepresentation(value: HandlerResult): this {
    this._representation = encodeResult(Method.GET, value, `setRepresentation() of '${this.path}'`)
    this.handlers[Method.GET] = undefined
    this._represent?.(this._representation)
    if (this.attributes.observable && this._notify !== undefined) {
      this._observed = undefined
      this._notify()
    }
    return this
  }

  /** Sets the handler for one method (replacing any earlier one). */
  handle(method: MethodName, handler: RequestHandler): this {
    const code = typeof method === 'string' && Object.hasOwn(Method, method) ? (Method as Record<string, number>)[method] : undefined
    if (code === undefined) throw new RangeError(`method must be one of ${Object.keys(Method).join(', ')}, got '${show(method)}'`)
    if (typeof handler !== 'function') throw new TypeError(`handler must be a function, got ${handler === null ? 'null' : typeof handler}`)
    this.handlers[code] = handler
    if (code === Method.GET) this._representation = undefined
    this._onHandler?.(code)
    return this
  }
}
