/**
 * Errors raised by the library. Argument mistakes are plain `TypeError`/`RangeError`; everything
 * the network or the peer causes is a {@link CoapError} with a stable `code` to switch on.
 * @module
 */

/**
 * Stable machine-readable codes carried by every {@link CoapError}.
 * @example
 * ```ts
 * import { CoapError, type CoapErrorCode } from 'libcoap'
 *
 * const retryable: ReadonlySet<CoapErrorCode> = new Set(['ERR_COAP_TIMEOUT', 'ERR_COAP_CONNECTION'])
 * function shouldRetry(err: unknown): boolean {
 *   return err instanceof CoapError && retryable.has(err.code)
 * }
 * console.log(shouldRetry(new Error('other'))) // false
 * ```
 */
export type CoapErrorCode =
  | 'ERR_COAP_TIMEOUT'
  | 'ERR_COAP_RESET'
  | 'ERR_COAP_DTLS_HANDSHAKE'
  | 'ERR_COAP_TLS'
  | 'ERR_COAP_CONNECTION'
  | 'ERR_COAP_CLOSED'
  | 'ERR_COAP_ABORTED'
  | 'ERR_COAP_INVALID_URI'
  | 'ERR_COAP_TOO_LARGE'
  | 'ERR_COAP_BAD_RESPONSE'
  | 'ERR_COAP_LISTEN'
  | 'ERR_COAP_SEND'

/**
 * Base class of every protocol or transport failure. A 4.xx/5.xx response is not an error.
 * @example
 * ```ts
 * import { CoapClient, CoapError } from 'libcoap'
 *
 * const client = new CoapClient()
 * try {
 *   const res = await client.get('coap://[::1]/temperature', { timeout: 2000 })
 *   if (!res.ok) console.log('answered', res.code) // 4.xx/5.xx are responses, not errors
 * } catch (err) {
 *   if (!(err instanceof CoapError)) throw err
 *   switch (err.code) {
 *     case 'ERR_COAP_TIMEOUT': console.log('no answer'); break
 *     case 'ERR_COAP_RESET': console.log('the peer reset the exchange'); break
 *     default: console.log(err.code, err.message)
 *   }
 * }
 * ```
 */
export class CoapError extends Error {
  /** Stable code, e.g. `'ERR_COAP_TIMEOUT'`. */
  readonly code: CoapErrorCode
  constructor(code: CoapErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/**
 * No response within the request's `timeout`, or libcoap gave up retransmitting a CON.
 * @example
 * ```ts
 * import { CoapClient, CoapTimeoutError } from 'libcoap'
 *
 * const client = new CoapClient()
 * try {
 *   const res = await client.get('coap://[::1]/slow', { timeout: 1000 })
 *   console.log(res.code)
 * } catch (err) {
 *   if (!(err instanceof CoapTimeoutError)) throw err
 *   console.log('no answer within 1 s')
 * }
 * ```
 */
export class CoapTimeoutError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_TIMEOUT', message)
  }
}

/**
 * The peer answered with a Reset (RST) message.
 * @example
 * ```ts
 * import { CoapClient, CoapResetError } from 'libcoap'
 *
 * const client = new CoapClient()
 * try {
 *   const res = await client.get('coap://[::1]/temperature')
 *   console.log(res.code)
 * } catch (err) {
 *   if (!(err instanceof CoapResetError)) throw err
 *   console.log('the peer answered with RST')
 * }
 * ```
 */
export class CoapResetError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_RESET', message)
  }
}

/**
 * The message could not be delivered (ICMP unreachable, connection refused or dropped).
 * @example
 * ```ts
 * import { CoapClient, CoapConnectionError } from 'libcoap'
 *
 * const client = new CoapClient()
 * try {
 *   const res = await client.get('coap+tcp://[::1]:9/temperature')
 *   console.log(res.code)
 * } catch (err) {
 *   if (!(err instanceof CoapConnectionError)) throw err
 *   console.log('unreachable:', err.message)
 * }
 * ```
 */
export class CoapConnectionError extends CoapError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_COAP_CONNECTION', message, options)
  }
}

/**
 * The DTLS handshake failed (wrong key or certificate, or the peer does not speak DTLS).
 * @example
 * ```ts
 * import { CoapClient, CoapDtlsHandshakeError } from 'libcoap'
 *
 * const client = new CoapClient({ psk: { identity: 'me', key: 'secret' } })
 * try {
 *   const res = await client.get('coaps://[::1]/temperature')
 *   console.log(res.code)
 * } catch (err) {
 *   if (!(err instanceof CoapDtlsHandshakeError)) throw err
 *   console.log('wrong key or certificate:', err.message)
 * }
 * ```
 */
