/**
 * node-coap's `ObserveReadStream`: the `'response'` of an `observe: true` request, an
 * object-mode `Readable` with one `'data'` (the payload Buffer) per notification.
 * @module
 */
import { IncomingMessage, type MessageInit } from './incoming-message'

/**
 * The updates of an observed resource (RFC 7641), first response included: each notification is
 * one `'data'` event carrying its payload, and `code`, `options`, `headers` and `payload` follow
 * the latest one. Ordering and freshness (RFC 7641 §3.4) are checked by our `CoapClient`, not here.
 * Differs from node-coap: {@link ObserveReadStream.close} always deregisters at once (node-coap
 * waits for the next notification unless told `eagerDeregister`), and the stream ends (`'end'`)
 * when the server ends the observation.
 * @example
 * ```ts
 * import { request, type ObserveReadStream } from 'libcoap/compat'
 *
 * const req = request({ hostname: 'localhost', pathname: '/temperature', observe: true })
 * req.on('response', (stream: ObserveReadStream) => {
 *   stream.on('data', (payload: Buffer) => console.log(stream.code, payload.toString()))
 *   stream.on('end', () => console.log('the server ended the observation'))
 *   setTimeout(() => stream.close(), 60_000) // deregisters
 * })
 * req.end()
 * ```
 */
export class ObserveReadStream extends IncomingMessage {
  #deregister: () => void
  #closed = false

  /** @internal */
  constructor(init: MessageInit, deregister: () => void) {
    super(init, { objectMode: true })
    this.#deregister = deregister
    this.push(init.payload)
  }

  /** @internal a notification arrived */
  _append(init: MessageInit): void {
    if (this.#closed) return
    const next = new IncomingMessage(init)
    this.code = next.code
    this.payload = next.payload
    this.options = next.options
    this.headers = next.headers
    this.rsinfo = next.rsinfo
    this.push(init.payload)
  }

  /** @internal the observation ended */
  _finish(): void {
    if (this.#closed) return
    this.#closed = true
    this.push(null)
  }

  /**
   * Stops observing: deregisters from the server (GET with Observe=1) and ends the stream.
   * `eagerDeregister` is accepted for node-coap compatibility; deregistration is always eager.
   * `'end'` and then `'close'` follow once buffered notifications have been read.
   */
  close(eagerDeregister?: boolean): void {
    void eagerDeregister
    if (this.#closed) return
    this.#closed = true
    this.#deregister()
    this.push(null)
  }

  /** @internal data is pushed as notifications arrive */
  override _read(): void {}
}
