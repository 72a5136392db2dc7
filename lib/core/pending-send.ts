/**
 * One request waiting for its answer (the {@link PendingRequest} behind `Context.send`): one
 * object per request instead of a closure per outcome, because a busy client keeps thousands
 * of them alive per second.
 * @module
 * @internal
 */
import { publishHandshake } from '../diagnostics'
import { CoapAbortedError, CoapConnectionError, CoapDtlsHandshakeError, CoapError, CoapTimeoutError } from '../errors'
import { RELIABLE_PROTOS, SECURE_PROTOS } from './checks'
import type { Pdu } from './pdu'
import type { ProgressTracker } from './progress'
import type { PendingRequest, Session } from './session'

/** @internal */
export class PendingSend implements PendingRequest {
  readonly promise: Promise<Pdu>
  readonly progress: PendingRequest['progress']
  #resolve!: (pdu: Pdu) => void
  #reject!: (err: Error) => void
  #timer: NodeJS.Timeout | undefined
  #onAbort: (() => void) | undefined

  constructor(
    readonly session: Session,
    readonly key: number,
    readonly signal: AbortSignal | undefined,
    readonly tracker: ProgressTracker | undefined,
    readonly released: () => void,
    /** Called when JS gives up on the request (timeout, abort): libcoap must stop sending it. */
    readonly cancel: (p: PendingSend) => void,
  ) {
    this.promise = new Promise<Pdu>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    this.progress = tracker?.progress
  }

  /** Fails the request after `ms` (the error says what was still missing) and on `signal`. */
  arm(ms: number): void {
    if (ms > 0) this.#timer = setTimeout(expire, ms, this, ms)
    const signal = this.signal
    if (signal !== undefined) {
      this.#onAbort = () => {
        this.cancel(this)
        this.settle(new CoapAbortedError('request aborted', { cause: signal.reason }))
      }
      signal.addEventListener('abort', this.#onAbort, { once: true })
    }
  }

  settle(err: Error | undefined, value?: unknown): void {
    if (!this.session.pending.delete(this.key)) return // settled already: libcoap may NACK twice
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    if (this.#onAbort !== undefined) this.signal?.removeEventListener('abort', this.#onAbort)
    this.released()
    if (err) {
      if (err instanceof CoapError && (err.code === 'ERR_COAP_DTLS_HANDSHAKE' || err.code === 'ERR_COAP_TLS')) publishHandshake(this.session, err)
      return this.#reject(err)
    }
    this.tracker?.done()
    this.#resolve(value as Pdu)
  }
}

function expire(p: PendingSend, ms: number): void {
  p.cancel(p)
  const session = p.session
  const proto = session.proto ?? 'udp'
  const unfinished = session.state !== 'established'
  p.settle(unfinished && SECURE_PROTOS.has(proto)
    ? new CoapDtlsHandshakeError(`${proto === 'dtls' ? 'DTLS' : 'TLS'} handshake with ${session.remote} did not complete within ${ms} ms`)
    : unfinished && RELIABLE_PROTOS.has(proto)
      ? new CoapConnectionError(`connection to ${session.remote} not established within ${ms} ms`)
      : new CoapTimeoutError(`no response from ${session.remote} within ${ms} ms`))
}
