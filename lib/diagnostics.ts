/**
 * `node:diagnostics_channel` channels, named the way undici names its own (`undici:request:create`
 * → `libcoap:request:create`). Publishing costs nothing while a channel has no subscribers.
 *
 * ```ts
 * import diagnostics_channel from 'node:diagnostics_channel'
 * diagnostics_channel.subscribe('libcoap:request:response', ({ request, response }) => {
 *   console.log(request.method, request.url, response.code)
 * })
 * ```
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel'
import type { SessionEventName } from './core/constants'
import type { Session } from './core/session'
import type { CoapError } from './errors'
import { CoapDtlsHandshakeError, CoapTlsError } from './errors'
import type { CoapResponse } from './response'

/**
 * A client request as the request channels see it. The same object is published on `create`
 * and then on `response` or `error`, so a subscriber can key its own state (e.g. a start time)
 * on it with a `WeakMap`.
 */
export interface DiagnosticsRequest {
  /** Method name, e.g. `'GET'`. */
  readonly method: string
  /** The URL as given. */
  readonly url: string
  /** CON (`true`) or NON. */
  readonly confirmable: boolean
  /** The body's length in bytes (0 for none). */
  readonly payloadLength: number
}

/** Message of `libcoap:request:create`: a client request is about to be sent. */
export interface RequestCreateMessage { request: DiagnosticsRequest }
/** Message of `libcoap:request:response`: its response arrived (any code, also 4.xx/5.xx). */
export interface RequestResponseMessage { request: DiagnosticsRequest; response: CoapResponse }
/** Message of `libcoap:request:error`: it failed (timeout, connection, abort...). */
export interface RequestErrorMessage { request: DiagnosticsRequest; error: Error }
/** Message of the session channels. `error` is set on `libcoap:session:handshake` when it failed. */
export interface SessionMessage { session: Session; error?: CoapError }

/**
 * The channels, by name:
 * - `libcoap:request:create`, `libcoap:request:response`, `libcoap:request:error` — each
 *   `CoapClient` request (not observe notifications or multicast answers);
 * - `libcoap:session:create`, `libcoap:session:close` — client sessions opened and released,
 *   server sessions libcoap created and freed (↔ `COAP_EVENT_SERVER_SESSION_NEW`/`_DEL`);
 * - `libcoap:session:handshake` — a DTLS or TLS handshake ended, with `error` when it failed.
 * @example
 * ```ts
 * import { channels, type RequestCreateMessage, type RequestResponseMessage } from 'libcoap'
 *
 * const started = new WeakMap<object, number>()
 * channels.requestCreate.subscribe((message) => {
 *   started.set((message as RequestCreateMessage).request, performance.now())
 * })
 * channels.requestResponse.subscribe((message) => {
 *   const { request, response } = message as RequestResponseMessage
 *   console.log(request.method, request.url, response.code, performance.now() - (started.get(request) ?? 0), 'ms')
 * })
 * ```
 */
export const channels = {
  requestCreate: diagnosticsChannel.channel('libcoap:request:create'),
  requestResponse: diagnosticsChannel.channel('libcoap:request:response'),
  requestError: diagnosticsChannel.channel('libcoap:request:error'),
  sessionCreate: diagnosticsChannel.channel('libcoap:session:create'),
  sessionClose: diagnosticsChannel.channel('libcoap:session:close'),
  sessionHandshake: diagnosticsChannel.channel('libcoap:session:handshake'),
} as const

const SECURE = new Set(['dtls', 'tls', 'wss'])
const handshaken = new WeakSet<Session>()
// Server sessions announced on `session:create`: a server that closes frees them without events.
const announced = new Set<Session>()

/** Publishes the end of a session's DTLS/TLS handshake, once per session. @internal */
export function publishHandshake(session: Session, error?: CoapError): void {
  if (handshaken.has(session)) return
  handshaken.add(session)
  if (channels.sessionHandshake.hasSubscribers) channels.sessionHandshake.publish(error === undefined ? { session } : { session, error })
}

/** Publishes what a libcoap session event means for the session channels. @internal */
export function publishSessionEvent(name: SessionEventName, session: Session): void {
  if (name === 'server-session-new') {
    if (!channels.sessionCreate.hasSubscribers) return
    announced.add(session)
    channels.sessionCreate.publish({ session })
  } else if (name === 'server-session-del') {
    if (announced.delete(session) && channels.sessionClose.hasSubscribers) channels.sessionClose.publish({ session })
  } else if (SECURE.has(session.proto ?? 'udp') && !handshaken.has(session)) {
    if (name === 'dtls-connected') return publishHandshake(session)
    if (name !== 'dtls-error' && name !== 'dtls-closed' && name !== 'session-failed' && name !== 'tcp-failed' && name !== 'tcp-closed') return
    const why = `handshake with ${session.remote} failed (${name})`
    publishHandshake(session, session.proto === 'dtls' ? new CoapDtlsHandshakeError(`DTLS ${why}`) : new CoapTlsError(`TLS ${why}`))
  }
}

/** Publishes `session:close` for the server sessions of a context that closes. @internal */
export function publishServerSessionsClosed(context: unknown): void {
  for (const session of announced) {
    if (session.context !== context) continue
    announced.delete(session)
    if (channels.sessionClose.hasSubscribers) channels.sessionClose.publish({ session })
  }
}