export class CoapDtlsHandshakeError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_DTLS_HANDSHAKE', message)
  }
}

/**
 * The TLS layer of a reliable transport failed.
 * @example
 * ```ts
 * import { CoapClient, CoapTlsError } from 'libcoap'
 *
 * const client = new CoapClient()
 * try {
 *   const res = await client.get('coaps+tcp://[::1]/temperature')
 *   console.log(res.code)
 * } catch (err) {
 *   if (!(err instanceof CoapTlsError)) throw err
 *   console.log('TLS failed:', err.message)
 * }
 * ```
 */
export class CoapTlsError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_TLS', message)
  }
}

/**
 * The client, server or context was closed while the operation was pending.
 * @example
 * ```ts
 * import { CoapClient, CoapClosedError } from 'libcoap'
 *
 * const client = new CoapClient()
 * try {
 *   const pending = client.get('coap://[::1]/slow')
 *   await client.close()
 *   const res = await pending
 *   console.log(res.code)
 * } catch (err) {
 *   if (!(err instanceof CoapClosedError)) throw err
 *   console.log('the client was closed first')
 * }
 * ```
 */
export class CoapClosedError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_CLOSED', message)
  }
}

/**
 * The operation was cancelled through its `AbortSignal`. `cause` holds the signal's reason.
 * @example
 * ```ts
 * import { CoapClient, CoapAbortedError } from 'libcoap'
 *
 * const client = new CoapClient()
 * try {
 *   const res = await client.get('coap://[::1]/slow', { signal: AbortSignal.timeout(500) })
 *   console.log(res.code)
 * } catch (err) {
 *   if (!(err instanceof CoapAbortedError)) throw err
 *   console.log('aborted:', err.cause)
 * }
 * ```
 */
export class CoapAbortedError extends CoapError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_COAP_ABORTED', message, options)
  }
}

/**
 * A URL that is not a usable `coap://` URI.
 * @example
 * ```ts
 * import { CoapClient, CoapInvalidUriError } from 'libcoap'
 *
 * const client = new CoapClient()
 * try {
 *   const res = await client.get('http://[::1]/temperature')
 *   console.log(res.code)
 * } catch (err) {
 *   if (!(err instanceof CoapInvalidUriError)) throw err
 *   console.log(err.message) // unsupported scheme 'http:'
 * }
 * ```
 */
export class CoapInvalidUriError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_INVALID_URI', message)
  }
}

/**
 * A body larger than the configured limit.
 * @example
 * ```ts
 * import { CoapClient, CoapTooLargeError } from 'libcoap'
 *
 * const client = new CoapClient({ maxBodySize: 64 * 1024 })
 * try {
 *   const res = await client.get('coap://[::1]/firmware.bin')
 *   console.log(res.code)
 * } catch (err) {
 *   if (!(err instanceof CoapTooLargeError)) throw err
 *   console.log('larger than maxBodySize')
 * }
 * ```
 */
export class CoapTooLargeError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_TOO_LARGE', message)
  }
}

/**
 * The peer's answer could not be used (libcoap rejected it as malformed).
 * @example
 * ```ts
 * import { CoapClient, CoapBadResponseError } from 'libcoap'
 *
 * const client = new CoapClient()
 * try {
 *   const links = await client.discover('coap://[::1]') // also rejects on a 4.xx/5.xx answer
 *   console.log(links.map((link) => link.href))
 * } catch (err) {
 *   if (!(err instanceof CoapBadResponseError)) throw err
 *   console.log('no usable /.well-known/core:', err.message)
 * }
 * ```
 */
export class CoapBadResponseError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_BAD_RESPONSE', message)
  }
}

/**
 * A server could not listen on the requested address.
 * @example
 * ```ts
 * import { CoapServer, CoapListenError } from 'libcoap'
 *
 * const server = new CoapServer({ listen: 'coap://127.0.0.1:5683' })
 * try {
 *   await server.listen()
 * } catch (err) {
 *   if (!(err instanceof CoapListenError)) throw err
 *   console.log('port 5683 is taken:', err.message)
 * }
 * ```
 */
export class CoapListenError extends CoapError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_COAP_LISTEN', message, options)
  }
}

/**
 * libcoap refused to send the message (session unusable, PDU too large for the transport).
 * @example
 * ```ts
 * import { CoapClient, CoapSendError } from 'libcoap'
 *
 * const client = new CoapClient()
 * try {
 *   const res = await client.get('coap://[::1]/temperature')
 *   console.log(res.code)
 * } catch (err) {
 *   if (!(err instanceof CoapSendError)) throw err
 *   console.log('libcoap would not send it:', err.message)
 * }
 * ```
 */
export class CoapSendError extends CoapError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_COAP_SEND', message, options)
  }
}
