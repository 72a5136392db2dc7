/**
 * Errors raised by the library. Argument mistakes are plain `TypeError`/`RangeError`; everything
 * the network or the peer causes is a {@link CoapError} with a stable `code` to switch on.
 * @module
 */

/** Stable machine-readable codes carried by every {@link CoapError}. */
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

/** Base class of every protocol or transport failure. A 4.xx/5.xx response is not an error. */
export class CoapError extends Error {
  /** Stable code, e.g. `'ERR_COAP_TIMEOUT'`. */
  readonly code: CoapErrorCode
  constructor(code: CoapErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** No response within the request's `timeout`, or libcoap gave up retransmitting a CON. */
export class CoapTimeoutError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_TIMEOUT', message)
  }
}

/** The peer answered with a Reset (RST) message. */
export class CoapResetError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_RESET', message)
  }
}

/** The message could not be delivered (ICMP unreachable, connection refused or dropped). */
export class CoapConnectionError extends CoapError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_COAP_CONNECTION', message, options)
  }
}

/** The DTLS handshake failed (wrong key or certificate, or the peer does not speak DTLS). */
export class CoapDtlsHandshakeError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_DTLS_HANDSHAKE', message)
  }
}

/** The TLS layer of a reliable transport failed. */
export class CoapTlsError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_TLS', message)
  }
}

/** The client, server or context was closed while the operation was pending. */
export class CoapClosedError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_CLOSED', message)
  }
}

/** The operation was cancelled through its `AbortSignal`. `cause` holds the signal's reason. */
export class CoapAbortedError extends CoapError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_COAP_ABORTED', message, options)
  }
}

/** A URL that is not a usable `coap://` URI. */
export class CoapInvalidUriError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_INVALID_URI', message)
  }
}

/** A body larger than the configured limit. */
export class CoapTooLargeError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_TOO_LARGE', message)
  }
}

/** The peer's answer could not be used (libcoap rejected it as malformed). */
export class CoapBadResponseError extends CoapError {
  constructor(message: string) {
    super('ERR_COAP_BAD_RESPONSE', message)
  }
}

/** A server could not listen on the requested address. */
export class CoapListenError extends CoapError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_COAP_LISTEN', message, options)
  }
}

/** libcoap refused to send the message (session unusable, PDU too large for the transport). */
export class CoapSendError extends CoapError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_COAP_SEND', message, options)
  }
}
