/**
 * libcoap's enumerations, by the names C users know, translated to the strings used in JS.
 * @module
 */
import type { Proto } from '../uri'

/** `COAP_PROTO_*` numbers. */
export const protoNumber: Record<Proto, number> = { udp: 1, dtls: 2, tcp: 3, tls: 4, ws: 5, wss: 6 }
const protoNames: Proto[] = ['udp', 'dtls', 'tcp', 'tls', 'ws', 'wss']

/** Name of a `COAP_PROTO_*` number. */
export function protoName(n: number | undefined): Proto | undefined {
  return n === undefined ? undefined : protoNames[n - 1]
}

/**
 * Session events, named after libcoap's `COAP_EVENT_*` (lower case, dashes):
 * `COAP_EVENT_DTLS_CONNECTED` is `'dtls-connected'`.
 */
export type SessionEventName =
  | 'dtls-closed' | 'dtls-connected' | 'dtls-renegotiate' | 'dtls-error'
  | 'tcp-connected' | 'tcp-closed' | 'tcp-failed'
  | 'session-connected' | 'session-closed' | 'session-failed'
  | 'partial-block' | 'xmit-block-fail'
  | 'server-session-new' | 'server-session-del'
  | 'bad-packet' | 'msg-retransmitted' | 'oscore-decryption-failure'
  | 'ws-connected' | 'ws-closed' | 'ws-packet-size' | 'keepalive-failure'

/**
 * `COAP_EVENT_*` numbers to names.
 * @example
 * ```ts
 * import { eventNames } from 'libcoap/core'
 *
 * console.log(eventNames.get(0x01de)) // 'dtls-connected' (COAP_EVENT_DTLS_CONNECTED)
 * ```
 */
export const eventNames: ReadonlyMap<number, SessionEventName> = new Map([
  [0x0000, 'dtls-closed'], [0x01de, 'dtls-connected'], [0x01df, 'dtls-renegotiate'], [0x0200, 'dtls-error'],
  [0x1001, 'tcp-connected'], [0x1002, 'tcp-closed'], [0x1003, 'tcp-failed'],
  [0x2001, 'session-connected'], [0x2002, 'session-closed'], [0x2003, 'session-failed'],
  [0x3001, 'partial-block'], [0x3002, 'xmit-block-fail'],
  [0x4001, 'server-session-new'], [0x4002, 'server-session-del'],
  [0x5001, 'bad-packet'], [0x5002, 'msg-retransmitted'], [0x6001, 'oscore-decryption-failure'],
  [0x7001, 'ws-packet-size'], [0x7002, 'ws-connected'], [0x7003, 'ws-closed'],
  [0x8001, 'keepalive-failure'],
] as [number, SessionEventName][])

/**
 * `COAP_NACK_*` reasons, in libcoap's order.
 * @example
 * ```ts
 * import { nackReasons, type NackReason } from 'libcoap/core'
 *
 * const reason: NackReason = nackReasons[0]
 * console.log(reason) // 'too-many-retries' (COAP_NACK_TOO_MANY_RETRIES)
 * ```
 */
export const nackReasons = [
  'too-many-retries', 'not-deliverable', 'rst', 'tls-failed', 'icmp-issue',
  'bad-response', 'tls-layer-failed', 'ws-layer-failed', 'ws-failed',
] as const
/** Name of a `COAP_NACK_*` reason. */
export type NackReason = (typeof nackReasons)[number]

/**
 * libcoap's `COAP_LOG_*` levels.
 * @example
 * ```ts
 * import { LogLevel } from 'libcoap/core'
 *
 * console.log(LogLevel.debug) // 7 (COAP_LOG_DEBUG)
 * ```
 */
export const LogLevel = { emerg: 0, alert: 1, crit: 2, err: 3, warn: 4, notice: 5, info: 6, debug: 7, oscore: 8, dtls: 9 } as const
