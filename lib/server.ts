/**
 * `CoapServer`: resources with per-method handlers on one or more listen URLs, built on `lib/core`.
 * @module
 */
import './dispose'
import { EventEmitter } from 'node:events'
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import { Context, type Endpoint } from './core/context'
import type { SessionEventName } from './core/constants'
import type { CoapRequest } from './core/request'
import { Resource, asUnknown, type RequestHandler, type ResourceAttributes } from './core/resource'
import type { Session, TransmissionParameters } from './core/session'
import type { MethodName } from './codes'
import { CoapClosedError, CoapInvalidUriError, CoapListenError } from './errors'
import { conditional } from './conditional'
import { checkServerPki, checkServerPsk, type ServerPki, type ServerPsk } from './security'
import { parseUri, type CoapUri } from './uri'

/**
 * Settings of a {@link CoapServer}.
 * @example
 * ```ts
 * import { CoapServer, type ServerOptions } from 'libcoap'
 *
 * const options: ServerOptions = {
 *   listen: ['coap://[::]:5683', 'coap+tcp://[::]:5683'],
 *   separateResponseAfter: 200,
 *   maxBodySize: 1024 * 1024,
 *   multicast: 'ff02::fd',
 * }
 * const server = new CoapServer(options)
 * await server.listen()
 * ```
 */
export interface ServerOptions {
  /** Listen URLs, e.g. `'coap://[::]:5683'` (port 0 picks a free one). Default `'coap://[::]:5683'`. */
  listen?: string | URL | Array<string | URL>
  /**
   * A handler's Promise that settles within this many ms is answered piggybacked in the ACK;
   * a slower one gets a separate response (empty ACK at this point, the answer later as CON).
   * 0 sends the empty ACK immediately. Default 500.
   */
  separateResponseAfter?: number
  /** Pre-shared keys for `coaps://` listen URLs. */
  psk?: ServerPsk
  /** Certificates for `coaps://` listen URLs. */
  pki?: ServerPki
  /** Most DTLS handshakes in progress at once (libcoap's default: 100). */
  maxHandshakes?: number
  /**
   * Most idle sessions per endpoint; a new peer beyond it makes libcoap drop the oldest idle
   * one (default 20 000; 0 = no limit). Plain UDP makes a session per source address, so
   * without a cap spoofed sources could fill memory; raise it for larger fleets.
   */
  maxIdleSessions?: number
  /** Seconds an idle session is kept (default 300). Half-done handshakes go after 30 s. */
  sessionTimeout?: number
  /** Max-Message-Size we announce on TCP/TLS/WebSocket connections (CSM). */
  maxMessageSize?: number
  /** Largest request body accepted, in bytes (default 8 MiB); larger ones are answered 4.13. */
  maxBodySize?: number
  /** Largest block for block-wise transfers: 16, 32, …, 1024 bytes (default 1024). */
  blockSize?: number
  /**
   * Multicast groups to join once listening (RFC 7252 §8), e.g. `'224.0.1.187'`, `'ff02::fd'`
   * (All CoAP Nodes) or `{ group: 'ff05::fd', interface: 'eth0' }`. Needs a `coap://` listen URL
   * on a wildcard address (`0.0.0.0` or `[::]`). Group requests are answered NON after a random
   * delay up to `parameters.defaultLeisure` (default 5 s); error answers are suppressed.
   */
  multicast?: string | MulticastGroup | Array<string | MulticastGroup>
  /** RFC 7252 transmission parameters for every session the server creates. */
  parameters?: TransmissionParameters
  /**
   * Share UDP/DTLS listen ports with other servers that set it too (SO_REUSEPORT), e.g. one
   * per worker thread or cluster process: the kernel spreads peers over them by address.
   */
  reusePort?: boolean
}

/**
 * A multicast group to join, on a given interface or the system's default.
 * @example
 * ```ts
 * import { CoapServer, type MulticastGroup } from 'libcoap'
 *
 * const group: MulticastGroup = { group: 'ff05::fd', interface: 'eth0' }
 * const server = new CoapServer({ listen: 'coap://[::]:5683', multicast: [group, '224.0.1.187'] })
 * await server.listen()
 * ```
 */
export interface MulticastGroup {
  group: string
  interface?: string
}

function groupList(m: ServerOptions['multicast']): MulticastGroup[] {
  if (m === undefined) return []
  const list = Array.isArray(m) ? m : [m]
  return list.map((g, i) => {
    const entry = typeof g === 'string' ? { group: g } : g
    if (typeof entry !== 'object' || entry === null || typeof entry.group !== 'string') throw new TypeError(`multicast[${i}] must be a group address or { group, interface }`)
    if (isIP(entry.group) === 0) throw new RangeError(`multicast[${i}] must be a numeric group address, got '${entry.group}'`)
    if (entry.interface !== undefined && typeof entry.interface !== 'string') throw new TypeError(`multicast[${i}].interface must be a string`)
    return { group: entry.group, interface: entry.interface }
  })
}

