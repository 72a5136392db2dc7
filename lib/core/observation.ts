/**
 * `Observation`: the notifications of one observe registration (RFC 7641) as an async iterator.
 * @module
 */
import { AsyncQueue } from './async-queue'
import type { Pdu } from './pdu'

/** Observe sequence numbers are 24 bits; RFC 7641 §3.4 orders them modulo 2^23. */
const HALF = 2 ** 23
/** A notification this much later than the last is fresh whatever its number (RFC 7641 §3.4). */
const FRESH_AFTER_MS = 128_000

/**
 * Notifications of an observed resource, in order, stale ones (reordered by the network)
 * dropped. Iterate with `for await`; `break`, `return()` or the request's `AbortSignal`
 * deregister (GET with Observe=1, ↔ `coap_cancel_observe`).
 * @example
 * ```ts
 * import { Context } from 'libcoap/core'
 *
 * const ctx = new Context()
 * const session = ctx.newClientSession({ remote: { host: '::1', port: 5683 } })
 * const observation = ctx.observe(session, { method: 'GET', options: [[11, Buffer.from('temperature')]] })
 * for await (const pdu of observation) {
 *   console.log(pdu.codeString, pdu.payload.toString())
 *   if (pdu.payload.toString() === 'done') break // deregisters
 * }
 * session.release()
 * ctx.close()
 * ```
 */
export class Observation extends AsyncQueue<Pdu> {
  #lastSeq: number | undefined
  #lastAt = 0

  /** @internal a new registration: its answer is fresh whatever its sequence number */
  _restart(): void {
    this.#lastSeq = undefined
  }

  /** @internal a response or notification arrived; false when the observation is over */
  _push(pdu: Pdu): boolean {
    if (this.done) return false
    const seq = pdu.option(6)[0] as number | undefined
    if (seq !== undefined) {
      const now = Date.now()
      const last = this.#lastSeq
      const fresh = last === undefined || (last < seq && seq - last < HALF) || (last > seq && last - seq > HALF) || now > this.#lastAt + FRESH_AFTER_MS
      if (!fresh) return true
      this.#lastSeq = seq
      this.#lastAt = now
    }
    this._deliver(pdu)
    // No Observe option (or an error code): the server did not register us, or ended it.
    const ended = seq === undefined || pdu.code >> 5 !== 2
    if (ended) this._end()
    return !ended
  }
}
