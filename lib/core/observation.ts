/**
 * `Observation`: the notifications of one observe registration (RFC 7641) as an async iterator.
 * @module
 */
import type { Pdu } from './pdu'

/** Observe sequence numbers are 24 bits; RFC 7641 §3.4 orders them modulo 2^23. */
const HALF = 2 ** 23
/** A notification this much later than the last is fresh whatever its number (RFC 7641 §3.4). */
const FRESH_AFTER_MS = 128_000

/**
 * Notifications of an observed resource, in order, stale ones (reordered by the network)
 * dropped. Iterate with `for await`; `break`, `return()` or the request's `AbortSignal`
 * deregister (GET with Observe=1, ↔ `coap_cancel_observe`).
 */
export class Observation implements AsyncIterableIterator<Pdu> {
  #queue: Pdu[] = []
  #waiting: Array<{ resolve: (r: IteratorResult<Pdu>) => void; reject: (err: unknown) => void }> = []
  #error: unknown
  #done = false
  #lastSeq: number | undefined
  #lastAt = 0
  #cancel: () => void

  /** @internal */
  constructor(cancel: () => void) {
    this.#cancel = cancel
  }

  /** `true` once the observation ended (deregistered, failed, or the server stopped it). */
  get done(): boolean {
    return this.#done
  }

  /** @internal a response or notification arrived; false when the observation is over */
  _push(pdu: Pdu): boolean {
    if (this.#done) return false
    const seq = pdu.option(6)[0] as number | undefined
    if (seq !== undefined) {
      const now = Date.now()
      const last = this.#lastSeq
      const fresh = last === undefined || (last < seq && seq - last < HALF) || (last > seq && last - seq > HALF) || now > this.#lastAt + FRESH_AFTER_MS
      if (!fresh) return true
      this.#lastSeq = seq
      this.#lastAt = now
    }
    this.#deliver({ value: pdu, done: false })
    // No Observe option (or an error code): the server did not register us, or ended it.
    const ended = seq === undefined || pdu.code >> 5 !== 2
    if (ended) this._end()
    return !ended
  }

  /** @internal */
  _fail(err: unknown): void {
    if (this.#done) return
    this.#done = true
    this.#error = err
    for (const w of this.#waiting.splice(0)) w.reject(err)
  }

  /** @internal */
  _end(): void {
    if (this.#done) return
    this.#done = true
    for (const w of this.#waiting.splice(0)) w.resolve({ value: undefined, done: true })
  }

  #deliver(r: IteratorResult<Pdu>): void {
    const w = this.#waiting.shift()
    if (w) w.resolve(r)
    else this.#queue.push(r.value as Pdu)
  }

  next(): Promise<IteratorResult<Pdu>> {
    const queued = this.#queue.shift()
    if (queued !== undefined) return Promise.resolve({ value: queued, done: false })
    if (this.#error !== undefined) return Promise.reject(this.#error)
    if (this.#done) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }))
  }

  /** Deregisters and ends the iteration. */
  async return(): Promise<IteratorResult<Pdu>> {
    if (!this.#done) {
      this.#cancel()
      this._end()
    }
    this.#queue = []
    return { value: undefined, done: true }
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}