function checkListenUri(u: string | URL): CoapUri {
  const uri = parseUri(u, 'listen')
  if (uri.path.length || uri.query.length) throw new CoapInvalidUriError(`listen URL must not have a path or query: '${String(u)}'`)
  return uri
}

/**
 * A resource of a {@link CoapServer}, with a chainable setter per method. Requests are
 * conditional as RFC 7252 says once a handler returns an ETag option: a GET/FETCH carrying
 * that ETag gets 2.03 Valid without the body, and If-Match / If-None-Match are checked against
 * {@link ServerResource.etag} before the handler runs (4.12 Precondition Failed).
 * @example
 * ```ts
 * import { CoapServer } from 'libcoap'
 *
 * const server = new CoapServer()
 * let celsius = 21.5
 * const temperature = server
 *   .resource('/temperature', { rt: 'temperature-c', observable: true })
 *   .get(() => ({ payload: JSON.stringify({ celsius }), contentFormat: 'application/json' }))
 * setInterval(() => {
 *   celsius += 0.1
 *   temperature.notify() // every observer gets the GET handler's new answer
 * }, 1000).unref()
 * await server.listen()
 * ```
 */
export class ServerResource extends Resource {
  #etag: Buffer | undefined
  #usesEtags = false

  /**
   * ETag of the current representation: the last one a handler returned with a 2.xx answer
   * (a 2.02 Deleted clears it). Set it yourself when the state changes elsewhere. Until the
   * resource has had an ETag, If-Match / If-None-Match are left to the handlers.
   */
  get etag(): Buffer | undefined {
    return this.#etag
  }

  set etag(value: Buffer | undefined) {
    if (value !== undefined && !Buffer.isBuffer(value)) throw new TypeError(`etag must be a Buffer or undefined, got ${typeof value}`)
    if (value !== undefined && (value.length < 1 || value.length > 8)) throw new RangeError(`etag must be 1-8 bytes, got ${value.length}`)
    this.#etag = value
    if (value !== undefined) this.#usesEtags = true
  }

  /** Whether the resource has used ETags (then preconditions are checked). */
  get usesEtags(): boolean {
    return this.#usesEtags
  }

  /** @internal */
  override get _decidesIfNoneMatch(): boolean {
    return true
  }

  /** Sets the handler for one method, wrapped for conditional requests. */
  override handle(method: MethodName, handler: RequestHandler): this {
    // The unknown resource serves many paths: one ETag cannot describe them.
    return super.handle(method, typeof handler === 'function' && !this.isUnknown ? conditional(this, method, handler) : handler)
  }

  /** Handles GET. */
  get(handler: RequestHandler): this {
    return this.handle('GET', handler)
  }
  /** Handles POST. */
  post(handler: RequestHandler): this {
    return this.handle('POST', handler)
  }
  /** Handles PUT. */
  put(handler: RequestHandler): this {
    return this.handle('PUT', handler)
  }
  /** Handles DELETE. */
  delete(handler: RequestHandler): this {
    return this.handle('DELETE', handler)
  }
  /** Handles FETCH. */
  fetch(handler: RequestHandler): this {
    return this.handle('FETCH', handler)
  }
  /** Handles PATCH. */
  patch(handler: RequestHandler): this {
    return this.handle('PATCH', handler)
  }
  /** Handles iPATCH. */
  iPatch(handler: RequestHandler): this {
    return this.handle('IPATCH', handler)
  }
}

/** Idle sessions per endpoint when `maxIdleSessions` is not given: ≈ 1 GB of idle DTLS sessions at most. */
const DEFAULT_MAX_IDLE_SESSIONS = 20_000
const SERVER_OPTIONS = new Set(['listen', 'separateResponseAfter', 'psk', 'pki', 'maxHandshakes', 'maxIdleSessions', 'sessionTimeout', 'maxMessageSize', 'maxBodySize', 'multicast', 'parameters', 'reusePort', 'blockSize'])
const SECURE: ReadonlySet<string> = new Set(['dtls', 'tls', 'wss'])
// Whichever comes first ends a session for 'session-closed': libcoap frees a closed TCP or
// WebSocket session only at its next idle sweep.
const CLOSING: ReadonlySet<SessionEventName> = new Set(['server-session-del', 'session-closed', 'tcp-closed', 'ws-closed', 'dtls-closed'])

