/**
 * `AsyncQueue`: values pushed from libcoap's callbacks, read with `for await`.
 * @module
 */

/**
 * An async iterator fed by `_push()`, ended by `_end()` or `_fail()`. `return()` (a `break` in
 * `for await`) calls the cancel function once and drops what is still queued.
 * @example
 * ```ts
 * import { Context } from 'libcoap/core'
 *
 * const ctx = new Context()
 * const session = ctx.newClientSession({ remote: { host: '224.0.1.187', port: 5683 } })
 * const wellKnownCore: Array<[number, Buffer]> = [[11, Buffer.from('.well-known')], [11, Buffer.from('core')]]
 * const answers = ctx.multicast(session, { method: 'GET', options: wellKnownCore }, { timeout: 3000 })
 * for await (const { remote, pdu } of answers) console.log(remote, pdu.payload.toString())
 * console.log(answers.done) // true
 * session.release()
 * ctx.close()
 * ```
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  #queue: T[] = []
  #waiting: Array<{ resolve: (r: IteratorResult<T>) => void; reject: (err: unknown) => void }> = []
  #error: unknown
  #failed = false
  #done = false
  #cancel: () => void

  /** @internal */
  constructor(cancel: () => void) {
    this.#cancel = cancel
  }

  /** `true` once the iteration ended (cancelled, failed, or finished by the producer). */
  get done(): boolean {
    return this.#done
  }

  /** @internal */
  _deliver(value: T): void {
    if (this.#done) return
    const w = this.#waiting.shift()
    if (w) w.resolve({ value, done: false })
    else this.#queue.push(value)
  }

  /** @internal */
  _fail(err: unknown): void {
    if (this.#done) return
    this.#done = true
    this.#failed = true
    this.#error = err
    for (const w of this.#waiting.splice(0)) w.reject(err)
  }

  /** @internal */
  _end(): void {
    if (this.#done) return
    this.#done = true
    for (const w of this.#waiting.splice(0)) w.resolve({ value: undefined, done: true })
  }

  /** The next value, waiting for one if none is queued; rejects once the producer failed. */
  next(): Promise<IteratorResult<T>> {
    if (this.#queue.length > 0) return Promise.resolve({ value: this.#queue.shift() as T, done: false })
    if (this.#failed) return Promise.reject(this.#error)
    if (this.#done) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }))
  }

  /** Cancels (once) and ends the iteration. */
  async return(): Promise<IteratorResult<T>> {
    if (!this.#done) {
      this.#cancel()
      this._end()
    }
    this.#queue = []
    return { value: undefined, done: true }
  }

  /** The queue itself, so that `for await (const value of queue)` works. */
  [Symbol.asyncIterator](): this {
    return this
  }
}
