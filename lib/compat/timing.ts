/**
 * node-coap's `parameters`, `updateTiming()` and `defaultTiming()`: RFC 7252 §4.8 transmission
 * parameters shared by every compat request and server, with the derived times of §4.8.2.
 * @module
 */
import { checkParameters, type TransmissionParameters } from '../core/session'

/** The settings {@link updateTiming} takes (times in seconds, `piggybackReplyMs` in ms). */
export interface ParametersUpdate {
  /** ACK_TIMEOUT in seconds (default 2). libcoap takes 1 to 60; below 1 is a `RangeError` (node-coap allows less). */
  ackTimeout?: number
  /** ACK_RANDOM_FACTOR (default 1.5; 1 to 4). */
  ackRandomFactor?: number
  /** MAX_RETRANSMIT (default 4; 0 to 20). */
  maxRetransmit?: number
  /** NSTART (default 1; 1 to 100). */
  nstart?: number
  /** DEFAULT_LEISURE in seconds (default 5). */
  defaultLeisure?: number
  /** PROBING_RATE in bytes/second (default 1). */
  probingRate?: number
  /** MAX_LATENCY in seconds (default 100); only enters the derived times. */
  maxLatency?: number
  /** How long a server waits for `res.end()` before sending an empty ACK (default 50 ms). */
  piggybackReplyMs?: number
  /** Accepted and ignored (libcoap sizes messages and blocks itself). */
  maxPayloadSize?: number
  /** Accepted and ignored. */
  maxMessageSize?: number
  /** Accepted and ignored (libcoap never ACKs NON requests). */
  sendAcksForNonConfirmablePackets?: boolean
  /** Accepted and ignored (no cache to prune). */
  pruneTimerPeriod?: number
}

/** The current parameters plus the times derived from them (RFC 7252 §4.8.2), in seconds. */
export interface Parameters {
  ackTimeout: number
  ackRandomFactor: number
  maxRetransmit: number
  nstart: number
  defaultLeisure: number
  probingRate: number
  maxLatency: number
  piggybackReplyMs: number
  /** Default CoAP port, 5683. */
  coapPort: number
  maxTransmitSpan: number
  maxTransmitWait: number
  processingDelay: number
  maxRTT: number
  exchangeLifetime: number
  nonLifetime: number
}

const DEFAULTS = {
  ackTimeout: 2,
  ackRandomFactor: 1.5,
  maxRetransmit: 4,
  nstart: 1,
  defaultLeisure: 5,
  probingRate: 1,
  maxLatency: 100,
  piggybackReplyMs: 50,
} as const

const KEYS = new Set(Object.keys(DEFAULTS))
// node-coap settings with no meaning here: libcoap sizes messages and blocks itself, never ACKs
// NON requests, and keeps no cache to prune.
const IGNORED = new Set(['maxPayloadSize', 'maxMessageSize', 'sendAcksForNonConfirmablePackets', 'pruneTimerPeriod'])

/**
 * The parameters in force. Change them with {@link updateTiming}: assigning fields directly is
 * neither validated nor applied to the clients agents have open.
 * @example
 * ```ts
 * import { parameters, updateTiming } from 'libcoap/compat'
 *
 * console.log(parameters.exchangeLifetime) // 247 (seconds, RFC 7252 defaults)
 * updateTiming({ maxRetransmit: 2 })
 * console.log(parameters.maxRetransmit, parameters.exchangeLifetime) // 2 211
 * ```
 */
export const parameters: Readonly<Parameters> = derive({ ...DEFAULTS })

let generation = 0

function derive(p: Omit<Parameters, 'coapPort' | 'maxTransmitSpan' | 'maxTransmitWait' | 'processingDelay' | 'maxRTT' | 'exchangeLifetime' | 'nonLifetime'>): Parameters {
  const maxTransmitSpan = p.ackTimeout * (2 ** p.maxRetransmit - 1) * p.ackRandomFactor
  const maxTransmitWait = p.ackTimeout * (2 ** (p.maxRetransmit + 1) - 1) * p.ackRandomFactor
  const processingDelay = p.ackTimeout
  return {
    ...p,
    coapPort: 5683,
    maxTransmitSpan,
    maxTransmitWait,
    processingDelay,
    maxRTT: 2 * p.maxLatency + processingDelay,
    exchangeLifetime: maxTransmitSpan + 2 * p.maxLatency + processingDelay,
    nonLifetime: maxTransmitSpan + p.maxLatency,
  }
}

