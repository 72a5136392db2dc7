/**
 * `Context` ↔ libcoap's `coap_context_t`: sessions, endpoints and resources, driven by Node's
 * event loop. Everything runs on the JS thread.
 * @module
 */
import '../dispose'
import { randomBytes, X509Certificate } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { isIP } from 'node:net'
import { Method, methodName } from '../codes'
import {
  CoapAbortedError, CoapClosedError, CoapConnectionError, CoapListenError, CoapSendError,
  CoapTimeoutError, CoapTlsError, CoapTooLargeError,
} from '../errors'
import { encodeOptions, isNamedOption, optionUint, uriPath } from '../options'
import {
  checkServerPki, checkServerPsk, clientSecurity, lookupOf, pemBytes, secretBytes,
  type PkiSniEntry, type PskSniEntry, type Secret, type ServerPki, type ServerPsk,
} from '../security'
import { channels, publishServerSessionsClosed, publishSessionEvent } from '../diagnostics'
import { native, type NativeContext, type NativeHandlers, type NativeSession, type TokenKey } from '../native'
import { eventNames, nackReasons, protoNumber, type SessionEventName } from './constants'
import { AsyncQueue } from './async-queue'
import { Observation } from './observation'
import { PendingSend } from './pending-send'
import { progressTracker } from './progress'
import { Pdu } from './pdu'
import { CoapRequest } from './request'
import { Resource, linkAttributes, notificationTypes, type HandlerResult } from './resource'
import { encodeResult } from './result'
import { Session, checkParameters, type PendingRequest, type TransmissionParameters } from './session'
import {
  CONNECTION_LOST, DEFAULT_CODE, RELIABLE_PROTOS, SECURE_PROTOS, SYSTEM_CA_DIR,
  checkAddress, checkCount, checkProto, checkSend, nackError,
} from './checks'
import type { ClientSessionOptions, Endpoint, EndpointOptions, MulticastResponse, SendInit, SendOptions } from './types'

export type { Address, ClientSessionOptions, Endpoint, EndpointOptions, SendInit, SendOptions } from './types'

const endpointIds = new WeakMap<Endpoint, number>()
const DEFAULT_MAX_BODY_SIZE = 8 * 1024 * 1024
/** Past a notification's Max-Age before an observer registers again (RFC 7641 §3.3.1). */
const REREGISTER_SLACK_MS = 2000
/** Block numbers are 20 bits; 1 GiB is as far as 1024-byte blocks reach. */
const MAX_BODY_LIMIT = 2 ** 30
/** Longest string result handed to the native layer as a string (its UTF-8 fits 4 KiB). */
const INLINE_STRING = 1024
/** 4.13 Request Entity Too Large. */
const TOO_LARGE = (4 << 5) | 13

/** Contexts with something outstanding: reachable, so never collected mid-exchange. */
// Small incoming messages arrive here, options first (native ReadMessage): copying them out
// takes a slice of Node's Buffer pool (under 4 KiB) instead of a native Buffer per message.
// Every context of this thread shares it: each handler copies what it needs on entry.
const INBOX = Buffer.alloc(4095)

/** `length` bytes of the inbox from `start`, in a pooled Buffer of their own. */
function fromInbox(start: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length)
  INBOX.copy(out, 0, start, start + length)
  return out
}

const active = new Set<Context>()

/**
 * A libcoap context (↔ `coap_context_t`). Its sockets are watched by one libuv poll handle that
 * keeps Node alive only while something is outstanding (a pending request or a listening
 * endpoint). `close()` (or `await using`) frees everything; pending requests then fail with
 * `ERR_COAP_CLOSED`.
 *
 * Emits `'event'` `(name, session)` for session events, `'error'` `(err, req)` when a resource
 * handler throws (the request is answered with 5.00), and `'observe'`/`'unobserve'`
 * `(resource, session)` when libcoap adds or removes an observer (deregistration, RST, or the
 * session going away). Without an `'error'` listener the error
 * becomes a process warning, never a crash.
 * @example
 * ```ts
 * import { Context, Resource } from 'libcoap/core'
 *
 * await using ctx = new Context()
 * ctx.addResource(new Resource('/hello').handle('GET', () => 'world'))
 * const endpoint = ctx.addEndpoint({ proto: 'udp', host: '::1', port: 0 })
 * const session = ctx.newClientSession({ remote: { host: '::1', port: endpoint.port } })
 * const pdu = await ctx.send(session, { method: 'GET', options: [[11, Buffer.from('hello')]] })
 * console.log(pdu.codeString, pdu.payload.toString()) // 2.05 world
 * session.release()
 * ```
 */
