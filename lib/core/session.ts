/**
 * `Session` ↔ libcoap's `coap_session_t`.
 * @module
 */
import { EventEmitter } from 'node:events'
import type { NativeSession } from '../native'
import type { Proto } from '../uri'
import { protoName, type SessionEventName } from './constants'
import type { Context } from './context'

/** A request waiting for its response. @internal */
export interface PendingRequest {
  settle(err: Error | undefined, value?: unknown): void
  /** Set for observations: every response goes here instead of settling. */
  notify?(pdu: import('./pdu').Pdu, from?: string): void
  /** Told of block-wise progress. */
  progress?(bytes: number, total: number, upload: boolean): void
}

const sessionStates = ['none', 'connecting', 'handshake', 'csm', 'established'] as const

/**
 * RFC 7252 §4.8 transmission parameters (↔ `coap_session_set_ack_timeout`, `_ack_random_factor`,
 * `_max_retransmit`, `_nstart`, `_default_leisure`, `_probing_rate`). Times in seconds.
 * @example
 * ```ts
 * import { CoapClient, type TransmissionParameters } from 'libcoap'
 *
 * // A lossy, slow radio link: wait longer before retransmitting, and give up later.
 * const parameters: TransmissionParameters = { ackTimeout: 5, ackRandomFactor: 2, maxRetransmit: 6 }
 * const client = new CoapClient({ parameters, timeout: 0 })
 * await client.get('coap://[fd00::17]/status')
 * ```
 */
export interface TransmissionParameters {
  /** ACK_TIMEOUT, seconds (default 2; 1–60: libcoap takes no less than 1). */
  ackTimeout?: number
  /** ACK_RANDOM_FACTOR (default 1.5; 1–4). */
  ackRandomFactor?: number
  /** MAX_RETRANSMIT (default 4; 0–20). */
  maxRetransmit?: number
  /** NSTART, requests in flight per peer (default 1; 1–100). */
  nstart?: number
  /** DEFAULT_LEISURE for multicast answers, seconds (default 5; 0–60). */
  defaultLeisure?: number
  /** PROBING_RATE, bytes/second (default 1; 1–1e6). */
  probingRate?: number
}

const PARAMETER_RANGES: Record<keyof TransmissionParameters, [number, number, boolean]> = {
  ackTimeout: [1, 60, false],
  ackRandomFactor: [1, 4, false],
  maxRetransmit: [0, 20, true],
  nstart: [1, 100, true],
  defaultLeisure: [0, 60, false],
  probingRate: [1, 1_000_000, true],
}

/** Validates transmission parameters (TypeError/RangeError naming the field). @internal */
export function checkParameters(p: unknown, name = 'parameters'): TransmissionParameters {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new TypeError(`${name} must be an object`)
  for (const [k, v] of Object.entries(p)) {
    const range = PARAMETER_RANGES[k as keyof TransmissionParameters]
    if (range === undefined) throw new TypeError(`${name}: unknown parameter '${k}'`)
    if (v === undefined) continue
    if (typeof v !== 'number') throw new TypeError(`${name}.${k} must be a number, got ${typeof v}`)
    const [min, max, integer] = range
    if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      throw new RangeError(`${name}.${k} must be ${integer ? 'an integer ' : ''}${min}–${max}, got ${v}`)
    }
  }
  return p as TransmissionParameters
}

/**
 * A CoAP session (↔ `coap_session_t`). A client session holds one libcoap reference, dropped by
 * {@link Session.release} once every {@link Session.reference} has been matched. Server sessions
 * belong to libcoap; their wrapper stops being {@link Session.valid} when libcoap frees them.
 *
 * Emits `'event'` with a {@link SessionEventName} (libcoap's `COAP_EVENT_*`).
 * @example
 * ```ts
 * import { CoapServer } from 'libcoap'
 *
 * const server = new CoapServer({ listen: 'coap://[::]:5683' })
 * server.on('session', (session) => {
 *   console.log('new peer', session.remote, session.proto)
 *   session.setParameters({ ackTimeout: 3 })
 *   session.on('event', (name) => console.log(`${session}: ${name}`))
 * })
 * await server.listen()
 * ```
 */
