/**
 * `Resource` ↔ libcoap's `coap_resource_t`: a path and a handler per method.
 * @module
 */
import { Method, type CodeString, type MethodName } from '../codes'
import type { ContentFormatLike } from '../content-format'
import type { OptionsInit } from '../options'
import type { CoapRequest } from './request'

/** A body a handler may return. */
export type Body = string | Buffer | Uint8Array

/** What a handler returns: a body, nothing (default code for the method), or a full answer. */
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

/** A request handler; a returned Promise that is still pending gets a separate response. */
export type RequestHandler = (req: CoapRequest) => HandlerResult | Promise<HandlerResult>

/** Link attributes of a resource (RFC 6690), used by `/.well-known/core`. */
export interface ResourceAttributes {
  rt?: string
  if?: string
  ct?: number
  title?: string
  observable?: boolean
}

/** A resource: a path plus a handler per method (↔ `coap_resource_init` + `coap_register_request_handler`). */
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

  constructor(path: string, attributes: ResourceAttributes = {}) {
    if (typeof path !== 'string') throw new TypeError(`path must be a string, got ${path === null ? 'null' : typeof path}`)
    if (!path.startsWith('/')) throw new RangeError(`path must start with '/', got '${path}'`)
    if (path.length > 1 && path.endsWith('/')) throw new RangeError(`path must not end with '/', got '${path}'`)
    if (path.includes('//')) throw new RangeError(`path must not contain empty segments, got '${path}'`)
    if (path.includes('?') || path.includes('#')) throw new RangeError(`path must not contain '?' or '#', got '${path}'`)
    if (typeof attributes !== 'object' || attributes === null) throw new TypeError('attributes must be an object')
    this.path = path
    this.attributes = { ...attributes }
  }

  /**
   * Tells observers the state changed (↔ `coap_resource_notify_observers`): libcoap runs the GET
   * handler again for each observer and sends the result as a notification. The resource must
   * have been created with `observable: true`. Returns `false` when it has no observers.
   */
  notify(): boolean {
    if (!this.attributes.observable) throw new RangeError(`resource '${this.path}' is not observable (create it with { observable: true })`)
    if (this._notify === undefined) throw new RangeError(`resource '${this.path}' is not registered with a server or context`)
    return this._notify()
  }

  /** Sets the handler for one method (replacing any earlier one). */
  handle(method: MethodName, handler: RequestHandler): this {
    const code = (Method as Record<string, number>)[method]
    if (code === undefined) throw new RangeError(`method must be one of ${Object.keys(Method).join(', ')}, got '${String(method)}'`)
    if (typeof handler !== 'function') throw new TypeError(`handler must be a function, got ${handler === null ? 'null' : typeof handler}`)
    this.handlers[code] = handler
    this._onHandler?.(code)
    return this
  }
}