let warnedAckTimeout = false

/**
 * Changes the transmission parameters for requests and servers created from now on (node-coap
 * `updateTiming`). Unknown keys are a `TypeError`, values out of libcoap's ranges a
 * `RangeError`. libcoap does not retransmit sooner than after 1 s: an `ackTimeout` between 0 and
 * 1 s (node-coap's README uses 0.25) is kept in {@link parameters} but libcoap uses 1 s, and a
 * process warning says so once. node-coap's
 * `maxPayloadSize`, `maxMessageSize`, `sendAcksForNonConfirmablePackets` and `pruneTimerPeriod`
 * are accepted and ignored. Without an argument it is {@link defaultTiming}.
 * @example
 * ```ts
 * import { updateTiming } from 'libcoap/compat'
 *
 * updateTiming({ ackTimeout: 1, ackRandomFactor: 1.2, maxRetransmit: 3, piggybackReplyMs: 100 })
 * ```
 */
export function updateTiming(values?: ParametersUpdate): void {
  if (values === undefined) return defaultTiming()
  if (typeof values !== 'object' || values === null || Array.isArray(values)) throw new TypeError('updateTiming() takes an object of parameters')
  const next: Record<string, number> = { ...current() }
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined || IGNORED.has(key)) continue
    if (!KEYS.has(key)) throw new TypeError(`updateTiming(): unknown parameter '${key}'`)
    if (typeof value !== 'number') throw new TypeError(`updateTiming(): ${key} must be a number, got ${typeof value}`)
    next[key] = value
  }
  const { maxLatency, piggybackReplyMs, ...transmission } = next
  if (!(transmission.ackTimeout! > 0)) throw new RangeError(`updateTiming(): ackTimeout must be a positive number of seconds, got ${transmission.ackTimeout}`)
  if (transmission.ackTimeout! < 1 && !warnedAckTimeout) {
    warnedAckTimeout = true
    process.emitWarning(`updateTiming(): ackTimeout ${transmission.ackTimeout} s is below libcoap's minimum; requests retransmit after 1 s`, { code: 'LIBCOAP_COMPAT_ACK_TIMEOUT' })
  }
  checkParameters({ ...transmission, ackTimeout: Math.max(1, transmission.ackTimeout!) }, 'updateTiming()')
  if (!Number.isFinite(maxLatency) || maxLatency! < 0) throw new RangeError(`updateTiming(): maxLatency must be a non-negative number of seconds, got ${maxLatency}`)
  if (!Number.isInteger(piggybackReplyMs) || piggybackReplyMs! < 0 || piggybackReplyMs! > 60_000) throw new RangeError(`updateTiming(): piggybackReplyMs must be an integer 0-60000, got ${piggybackReplyMs}`)
  Object.assign(parameters, derive(next as unknown as Parameters))
  generation++
}

/**
 * Restores the RFC 7252 defaults (node-coap `defaultTiming`).
 * @example
 * ```ts
 * import { defaultTiming, parameters, updateTiming } from 'libcoap/compat'
 *
 * updateTiming({ ackTimeout: 4 })
 * defaultTiming()
 * console.log(parameters.ackTimeout) // 2
 * ```
 */
export function defaultTiming(): void {
  Object.assign(parameters, derive({ ...DEFAULTS }))
  generation++
}

function current(): typeof DEFAULTS {
  const out: Record<string, number> = {}
  for (const key of KEYS) out[key] = (parameters as unknown as Record<string, number>)[key]!
  return out as unknown as typeof DEFAULTS
}

/** @internal The parameters libcoap applies per session, and a number that changes with them. */
export function transmission(): { generation: number; values: TransmissionParameters } {
  const p = parameters
  return {
    generation,
    values: { ackTimeout: Math.max(1, p.ackTimeout), ackRandomFactor: p.ackRandomFactor, maxRetransmit: p.maxRetransmit, nstart: p.nstart, defaultLeisure: p.defaultLeisure, probingRate: p.probingRate },
  }
}
