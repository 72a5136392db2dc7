/**
 * `AsyncQueue`: values pushed from libcoap's callbacks, read with `for await`.
 * @module
 */

/**
 * An async iterator fed by `_push()`, ended by `_end()` or `_fail()`. `return()` (a `break` in
 * `for await`) calls the cancel function once and drops what is still queued.
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

  [Symbol.asyncIterator](): this {
    return this
  }
}