function listenList(listen: ServerOptions['listen']): Array<string | URL> {
  if (listen === undefined) return ['coap://[::]:5683']
  const list = Array.isArray(listen) ? listen : [listen]
  if (list.length === 0) throw new RangeError('listen must name at least one URL')
  for (const u of list) if (typeof u !== 'string' && !(u instanceof URL)) throw new TypeError(`listen URLs must be strings or URLs, got ${typeof u}`)
  return list
}

/**
 * A CoAP server. Unknown paths get 4.04 and methods without a handler 4.05 (from libcoap). A
 * handler that throws or rejects gets 5.00 and an `'error'` event `(err, req)`; a handler whose
 * Promise takes longer than `separateResponseAfter` gets a separate response (empty ACK, the
 * answer later). Emits `'event'` `(name, session)` for libcoap session events, `'session'`
 * when a peer's session is ready (after the handshake for DTLS; `session.pskIdentity`,
 * `session.peerCommonName` tell who it is) and `'session-closed'` when libcoap frees it, and
 * `'observe'`/`'unobserve'` `(resource, session)` as observers come and go.
 * @example
 * ```ts
 * import { CoapServer } from 'libcoap'
 *
 * let state = 'OFF'
 * const server = new CoapServer({ listen: 'coap://[::]:5683' })
 * server.resource('/alarm').get(() => state).put((req) => {
 *   state = req.text()
 * })
 * server.on('error', (err, req) => console.error(req?.path, err))
 * const [endpoint] = await server.listen()
 * console.log(`listening on port ${endpoint.port}`)
 * ```
 */