export class Session extends EventEmitter<{ event: [SessionEventName] }> {
  /** The context this session belongs to (kept reachable while the session lives). */
  readonly context: Context
  /** Free for the application's use (↔ `coap_session_set_app_data`). */
  appData: unknown = undefined
  /** @internal */
  readonly native: NativeSession
  /** @internal */
  readonly pending = new Map<string | number, PendingRequest>()
  /** @internal the session got as far as 'session-connected' / 'dtls-connected' */
  _wasEstablished = false
  /** @internal the TCP connection under a TLS/WSS session was made ('tcp-connected') */
  _tcpConnected = false
  /** @internal requests waiting for a reliable connection (and its CSM) to be established */
  readonly _waiters: Array<(err: Error | undefined) => void> = []
  /** @internal client-side security callbacks and the name the server certificate must carry */
  _security: { onHint?: (hint: string) => { identity: unknown; key: unknown } | undefined; checkName?: string } | undefined
  #refs = 1
  #peerCommonName: string | undefined
  #remote: string | undefined
  #pskIdentity: string | undefined
  #side: 'client' | 'server' | undefined
  #proto: Proto | undefined

  /** @internal */
  constructor(context: Context, native: NativeSession) {
    super()
    this.context = context
    this.native = native
  }

  /** Numeric id, unique in this process. */
  get id(): number {
    return this.native.id
  }

  /** `false` once released, or once libcoap freed a server session. */
  get valid(): boolean {
    return this.#refs > 0 && this.native.valid
  }

  /** Transport protocol. */
  get proto(): Proto | undefined {
    this.#proto ??= protoName(this.native.proto)
    return this.#proto
  }

  /** `'client'` or `'server'` side. */
  get side(): 'client' | 'server' | undefined {
    if (this.#side === undefined) {
      const c = this.native.isClient
      this.#side = c === undefined ? undefined : c ? 'client' : 'server'
    }
    return this.#side
  }

  /** Connection state (↔ `COAP_SESSION_STATE_*`, lower case). */
  get state(): (typeof sessionStates)[number] | undefined {
    const s = this.native.state
    return s === undefined ? undefined : sessionStates[s]
  }

  /** Remote address as `'ip:port'` (`'[ip6]:port'`); still known after the session ended. */
  get remote(): string | undefined {
    this.#remote ??= this.native.remote
    return this.#remote
  }

  /** Local address as `'ip:port'`. */
  get local(): string | undefined {
    return this.native.local
  }

  /** Path MTU libcoap sizes PDUs for (↔ `coap_session_set_mtu`; libcoap's default is 1152). */
  get mtu(): number | undefined {
    return this.native.valid ? this.native.mtu : undefined
  }

  set mtu(value: number) {
    if (typeof value !== 'number') throw new TypeError(`mtu must be a number, got ${typeof value}`)
    if (!Number.isInteger(value) || value < 64 || value > 65535) throw new RangeError(`mtu must be an integer 64-65535, got ${value}`)
    if (!this.valid) throw new RangeError('mtu cannot be set on a released session')
    this.native.mtu = value
  }

  /**
   * Largest PDU libcoap will send on this session (↔ `coap_session_max_pdu_size`); on
   * TCP/TLS/WebSockets it follows the peer's CSM, so it is known once the session is established.
   */
  get maxPduSize(): number | undefined {
    // libcoap blocks the thread waiting for the CSM if asked earlier.
    if (this.native.isClient && this.proto !== 'udp' && this.proto !== 'dtls' && this.state !== 'established') return undefined
    return this.native.maxPduSize
  }

  /**
   * The PSK identity in use (↔ `coap_session_get_psk_identity`): on a server session the one the
   * client presented, on a client session our own.
   */
  get pskIdentity(): string | undefined {
    this.#pskIdentity ??= this.native.pskIdentity?.toString('utf8')
    return this.#pskIdentity
  }

  /** Common Name of the peer's certificate (PKI), once the handshake checked it. */
  get peerCommonName(): string | undefined {
    return this.#peerCommonName
  }

  /** @internal */
  _setPeerCommonName(cn: string): void {
    this.#peerCommonName = cn
  }

  /** Sets RFC 7252 transmission parameters for this session (↔ `coap_session_set_*`). */
  setParameters(parameters: TransmissionParameters): void {
    checkParameters(parameters)
    if (!this.valid) throw new RangeError('parameters cannot be set on a released session')
    this.native.setParameters(parameters)
  }

  /** Adds a reference (↔ `coap_session_reference`); each needs its own {@link Session.release}. */
  reference(): this {
    if (!this.valid) throw new RangeError('cannot reference a released session')
    this.#refs++
    return this
  }

  /**
   * Drops a reference (↔ `coap_session_release`). The last one fails this session's pending
   * requests with `ERR_COAP_CLOSED` and lets libcoap free the session. Extra calls do nothing.
   */
  release(): void {
    if (this.#refs === 0) return
    if (--this.#refs > 0) return
    this.context._forgetSession(this)
    this.native.release()
  }

  /** libcoap's description of the session (↔ `coap_session_str`). */
  override toString(): string {
    return this.native.toString()
  }

  /** @internal */
  _emitEvent(name: SessionEventName): void {
    this.emit('event', name)
  }
}