export class Context extends EventEmitter<{
  event: [SessionEventName, Session]
  error: [unknown, CoapRequest | undefined]
  observe: [Resource, Session]
  unobserve: [Resource, Session]
}> {
  #native: NativeContext | undefined
  #shared = new Int32Array(4)
  #sessions = new Map<number, Session>()
  #serverSessions = new WeakMap<NativeSession, Session>()
  #resources: Array<Resource | undefined> = []
  #resourcePaths = new Map<string, Resource>()
  #endpoints: Endpoint[] = []
  #pendingCount = 0
  #active = false
  #tokenBase = randomBytes(4)
  #tokenHex = this.#tokenBase.toString('hex')
  #tokenCounter = randomBytes(4).readUInt32BE(0)
  #asyncSeq = 0
  #separateAfter = 0
  #securityIds = new WeakMap<object, number>()
  #events: Array<[SessionEventName, Session]> = []
  #rootCas = false
  #serverPsk: { keys?: (identity: string) => Secret | undefined; sni?: (sni: string) => PskSniEntry | undefined } | undefined
  #serverPki: { onCommonName?: ServerPki['onCommonName']; sni?: (sni: string) => PkiSniEntry | undefined } | undefined
  #limits: { maxHandshakes?: number; maxIdleSessions?: number; sessionTimeout?: number; keepalive?: number; maxMessageSize?: number } = {}
  #pings = new Map<number, Array<() => void>>()
  #maxBodySize = DEFAULT_MAX_BODY_SIZE
  #reusePort = false
  #blockSize: number | undefined
  #customOptions = new Set<number>()
  #serverParameters: TransmissionParameters | undefined

  constructor() {
    super()
    this.#native = new native.Context(Context.#handlers(new WeakRef(this)), this.#shared, INBOX)
    this.#native.setTokenBase(this.#tokenBase)
    this.#native.setLimits(undefined, undefined, undefined, this.#maxBodySize)
  }

  // The native side holds these strongly, so they reach the context only weakly: an idle context
  // nobody references can be collected (its finalizer frees libcoap's). While anything is
  // outstanding, `active` keeps it reachable.
  static #handlers(ref: WeakRef<Context>): NativeHandlers {
    return {
      response: (sid, token, code, type, mid, payload, options, from) => {
        ref.deref()?._native.response(sid, token, code, type, mid, payload, options, from)
      },
      pong: (sid) => ref.deref()?._native.pong(sid),
      progress: (sid, token, bytes, total, upload) => ref.deref()?._native.progress(sid, token, bytes, total, upload),
      observer: (rid, added, session) => ref.deref()?._native.observer(rid, added, session),
      nack: (sid, token, reason, log) => ref.deref()?._native.nack(sid, token, reason, log),
      event: (session, ev) => ref.deref()?._native.event(session, ev),
      request: (rid, method, type, session, payload, options) => ref.deref()?._native.request(rid, method, type, session, payload, options),
      error: (err) => ref.deref()?._native.error(err),
      hint: (sid, hint) => ref.deref()?._native.hint(sid, hint),
      verify: (sid, cn, der, depth, validated) => ref.deref()?._native.verify(sid, cn, der, depth, validated) ?? false,
      pskKey: (sid, identity) => ref.deref()?._native.pskKey(sid, identity),
      pskSni: (sid, sni) => ref.deref()?._native.pskSni(sid, sni),
      pkiSni: (sid, sni) => ref.deref()?._native.pkiSni(sid, sni),
    }
  }

  /** @internal the native layer's entry points into this context */
  readonly _native: NativeHandlers = {
    response: (sid, token, code, type, mid, payload, options, from) => this.#onResponse(sid, token, code, type, mid, payload, options, from),
    nack: (sid, token, reason, log) => this.#onNack(sid, token, reason, log),
    pong: (sid) => this.#onPong(sid),
    progress: (sid, token, bytes, total, upload) => this.#sessions.get(sid)?.pending.get(token)?.progress?.(bytes, total, upload === 1),
    observer: (rid, added, session) => this.#onObserver(rid, added === 1, session),
    event: (session, ev) => this.#onEvent(session, ev),
    request: (rid, method, type, session, payload, options) => this.#onRequest(rid, method, type, session, payload, options),
    error: (err) => this.#report(err, undefined),
    hint: (ns, hint) => this.#guard(() => this.#onHint(ns, hint), undefined),
    verify: (ns, cn, der, depth, validated) => this.#guard(() => this.#onVerify(ns, cn, der, depth, validated === 1), false),
    pskKey: (sid, identity) => this.#guard(() => this.#onPskKey(identity), undefined),
    pskSni: (sid, sni) => this.#guard(() => this.#onPskSni(sni), undefined),
    pkiSni: (sid, sni) => this.#guard(() => this.#onPkiSni(sni), undefined),
  }

  /**
   * How long (ms) a handler's pending Promise may take and still be answered piggybacked in the
   * ACK of a CON request. 0 (the default, libcoap's own behaviour) sends the empty ACK as soon as
   * the handler returns a pending Promise; later answers always go out as a separate response.
   * Keep it well below ACK_TIMEOUT (2 s), after which clients retransmit.
   */
  get separateResponseAfter(): number {
    return this.#separateAfter
  }

  set separateResponseAfter(ms: number) {
    if (typeof ms !== 'number') throw new TypeError(`separateResponseAfter must be a number of milliseconds, got ${typeof ms}`)
    if (!Number.isInteger(ms) || ms < 0 || ms > 60_000) throw new RangeError(`separateResponseAfter must be an integer 0-60000 ms, got ${ms}`)
    this.#separateAfter = ms
  }

  /** `true` once {@link Context.close} ran. */
  get closed(): boolean {
    return this.#native === undefined
  }

  /** Listening endpoints. */
  get endpoints(): readonly Endpoint[] {
    return this.#endpoints
  }

  #live(): NativeContext {
    if (this.#native === undefined) throw new CoapClosedError('context is closed')
    return this.#native
  }

  /** Opens a client session (↔ `coap_new_client_session`). Release it when done. */
  newClientSession(options: ClientSessionOptions): Session {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object { proto?, remote }')
    const proto = checkProto(options.proto ?? 'udp', 'options')
    const remote = checkAddress(options.remote, 'options.remote')
    if (remote.port === 0) throw new RangeError('options.remote.port must be 1-65535, got 0')
    const ctx = this.#live()
    let securityId: number | undefined
    let security: Session['_security']
    if (SECURE_PROTOS.has(proto)) {
      const given = options.psk ?? options.pki
      if (given === undefined) throw new TypeError(`options.psk or options.pki is required for proto '${proto}'`)
      securityId = this.#securityIds.get(given)
      if (securityId === undefined) {
        const caps = native.capabilities()
        if (options.psk !== undefined && !caps.psk) throw new RangeError(`this build's TLS library (${native.versions().tlsLibrary}) does not support PSK`)
        if (options.pki !== undefined && !caps.pki) throw new RangeError(`this build's TLS library (${native.versions().tlsLibrary}) does not support PKI`)
        const config = clientSecurity(options.psk, options.pki)!
        if (config.pki?.verifyPeer && config.pki.ca === undefined && !this.#rootCas) {
          this.#rootCas = ctx.setRootCas(SYSTEM_CA_DIR) // no CA given: trust what the system trusts
        }
        securityId = ctx.addClientSecurity(config)
        this.#securityIds.set(given, securityId)
      }
      const pki = options.pki
      security = {
        onHint: options.psk?.onHint,
        checkName: pki !== undefined && pki.checkCommonName !== false && pki.verifyPeer !== false ? pki.sni ?? remote.host : undefined,
      }
    } else if (options.psk !== undefined || options.pki !== undefined) {
      throw new TypeError(`options.psk/options.pki need a secured proto ('dtls', 'tls' or 'wss'), got '${proto}'`)
    }
    let n: NativeSession
    try {
      if (options.wsHost !== undefined && typeof options.wsHost !== 'string') throw new TypeError('options.wsHost must be a string')
      n = ctx.newClientSession(protoNumber[proto], remote.host, remote.port, securityId, options.wsHost)
    } catch (err) {
      throw new CoapConnectionError(err instanceof Error ? err.message : String(err), { cause: err })
    }
    const session = new Session(this, n)
    session._security = security
    this.#sessions.set(n.id, session)
    if (channels.sessionCreate.hasSubscribers) channels.sessionCreate.publish({ session })
    return session
  }

  /** Server PSK set-up for DTLS endpoints (↔ `coap_context_set_psk2`). Call before adding them. */
  setPsk(psk: ServerPsk): void {
    const p = checkServerPsk(psk, 'psk')
    if (!native.capabilities().psk) throw new RangeError(`this build's TLS library (${native.versions().tlsLibrary}) does not support PSK`)
    const keys = lookupOf<Secret>(p.keys, 'psk.keys')
    const sni = lookupOf<PskSniEntry>(p.sni, 'psk.sni')
    const fallback = p.key
    this.#serverPsk = {
      keys: keys && fallback !== undefined ? (id) => keys(id) ?? fallback : keys,
      sni,
    }
    this.#live().setServerPsk({
      hint: p.hint === undefined ? undefined : secretBytes(p.hint, 'psk.hint'),
      key: p.key === undefined ? undefined : secretBytes(p.key, 'psk.key'),
      lookup: keys !== undefined,
      sni: sni !== undefined,
    })
  }

  /** Server certificate set-up for DTLS endpoints (↔ `coap_context_set_pki`). Call before adding them. */
  setPki(pki: ServerPki): void {
    const p = checkServerPki(pki, 'pki')
    if (!native.capabilities().pki) throw new RangeError(`this build's TLS library (${native.versions().tlsLibrary}) does not support PKI`)
    const sni = lookupOf<PkiSniEntry>(p.sni, 'pki.sni')
    this.#serverPki = { onCommonName: p.onCommonName, sni }
    this.#live().setServerPki({
      cert: pemBytes(p.cert, 'pki.cert'),
      key: pemBytes(p.key, 'pki.key'),
      ca: p.ca === undefined ? undefined : pemBytes(p.ca, 'pki.ca'),
      verifyPeer: p.verifyPeer ?? p.ca !== undefined,
      verify: true,
      sni: sni !== undefined,
    })
  }

  /** Most DTLS handshakes in progress at once (↔ `coap_context_set_max_handshake_sessions`; libcoap's default 100). */
  get maxHandshakes(): number | undefined {
    return this.#limits.maxHandshakes
  }

  set maxHandshakes(n: number) {
    this.#limits.maxHandshakes = checkCount(n, 'maxHandshakes')
    this.#live().setLimits(n, undefined)
  }

  /** Most idle server sessions per endpoint (↔ `coap_context_set_max_idle_sessions`; 0, libcoap's default, = no limit). */
  get maxIdleSessions(): number | undefined {
    return this.#limits.maxIdleSessions
  }

  set maxIdleSessions(n: number) {
    this.#limits.maxIdleSessions = checkCount(n, 'maxIdleSessions')
    this.#live().setLimits(undefined, n)
  }

  /**
   * Seconds of silence after which libcoap pings the peer of a client session (↔
   * `coap_context_set_keepalive`; 0, the default, never; libcoap 4.3.5 does not ping from server
   * sessions). A peer that does not answer gets a `'keepalive-failure'` event and, on reliable
   * transports, its connection closed.
   */
  get keepalive(): number | undefined {
    return this.#limits.keepalive
  }

  set keepalive(seconds: number) {
    this.#limits.keepalive = checkCount(seconds, 'keepalive')
    this.#live().setReliable(seconds, undefined)
  }

  /**
   * Max-Message-Size announced in our CSM on reliable transports (↔
   * `coap_context_set_csm_max_message_size`); set it before sessions open.
   */
  get maxMessageSize(): number | undefined {
    return this.#limits.maxMessageSize
  }

  set maxMessageSize(bytes: number) {
    if (typeof bytes !== 'number') throw new TypeError(`maxMessageSize must be a number, got ${typeof bytes}`)
    if (!Number.isInteger(bytes) || bytes < 64 || bytes > 0x7fffffff) throw new RangeError(`maxMessageSize must be an integer 64-2147483647, got ${bytes}`)
    this.#limits.maxMessageSize = bytes
    this.#live().setReliable(undefined, bytes)
  }

  /**
   * Largest block size for block-wise transfers (RFC 7959 SZX: 16, 32, …, 1024; ↔
   * `coap_context_set_max_block_size`): the size our large bodies are cut into, and the most we
   * ask a peer for. Set it before sessions open. Default: libcoap's (1024, or what the path's
   * MTU allows).
   */
  get blockSize(): number | undefined {
    return this.#blockSize
  }

  set blockSize(bytes: number) {
    if (typeof bytes !== 'number') throw new TypeError(`blockSize must be a number, got ${typeof bytes}`)
    if (![16, 32, 64, 128, 256, 512, 1024].includes(bytes)) throw new RangeError(`blockSize must be 16, 32, 64, 128, 256, 512 or 1024, got ${bytes}`)
    this.#blockSize = bytes
    this.#live().setLimits(undefined, undefined, undefined, undefined, undefined, bytes)
  }

  /**
   * Whether UDP endpoints added from now on set SO_REUSEPORT (↔ `coap_context_set_reuse_port`,
   * our libcoap patch): contexts in several threads or processes can then listen on one port
   * and the kernel spreads peers over them by address (a peer always reaches the same one,
   * which DTLS sessions need). Default false.
   */
  get reusePort(): boolean {
    return this.#reusePort
  }

  set reusePort(on: boolean) {
    if (typeof on !== 'boolean') throw new TypeError(`reusePort must be a boolean, got ${typeof on}`)
    this.#reusePort = on
    this.#live().setLimits(undefined, undefined, undefined, undefined, on)
  }

  /**
   * Largest body accepted in either direction, in bytes (default 8 MiB; ↔
   * `coap_context_set_max_body_size`). A larger block-wise request to our resources is answered
   * 4.13 with Size1; a larger response to our request, or a larger body we are asked to send,
   * fails with `ERR_COAP_TOO_LARGE`.
   */
  get maxBodySize(): number {
    return this.#maxBodySize
  }

  set maxBodySize(bytes: number) {
    if (typeof bytes !== 'number') throw new TypeError(`maxBodySize must be a number, got ${typeof bytes}`)
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > MAX_BODY_LIMIT) throw new RangeError(`maxBodySize must be an integer 1-${MAX_BODY_LIMIT}, got ${bytes}`)
    this.#maxBodySize = bytes
    this.#live().setLimits(undefined, undefined, undefined, bytes)
  }

  /**
   * Pings the peer (↔ `coap_session_send_ping`: a 7.02 Ping on reliable transports, an empty CON
   * answered by RST on UDP/DTLS). Resolves with the round-trip time in ms.
   */
  ping(session: Session, options: { timeout?: number; signal?: AbortSignal } = {}): Promise<number> {
    if (!(session instanceof Session) || session.context !== this) return Promise.reject(new TypeError('session must be a Session of this context'))
    if (typeof options !== 'object' || options === null) return Promise.reject(new TypeError('options must be an object { timeout?, signal? }'))
    const { timeout = 0, signal } = options
    if (typeof timeout !== 'number') return Promise.reject(new TypeError(`options.timeout must be a number of ms, got ${typeof timeout}`))
    if (!Number.isFinite(timeout) || timeout < 0) return Promise.reject(new RangeError(`options.timeout must be a number of ms >= 0, got ${timeout}`))
    if (signal !== undefined && !(signal instanceof AbortSignal)) return Promise.reject(new TypeError('options.signal must be an AbortSignal'))
    if (!session.valid) return Promise.reject(new CoapClosedError('session has been released'))
    const ctx = this.#native
    if (ctx === undefined) return Promise.reject(new CoapClosedError('context is closed'))
    return new Promise<number>((resolve, reject) => {
      const started = performance.now()
      let timer: NodeJS.Timeout | undefined
      const waiting = this.#pings.get(session.id) ?? []
      this.#pings.set(session.id, waiting)
      const entry: PendingRequest = {
        settle: (err) => {
          if (!session.pending.delete(key)) return
          const i = waiting.indexOf(onPong)
          if (i >= 0) waiting.splice(i, 1)
          if (timer) clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
          this.#pendingCount--
          this.#updateActive()
          if (err) reject(err)
          else resolve(performance.now() - started)
        },
      }
      const key = `ping:${started}:${Math.random()}`
      const onPong = (): void => entry.settle(undefined)
      const onAbort = (): void => entry.settle(new CoapAbortedError('ping aborted', { cause: signal?.reason }))
      session.pending.set(key, entry)
      waiting.push(onPong)
      this.#pendingCount++
      this.#updateActive()
      if (timeout > 0) timer = setTimeout(() => entry.settle(new CoapTimeoutError(`no pong from ${session.remote} within ${timeout} ms`)), timeout)
      if (signal?.aborted) return onAbort()
      signal?.addEventListener('abort', onAbort, { once: true })
      // A DTLS ping before the handshake is done is refused by libcoap: wait for it too.
      this.#whenConnected(session, entry, () => {
        try {
          ctx.ping(session.native)
        } catch (err) {
          entry.settle(new CoapSendError(`cannot ping ${session.remote}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }))
        }
      }, true)
    })
  }

  /**
   * Seconds an idle server session is kept (↔ `coap_context_set_session_timeout`; libcoap's
   * default 300). A handshake that stalls half-way is dropped after 30 s, fixed in libcoap 4.3.5.
   */
  get sessionTimeout(): number | undefined {
    return this.#limits.sessionTimeout
  }

  set sessionTimeout(seconds: number) {
    this.#limits.sessionTimeout = checkCount(seconds, 'sessionTimeout')
    this.#live().setLimits(undefined, undefined, seconds)
  }

  /** Starts listening (↔ `coap_new_endpoint`). Fails with `ERR_COAP_LISTEN` when the address is taken. */
  addEndpoint(options: EndpointOptions): Endpoint {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object { proto?, host, port }')
    const proto = checkProto(options.proto ?? 'udp', 'options')
    const { host, port } = checkAddress(options, 'options')
    if (SECURE_PROTOS.has(proto) && this.#serverPsk === undefined && this.#serverPki === undefined) {
      throw new TypeError(`options.proto '${proto}' needs setPsk() or setPki() first`)
    }
    const ctx = this.#live()
    let id: number, bound: number
    try {
      ;[id, bound] = ctx.addEndpoint(protoNumber[proto], host, port)
    } catch (err) {
      throw new CoapListenError(err instanceof Error ? err.message : String(err), { cause: err })
    }
    const ep: Endpoint = Object.freeze({ proto, host, port: bound })
    endpointIds.set(ep, id)
    this.#endpoints.push(ep)
    this.#updateActive()
    return ep
  }

  /** Stops listening on an endpoint (↔ `coap_free_endpoint`); its sessions go with it. */
  removeEndpoint(endpoint: Endpoint): void {
    const i = this.#endpoints.indexOf(endpoint)
    if (i < 0) throw new RangeError('endpoint is not listening on this context')
    this.#live().removeEndpoint(endpointIds.get(endpoint)!)
    this.#endpoints.splice(i, 1)
    this.#updateActive()
  }

  /** Registers a resource (↔ `coap_add_resource`); handlers may be added to it later. */
  addResource(resource: Resource): Resource {
    if (!(resource instanceof Resource)) throw new TypeError('resource must be a Resource')
    if (this.#resourcePaths.has(resource.path)) throw new RangeError(`a resource is already registered at '${resource.path}'`)
    if (resource._onHandler !== undefined) throw new RangeError(`resource '${resource.path}' already belongs to a context`)
    const ctx = this.#live()
    const id = this.#resources.length
    const notifications = resource.attributes.observable === true ? notificationTypes[resource.attributes.notifications ?? 'non'] : 0
    ctx.addResource(resource.isUnknown ? '' : resource.path.slice(1), id, notifications, linkAttributes(resource.attributes), resource._decidesIfNoneMatch, resource.isUnknown)
    this.#resources.push(resource)
    this.#resourcePaths.set(resource.path, resource)
    resource._onHandler = (method) => this.#native?.registerHandler(id, method)
    resource._notify = () => this.#native?.notify(id) ?? false
    resource._represent = (r) => this.#native?.setStatic(id, r.code, r.contentFormat, r.options, r.payload)
    if (resource._representation !== undefined) resource._represent(resource._representation)
    resource.handlers.forEach((h, method) => h && ctx.registerHandler(id, method))
    return resource
  }

  /**
   * Transmission parameters given to every server session as libcoap creates it (e.g.
   * `defaultLeisure` for answers to group requests, `ackTimeout` for separate responses and
   * CON notifications). `undefined` leaves libcoap's defaults.
   */
  get serverParameters(): Readonly<TransmissionParameters> | undefined {
    return this.#serverParameters
  }

  set serverParameters(p: TransmissionParameters | undefined) {
    this.#serverParameters = p === undefined ? undefined : { ...checkParameters(p, 'serverParameters') }
  }

  /**
   * Joins a multicast group on every UDP endpoint of its address family (↔
   * `coap_join_mcast_group_intf`), e.g. `'224.0.1.187'` or `'ff02::fd'` (All CoAP Nodes), on
   * interface `ifname` or the system's default. Add the endpoints (on a wildcard address) first.
   * libcoap answers group requests after a random delay up to the session's `defaultLeisure`
   * and suppresses error answers (RFC 7252 §8.2).
   */
  joinGroup(group: string, ifname?: string): void {
    if (typeof group !== 'string') throw new TypeError(`group must be a string, got ${typeof group}`)
    if (isIP(group) === 0) throw new RangeError(`group must be a numeric multicast address, got '${group}'`)
    if (ifname !== undefined && typeof ifname !== 'string') throw new TypeError(`ifname must be a string, got ${typeof ifname}`)
    const ctx = this.#live()
    try {
      ctx.joinGroup(group, ifname)
    } catch (err) {
      throw new CoapListenError(err instanceof Error ? err.message : String(err), { cause: err })
    }
  }

  /**
   * Sends a NON request to a group address (RFC 7252 §8.1; the session's remote is the group)
   * and yields every answer, with the member that sent it, until `timeout` ms have passed
   * (default 6000: libcoap's default leisure of 5 s plus a second). `signal` ends it early.
   */
  multicast(session: Session, init: SendInit, options: SendOptions = {}): AsyncQueue<MulticastResponse> {
    checkSend(session, this, { ...init, type: 'NON' }, options)
    if (session.proto !== 'udp') throw new RangeError(`multicast needs a UDP session, got '${session.proto}'`)
    const ctx = this.#live()
    if (!session.valid) throw new CoapClosedError('session has been released')
    const { signal, timeout = 6000 } = options
    if (timeout === 0) throw new RangeError('multicast needs a timeout > 0: answers are collected until it ends')
    this.#registerSent(init.options)
    const key = this.#newToken()
    const cleanup = (): boolean => {
      if (!session.pending.delete(key)) return false
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      this.#pendingCount--
      this.#updateActive()
      return true
    }
    const answers = new AsyncQueue<MulticastResponse>(cleanup)
    const onAbort = (): void => {
      if (cleanup()) answers._fail(new CoapAbortedError('multicast request aborted', { cause: signal?.reason }))
    }
    if (signal?.aborted) {
      answers._fail(new CoapAbortedError('multicast request aborted', { cause: signal.reason }))
      return answers
    }
    const timer = setTimeout(() => {
      if (cleanup()) answers._end()
    }, timeout)
    session.pending.set(key, {
      settle: (err) => {
        if (!cleanup()) return
        if (err) answers._fail(err)
        else answers._end()
      },
      notify: (pdu, from) => answers._deliver({ remote: from ?? session.remote ?? '', pdu }),
    })
    this.#pendingCount++
    this.#updateActive()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      ctx.send(session.native, 1, Method[init.method], key, encodeOptions(init.options ?? []), init.payload)
    } catch (err) {
      session.pending.get(key)?.settle(new CoapSendError(`cannot send to ${session.remote}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }))
    }
    return answers
  }

  /**
   * Tells libcoap an option number is understood (↔ `coap_register_option`). Requests with an
   * unregistered critical (odd-numbered) option are answered 4.02 Bad Option by libcoap before
   * any handler runs; register yours to receive them (`req.option(n)`).
   */
  registerOption(number: number): void {
    if (typeof number !== 'number') throw new TypeError(`option number must be a number, got ${typeof number}`)
    if (!Number.isInteger(number) || number < 1 || number > 65535) throw new RangeError(`option number must be an integer 1-65535, got ${number}`)
    this.#live().registerOption(number)
    this.#customOptions.add(number)
  }

  /**
   * A request may carry options libcoap does not know; the peer echoes them in errors such as
   * 4.02, which libcoap would discard as unknown critical options unless registered.
   */
  #registerSent(options: ReadonlyArray<readonly [number, Buffer]> | undefined): void {
    if (options === undefined) return
    for (const [n] of options) if (n & 1 && !isNamedOption(n) && !this.#customOptions.has(n)) this.registerOption(n)
  }

  /** The resource registered at a path, if any. */
  getResource(path: string): Resource | undefined {
    return this.#resourcePaths.get(path)
  }

  /**
   * Sends a request on a client session and resolves with the response PDU (↔ `coap_send` and
   * the response handler). CON requests are retransmitted by libcoap; failures reject with a
   * {@link libcoap!CoapError}.
   */
  send(session: Session, init: SendInit, options: SendOptions = {}): Promise<Pdu> {
    try {
      checkSend(session, this, init, options)
    } catch (err) {
      return Promise.reject(err)
    }
    return this._transmit(session, Method[init.method], init.type === 'NON', this._encodeRequestOptions(init.options ?? []), init.payload, options)
  }

  /** @internal Request options in the native flat form; custom odd (critical) ones are registered first. */
  _encodeRequestOptions(options: ReadonlyArray<readonly [number, Buffer]>): Buffer | undefined {
    this.#registerSent(options)
    return encodeOptions(options)
  }

  /**
   * @internal {@link Context.send} after validation, with the options already encoded:
   * CoapClient keeps them per URL.
   */
  _transmit(session: Session, method: number, non: boolean, flatOptions: Buffer | undefined, payload: Buffer | undefined, options: SendOptions): Promise<Pdu> {
    const { signal, timeout = 0, onProgress } = options
    if (signal?.aborted) return Promise.reject(new CoapAbortedError('request aborted', { cause: signal.reason }))
    if (payload !== undefined && payload.length > this.#maxBodySize) {
      return Promise.reject(new CoapTooLargeError(`request body of ${payload.length} bytes is over maxBodySize (${this.#maxBodySize})`))
    }
    if (!session.valid) return Promise.reject(new CoapClosedError('session has been released'))
    const ctx = this.#native
    if (ctx === undefined) return Promise.reject(new CoapClosedError('context is closed'))
    const key = this.#newToken()

    const tracker = onProgress && progressTracker(onProgress, (err) => this.#report(err, undefined))
    const entry = new PendingSend(session, key, signal, tracker, this.#released, this.#cancel)
    session.pending.set(key, entry)
    this.#pendingCount++
    this.#updateActive()
    entry.arm(timeout)
    this.#whenConnected(session, entry, () => {
      try {
        ctx.send(session.native, non ? 1 : 0, method, key, flatOptions, payload)
      } catch (err) {
        entry.settle(new CoapSendError(`cannot send to ${session.remote}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }))
      }
    })
    return entry.promise
  }

  // A request JS gave up on: libcoap would go on retransmitting it for up to ~93 s, and with
  // NSTART 1 every later request to that peer would wait behind it.
  readonly #cancel = (p: PendingSend): void => {
    if (p.session.valid && p.session.pending.has(p.key)) this.#native?.cancelRequest(p.session.native, p.key)
  }

  // A request settled: one function for all of them (PendingSend).
  readonly #released = (): void => {
    this.#pendingCount--
    this.#updateActive()
  }

  /** The next token: #tokenBase (set natively) followed by this counter, which keys the request. */
  #newToken(): number {
    this.#tokenCounter = (this.#tokenCounter + 1) >>> 0
    return this.#tokenCounter
  }

  /**
   * Observes a resource (RFC 7641): sends `init` (GET or FETCH) with Observe=0 and returns the
   * notifications as an {@link Observation}. `timeout` bounds the wait for the first response;
   * `signal` and the observation's `return()` deregister (↔ `coap_cancel_observe`). An active
   * observation keeps Node alive.
   */
  observe(session: Session, init: SendInit, options: SendOptions = {}): Observation {
    checkSend(session, this, init, options)
    if (init.method !== 'GET' && init.method !== 'FETCH') throw new RangeError(`observe needs method GET or FETCH, got ${init.method}`)
    const ctx = this.#live()
    if (!session.valid) throw new CoapClosedError('session has been released')
    const { signal, timeout = 0 } = options
    const token = this.#newToken()
    const key = token
    let timer: NodeJS.Timeout | undefined
    const cleanup = (): boolean => {
      if (!session.pending.delete(key)) return false
      if (timer) clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      this.#pendingCount--
      this.#updateActive()
      return true
    }
    const observation = new Observation(() => {
      if (cleanup()) this.#native?.cancelObserve(session.native, token)
    })
    const onAbort = (): void => {
      if (cleanup()) this.#native?.cancelObserve(session.native, token)
      observation._fail(new CoapAbortedError('observation aborted', { cause: signal?.reason }))
    }
    const entry: PendingRequest = {
      settle: (err) => {
        if (!cleanup()) return
        if (err) observation._fail(err)
        else observation._end()
      },
      notify: (pdu) => {
        if (timer) clearTimeout(timer)
        timer = undefined
        if (!observation._push(pdu)) {
          cleanup()
          return
        }
        // RFC 7641 §3.3.1: a notification is fresh for its Max-Age. With nothing newer by then the
        // server may have forgotten us (restarted): register again, with the same token.
        const maxAge = (pdu.option(14)[0] as number | undefined) ?? 60
        timer = setTimeout(() => {
          timer = undefined
          // The answer starts a new sequence (a restarted server counts from anywhere).
          observation._restart()
          register()
        }, maxAge * 1000 + REREGISTER_SLACK_MS)
      },
    }
    const options6: Array<readonly [number, Buffer]> = [[6, Buffer.alloc(0)], ...(init.options ?? [])]
    const register = (): void => {
      this.#whenConnected(session, entry, () => {
        try {
          ctx.send(session.native, init.type === 'NON' ? 1 : 0, Method[init.method], token, encodeOptions(options6), init.payload)
        } catch (err) {
          entry.settle(new CoapSendError(`cannot send to ${session.remote}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }))
        }
      })
    }
    if (signal?.aborted) {
      observation._fail(new CoapAbortedError('observation aborted', { cause: signal.reason }))
      return observation
    }
    session.pending.set(key, entry)
    this.#pendingCount++
    this.#updateActive()
    if (timeout > 0) {
      timer = setTimeout(() => entry.settle(new CoapTimeoutError(`no response from ${session.remote} within ${timeout} ms`)), timeout)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    register()
    return observation
  }

  /**
   * Runs `transmit` once the session can take it. libcoap's own wait for a TCP/TLS/WebSocket
   * connection and its CSM blocks the thread (coap_client_delay_first), so nothing is handed
   * to libcoap before the session is established; meanwhile the request stays pending here.
   * `handshake`: wait for a DTLS handshake too (libcoap queues requests, but refuses pings).
   */
  #whenConnected(session: Session, entry: PendingRequest, transmit: () => void, handshake = false): void {
    const proto = session.proto ?? 'udp'
    const waits = RELIABLE_PROTOS.has(proto) || (handshake && proto === 'dtls')
    if (!waits || session.state === 'established') return transmit()
    if (session.state === 'none') return entry.settle(new CoapConnectionError(`connection to ${session.remote} is closed`))
    session._waiters.push((err) => {
      if (err) entry.settle(err)
      else if (this.#native !== undefined) transmit()
    })
  }

  /**
   * Frees the context and everything in it (↔ `coap_free_context`). Pending requests fail with
   * `ERR_COAP_CLOSED` first, because libcoap drops its send queue silently. Idempotent.
   */
  close(): void {
    const ctx = this.#native
    if (ctx === undefined) return
    this.#native = undefined
    active.delete(this)
    const closed = new CoapClosedError('context closed')
    for (const s of this.#sessions.values()) {
      for (const p of [...s.pending.values()]) p.settle(closed)
      if (channels.sessionClose.hasSubscribers) channels.sessionClose.publish({ session: s })
    }
    publishServerSessionsClosed(this)
    this.#sessions.clear()
    this.#endpoints = []
    for (const r of this.#resources) if (r) {
      r._onHandler = undefined
      r._notify = undefined
      r._represent = undefined
    }
    ctx.close()
  }

  /** Same as {@link Context.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close()
  }

  /** @internal */
  _forgetSession(session: Session): void {
    if (this.#sessions.delete(session.id) && channels.sessionClose.hasSubscribers) channels.sessionClose.publish({ session })
    this.#pings.delete(session.id)
    if (session.pending.size === 0) return
    const err = new CoapClosedError('session released')
    for (const p of [...session.pending.values()]) p.settle(err)
  }

  #updateActive(): void {
    const isActive = this.#pendingCount > 0 || this.#endpoints.length > 0
    if (isActive === this.#active || this.#native === undefined) return
    this.#active = isActive
    if (isActive) active.add(this)
    else active.delete(this)
    this.#native.setActive(isActive)
  }

  #report(err: unknown, req: CoapRequest | undefined): void {
    // Deferred: listeners must never run inside a libcoap callback.
    queueMicrotask(() => {
      if (this.listenerCount('error') > 0) this.emit('error', err, req)
      else process.emitWarning(err instanceof Error ? err : new Error(String(err)), { code: 'LIBCOAP_HANDLER_ERROR' })
    })
  }

  #onResponse(sid: number, token: TokenKey, code: number, type: number, mid: number, inPayload?: Buffer | number, inOptions?: Buffer | number, from?: string): void {
    const pending = this.#sessions.get(sid)?.pending.get(token)
    if (pending === undefined) return
    const options = typeof inOptions === 'number' ? fromInbox(0, inOptions) : inOptions
    const payload = typeof inPayload === 'number' ? fromInbox(options?.length ?? 0, inPayload) : inPayload
    const pdu = new Pdu(code, type, mid, token, payload, options, this.#tokenHex)
    // libcoap stopped a Block2 body over maxBodySize (the block it hands over says 4.13), or a
    // body came whole in one message (TCP) over it.
    if ((code === TOO_LARGE && pdu.option(23).length > 0) || (payload !== undefined && payload.length > this.#maxBodySize)) {
      pending.settle(new CoapTooLargeError(`response body from ${this.#sessions.get(sid)?.remote} is over maxBodySize (${this.#maxBodySize})`))
      return
    }
    if (pending.notify) pending.notify(pdu, from)
    else pending.settle(undefined, pdu)
  }

  #onObserver(rid: number, added: boolean, ns: NativeSession): void {
    const resource = this.#resources[rid]
    if (resource === undefined) return
    resource._observers = Math.max(0, resource._observers + (added ? 1 : -1))
    const session = this.#sessionFor(ns)
    void session.remote
    queueMicrotask(() => this.emit(added ? 'observe' : 'unobserve', resource, session))
  }

  #onPong(sid: number): void {
    const waiting = this.#pings.get(sid)
    if (waiting === undefined || waiting.length === 0) return
    // One Pong answers every ping outstanding on the session (pings carry no token).
    for (const settle of waiting.splice(0)) settle()
  }

  #onNack(sid: number, token: TokenKey, reason: number, log: string): void {
    const session = this.#sessions.get(sid)
    const pending = session?.pending.get(token)
    if (!session || !pending) return
    let why = nackReasons[reason] ?? 'not-deliverable'
    // libcoap reports a TLS connection that closes after its handshake as a TLS failure too.
    if (why === 'tls-failed' && RELIABLE_PROTOS.has(session.proto ?? 'udp') && session._wasEstablished) why = 'not-deliverable'
    // On TCP/TLS/WebSockets there is no RST: libcoap reports a peer's Abort (7.05) that way.
    if (why === 'rst' && RELIABLE_PROTOS.has(session.proto ?? 'udp')) {
      pending.settle(new CoapConnectionError(`${session.remote} aborted the connection${log ? `: ${log}` : ''}`))
      return
    }
    pending.settle(nackError(why, session.remote ?? 'peer', log))
  }

  #onEvent(ns: NativeSession, ev: number): void {
    const name = eventNames.get(ev)
    const session = this.#sessions.get(ns.id) ?? (ns.isClient === false ? this.#sessionFor(ns) : undefined)
    if (name === undefined || session === undefined) return
    if (name === 'tcp-connected') session._tcpConnected = true
    // A TLS server that refuses our key or certificate just closes the connection it accepted.
    const tlsRefused = (session.proto === 'tls' || session.proto === 'wss') && session._tcpConnected && !session._wasEstablished && CONNECTION_LOST.has(name)
    const refusal = (): CoapTlsError => new CoapTlsError(`TLS handshake with ${session.remote} failed (${name}): the server closed the connection; wrong key, identity or certificate?`)
    if (session.side === 'client' && RELIABLE_PROTOS.has(session.proto ?? 'udp') && CONNECTION_LOST.has(name) && session.pending.size > 0) {
      // The connection is gone (peer closed or aborted it, keepalive failed): nothing in flight
      // on it will be answered, whatever libcoap still holds.
      const err = tlsRefused ? refusal() : new CoapConnectionError(`connection to ${session.remote} lost (${name})`)
      const pending = [...session.pending.values()]
      queueMicrotask(() => {
        for (const p of pending) p.settle(err)
      })
    }
    // Now, inside libcoap's callback: the request that made the session is handled right after.
    if (name === 'server-session-new' && this.#serverParameters !== undefined) session.native.setParameters(this.#serverParameters)
    if (name === 'session-connected' || name === 'dtls-connected') session._wasEstablished = true
    // TLS raises 'dtls-connected' too, before its CSM exchange: only DTLS is ready then.
    const connected = name === 'session-connected' || (name === 'dtls-connected' && session.proto === 'dtls')
    if (session._waiters.length > 0 && (connected || CONNECTION_LOST.has(name))) {
      const err = connected
        ? undefined
        : SECURE_PROTOS.has(session.proto ?? 'udp') && (name === 'dtls-closed' || name === 'dtls-error')
          ? new CoapTlsError(`TLS handshake with ${session.remote} failed (${name})`)
          : tlsRefused ? refusal() : new CoapConnectionError(`connection to ${session.remote} failed (${name})`)
      const waiters = session._waiters.splice(0)
      // Out of libcoap's callback: it raises 'session-connected' before it is ready to send.
      queueMicrotask(() => {
        for (const w of waiters) w(err)
      })
    }
    void session.remote // read now: libcoap may free a server session right after this event
    void session.proto
    void session.pskIdentity
    void session.side
    // Deferred out of libcoap's callback, but never past a request: a handler that is about to
    // run flushes first, so it sees a session's events (e.g. 'dtls-connected') before its data.
    this.#events.push([name, session])
    if (this.#events.length === 1) queueMicrotask(() => this.#flushEvents())
  }

  #flushEvents(): void {
    const events = this.#events
    if (events.length === 0) return
    this.#events = []
    for (const [name, session] of events) {
      try {
        publishSessionEvent(name, session)
        session._emitEvent(name)
        this.emit('event', name, session)
      } catch (err) {
        this.#report(err, undefined)
      }
    }
  }

  // Security callbacks run inside the TLS library: they must answer synchronously and never throw.
  #guard<T>(fn: () => T, fallback: T): T {
    try {
      return fn()
    } catch (err) {
      this.#report(err, undefined)
      return fallback
    }
  }

  #onHint(ns: NativeSession | undefined, hint: string): [Buffer, Buffer] | undefined {
    const answer = (ns && this.#sessions.get(ns.id))?._security?.onHint?.(hint)
    if (answer === undefined) return undefined
    return [secretBytes(answer.identity, 'onHint().identity'), secretBytes(answer.key, 'onHint().key')]
  }

  #onVerify(ns: NativeSession | undefined, cn: string, der: Buffer, depth: number, validated: boolean): boolean {
    if (ns === undefined) return false
    if (ns.isClient) {
      const client = this.#sessions.get(ns.id)
      if (client === undefined) return false
      const name = client._security?.checkName
      if (depth !== 0 || name === undefined) return true
      const cert = new X509Certificate(der)
      const ok = (isIP(name) ? cert.checkIP(name) : cert.checkHost(name)) !== undefined || cn.toLowerCase() === name.toLowerCase()
      if (ok) client._setPeerCommonName(cn)
      return ok
    }
    if (depth === 0) this.#sessionFor(ns)._setPeerCommonName(cn)
    return this.#serverPki?.onCommonName?.(cn, { depth, validated }) ?? true
  }

  #onPskKey(identity: Buffer): Buffer | undefined {
    const key = this.#serverPsk?.keys?.(identity.toString('utf8'))
    return key === undefined ? undefined : secretBytes(key, 'psk.keys()')
  }

  #onPskSni(sni: string): [Buffer | undefined, Buffer] | undefined {
    const entry = this.#serverPsk?.sni?.(sni)
    if (entry === undefined) return undefined
    return [entry.hint === undefined ? undefined : secretBytes(entry.hint, 'psk.sni().hint'), secretBytes(entry.key, 'psk.sni().key')]
  }

  #onPkiSni(sni: string): [Buffer, Buffer] | undefined {
    const entry = this.#serverPki?.sni?.(sni)
    return entry === undefined ? undefined : [pemBytes(entry.cert, 'pki.sni().cert'), pemBytes(entry.key, 'pki.sni().key')]
  }

  #sessionFor = (n: NativeSession): Session => {
    let s = this.#serverSessions.get(n)
    if (s === undefined) {
      s = new Session(this, n)
      this.#serverSessions.set(n, s)
    }
    return s
  }

  #onRequest(rid: number, method: number, type: number, ns: NativeSession, inPayload?: Buffer | number, inOptions?: Buffer | number): unknown {
    const options = typeof inOptions === 'number' ? fromInbox(0, inOptions) : inOptions
    const payload = typeof inPayload === 'number' ? fromInbox(options?.length ?? 0, inPayload) : inPayload
    const shared = this.#shared
    const resource = this.#resources[rid]
    const observed = resource?._observed
    // After notify(value), observers (and new registrations) get that value, not the handler's.
    const handler = observed !== undefined && (method === 1 || method === 5) && optionUint(options, 6) === 0
      ? () => observed
      : resource?.handlers[method]
    if (resource === undefined || handler === undefined) {
      shared[0] = 133 // 4.05: the handler was removed after libcoap dispatched
      return undefined
    }
    if (this.#events.length > 0) this.#flushEvents()
    // Bodies that arrived in one message (TCP allows large ones) meet the same limit as
    // block-wise ones, which libcoap refuses itself.
    if (payload !== undefined && payload.length > this.#maxBodySize) {
      shared[2] = 0
      return this.#writeResult(method, { code: '4.13', options: { Size1: this.#maxBodySize } }, undefined)
    }
    // The unknown resource gets the Uri-Path options: the request's path is its own.
    const path = resource.isUnknown ? uriPath(options) : resource.path
    const req = new CoapRequest(methodName(method) ?? 'GET', type, path, ns, this.#sessionFor, payload, options)
    shared[2] = 0
    let out: ReturnType<typeof handler>
    try {
      out = handler(req)
    } catch (err) {
      shared[0] = 160
      this.#report(err, req)
      return undefined
    }
    if (out !== null && typeof out === 'object' && typeof (out as PromiseLike<HandlerResult>).then === 'function') {
      const id = (this.#asyncSeq = (this.#asyncSeq + 1) | 0)
      shared[0] = 0
      shared[3] = id
      let timer: NodeJS.Timeout | undefined
      if (this.#separateAfter > 0 && type === 0) {
        shared[2] = 2 // hold the ACK until the answer or the timer, whichever comes first
        timer = setTimeout(() => this.#native?.separate(id), this.#separateAfter).unref()
      }
      ;(out as PromiseLike<HandlerResult>).then(
        (result) => {
          clearTimeout(timer)
          this.#completeAsync(id, method, result, req)
        },
        (err) => {
          clearTimeout(timer)
          this.#report(err, req)
          this.#native?.completeAsync(id, 160, -1)
        },
      )
      return undefined
    }
    return this.#writeResult(method, out as HandlerResult, req)
  }

  #completeAsync(id: number, method: number, result: HandlerResult, req: CoapRequest): void {
    const ctx = this.#native
    if (ctx === undefined) return
    const shared = this.#shared
    const out = this.#writeResult(method, result, req)
    const [payload, options] = shared[2] ? (out as [Buffer | undefined, Buffer]) : [out as Buffer | string | undefined, undefined]
    // A later answer is kept natively until libcoap sends it: as a Buffer.
    ctx.completeAsync(id, shared[0], shared[1], typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload, options)
  }

  /** Puts code and content format in the shared slots; returns the payload (and options). */
  #writeResult(method: number, result: HandlerResult, req: CoapRequest | undefined): unknown {
    const shared = this.#shared
    shared[2] = 0
    try {
      if (result === undefined || result === null) {
        shared[0] = DEFAULT_CODE[method]
        shared[1] = -1
        return undefined
      }
      if (typeof result === 'string') {
        shared[0] = DEFAULT_CODE[method]
        shared[1] = 0
        // Short strings go to the native side as they are (written into the PDU as UTF-8).
        return result.length <= INLINE_STRING ? result : Buffer.from(result, 'utf8')
      }
      if (result instanceof Uint8Array) {
        shared[0] = DEFAULT_CODE[method]
        shared[1] = -1
        return Buffer.isBuffer(result) ? result : Buffer.from(result.buffer, result.byteOffset, result.byteLength)
      }
      const r = encodeResult(method, result, `handler for ${req?.method} ${req?.path}`)
      shared[0] = r.code
      shared[1] = r.contentFormat
      if (r.options === undefined) return r.payload
      shared[2] = 1
      return [r.payload, r.options]
    } catch (err) {
      shared[0] = 160
      shared[1] = -1
      shared[2] = 0
      this.#report(err, req)
      return undefined
    }
  }
}