export class CoapServer extends EventEmitter<{
  error: [unknown, CoapRequest | undefined]
  event: [SessionEventName, Session]
  session: [Session]
  'session-closed': [Session]
  observe: [ServerResource, Session]
  unobserve: [ServerResource, Session]
}> {
  /** The libcoap context underneath (for `lib/core` users). */
  readonly context: Context
  #listen: Array<string | URL>
  #listening: Promise<Endpoint[]> | undefined
  #announced = new WeakSet<Session>()
  #groups: MulticastGroup[]

  constructor(options: ServerOptions = {}) {
    super()
    if (typeof options !== 'object' || options === null) throw new TypeError(`options must be an object, got ${options === null ? 'null' : typeof options}`)
    for (const key of Object.keys(options)) if (!SERVER_OPTIONS.has(key)) throw new TypeError(`unknown server option '${key}'`)
    this.#listen = listenList(options.listen)
    for (const u of this.#listen) checkListenUri(u)
    this.#groups = groupList(options.multicast)
    if (this.#groups.length > 0 && !this.#listen.some((u) => checkListenUri(u).proto === 'udp')) throw new RangeError('multicast needs a coap:// (UDP) listen URL')
    const after = options.separateResponseAfter ?? 500
    if (typeof after !== 'number') throw new TypeError(`options.separateResponseAfter must be a number of milliseconds, got ${typeof after}`)
    if (!Number.isInteger(after) || after < 0 || after > 60_000) throw new RangeError(`options.separateResponseAfter must be an integer 0-60000 ms, got ${after}`)
    const secure = this.#listen.some((u) => SECURE.has(checkListenUri(u).proto))
    if (options.psk !== undefined) checkServerPsk(options.psk, 'options.psk')
    if (options.pki !== undefined) checkServerPki(options.pki, 'options.pki')
    if (secure && options.psk === undefined && options.pki === undefined) throw new TypeError('coaps:// (and coaps+tcp://, coaps+ws://) listen URLs need options.psk or options.pki')
    this.context = new Context()
    this.context.separateResponseAfter = after
    try {
      if (options.psk !== undefined) this.context.setPsk(options.psk)
      if (options.pki !== undefined) this.context.setPki(options.pki)
      if (options.maxHandshakes !== undefined) this.context.maxHandshakes = options.maxHandshakes
      this.context.maxIdleSessions = options.maxIdleSessions ?? DEFAULT_MAX_IDLE_SESSIONS
      if (options.sessionTimeout !== undefined) this.context.sessionTimeout = options.sessionTimeout
      if (options.maxMessageSize !== undefined) this.context.maxMessageSize = options.maxMessageSize
      if (options.maxBodySize !== undefined) this.context.maxBodySize = options.maxBodySize
      if (options.parameters !== undefined) this.context.serverParameters = options.parameters
      if (options.reusePort !== undefined) this.context.reusePort = options.reusePort
      if (options.blockSize !== undefined) this.context.blockSize = options.blockSize
    } catch (err) {
      this.context.close()
      throw err
    }
    this.context.on('error', (err, req) => {
      if (this.listenerCount('error') > 0) this.emit('error', err, req)
      else process.emitWarning(err instanceof Error ? err : new Error(String(err)), { code: 'LIBCOAP_HANDLER_ERROR' })
    })
    this.context.on('observe', (resource, session) => this.emit('observe', resource as ServerResource, session))
    this.context.on('unobserve', (resource, session) => this.emit('unobserve', resource as ServerResource, session))
    this.context.on('event', (name, session) => {
      this.emit('event', name, session)
      if (session.side !== 'server') return
      // 'session' once a peer can talk: at creation for plain UDP, after the handshake for DTLS,
      // after the CSM exchange for TCP/TLS/WebSockets; 'session-closed' only for sessions that
      // had their 'session' (not for refused handshakes).
      const ready = session.proto === 'udp' ? 'server-session-new' : session.proto === 'dtls' ? 'dtls-connected' : 'session-connected'
      if (name === ready) {
        this.#announced.add(session)
        this.emit('session', session)
      } else if (CLOSING.has(name) && this.#announced.delete(session)) {
        this.emit('session-closed', session)
      }
    })
  }

  /** The resource at `path`, created (with `attributes`) on first use. */
  resource(path: string, attributes?: ResourceAttributes): ServerResource {
    const existing = this.context.getResource(path)
    if (existing !== undefined) {
      if (attributes !== undefined) throw new RangeError(`resource '${path}' exists already; give attributes only when creating it`)
      return existing as ServerResource
    }
    return this.context.addResource(new ServerResource(path, attributes)) as ServerResource
  }

  /**
   * The resource for requests to paths no other resource has (↔ libcoap's unknown resource,
   * `coap_resource_unknown_init2`); created on first use. Its handlers see the request's own
   * path in `req.path`. Without it, or for a method it has no handler for, libcoap answers such
   * requests 4.04 itself (DELETE 2.02). It
   * cannot be observed (libcoap's rule): a handler may create a real resource for the path.
   * Conditional requests are left to its handlers.
   * @example
   * ```ts
   * import { CoapServer } from 'libcoap'
   *
   * const server = new CoapServer({ listen: 'coap://[::1]:5683' })
   * const files = new Map<string, Buffer>()
   * server.unknownResource()
   *   .put((req) => (files.set(req.path, req.payload), { code: '2.01' }))
   *   .get((req) => files.get(req.path) ?? { code: '4.04' })
   * ```
   */
  unknownResource(attributes?: Omit<ResourceAttributes, 'observable' | 'notifications'>): ServerResource {
    const existing = this.context.getResource('*')
    if (existing !== undefined) {
      if (attributes !== undefined) throw new RangeError('the unknown resource exists already; give attributes only when creating it')
      return existing as ServerResource
    }
    const checked = Resource.unknown(attributes) // validates, refuses observable
    return this.context.addResource(asUnknown(() => new ServerResource('*', checked.attributes))) as ServerResource
  }

  /**
   * Starts listening on every listen URL; resolves with the bound endpoints. All or nothing: if
   * one address cannot be bound, those already bound are released and the call can be retried.
   */
  listen(): Promise<Endpoint[]> {
    this.#listening ??= this.#bind().catch((err) => {
      this.#listening = undefined
      throw err
    })
    return this.#listening
  }

  async #bind(): Promise<Endpoint[]> {
    const targets: Array<{ proto: CoapUri['proto']; host: string; port: number }> = []
    for (const u of this.#listen) {
      const uri = checkListenUri(u)
      let host = uri.host
      if (isIP(host) === 0) {
        try {
          host = (await lookup(host)).address
        } catch (err) {
          throw new CoapListenError(`cannot resolve listen host '${uri.host}'`, { cause: err })
        }
      }
      targets.push({ proto: uri.proto, host, port: uri.port })
    }
    if (this.context.closed) throw new CoapClosedError('server closed while starting')
    const bound: Endpoint[] = []
    try {
      for (const t of targets) bound.push(this.context.addEndpoint(t))
      for (const g of this.#groups) this.context.joinGroup(g.group, g.interface)
    } catch (err) {
      for (const ep of bound) this.context.removeEndpoint(ep)
      throw err
    }
    return bound
  }

  /**
   * Accepts a custom option (↔ `coap_register_option`): without this, a request carrying an
   * unknown critical (odd) option is answered 4.02 Bad Option before any handler runs.
   */
  registerOption(number: number): this {
    this.context.registerOption(number)
    return this
  }

  /** Bound endpoints (empty before {@link CoapServer.listen}). */
  get endpoints(): readonly Endpoint[] {
    return this.context.endpoints
  }

  /** Stops listening and frees every session and resource. Idempotent. */
  async close(): Promise<void> {
    this.context.close()
  }

  /** Same as {@link CoapServer.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}
