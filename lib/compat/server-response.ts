/**
 * The `res` of a compat server's `'request'` event: `ServerResponse` for ordinary requests,
 * `ObserveWriteStream` for observe registrations (node-coap: `OutgoingMessage` and
 * `ObserveWriteStream`).
 * @module
 */
import { Writable } from 'node:stream'
import { codeToString, parseCode } from '../codes'
import type { HandlerResult } from '../core/resource'
import { OptionSet, type OptionValue } from './options'

function checkCode(value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number') throw new TypeError(`code must be a string like '2.05' or a number like 404, got ${value === null ? 'null' : typeof value}`)
  const wire = parseCode(value, 'code')
  if (wire < 64) throw new RangeError(`code must be a response code (2.xx, 4.xx, 5.xx), got ${String(value)}`)
  return codeToString(wire)
}

/** The answer a response object stands for. @internal */
export function answer(code: string, options: OptionSet, payload: Buffer): HandlerResult {
  const cf = options.get(12)?.[0]
  const init: Record<number, Buffer[]> = options.toInit()
  delete init[12]
  delete init[6] // libcoap numbers notifications itself
  let contentFormat: number | null = null
  if (cf !== undefined) {
    contentFormat = 0
    for (const b of cf) contentFormat = contentFormat * 256 + b
  }
  return { code: code as `${number}.${string}`, payload, contentFormat, options: init }
}

/** What both kinds of server response share: code and options. */
abstract class ResponseBase extends Writable {
  #code = '2.05'
  /** @internal */
  protected readonly _options = new OptionSet()

  /** Response code, `'2.05'` by default for every method (as node-coap); accepts `'4.04'` or `404`. */
  get code(): string {
    return this.#code
  }

  set code(value: string | number) {
    this.#code = checkCode(value)
  }

  /** Same as `code`. */
  get statusCode(): string {
    return this.#code
  }

  set statusCode(value: string | number) {
    this.code = value
  }

  /**
   * Sets one option of the response, replacing earlier values (node-coap `setOption`): by name
   * (any case; `'Content-Type'` is `'Content-Format'`) or number as a string; `null` removes it.
   */
  setOption(name: string, value: OptionValue): this {
    this._options.set(name, value)
    return this
  }

  /** Alias of `setOption`. */
  setHeader(name: string, value: OptionValue): this {
    return this.setOption(name, value)
  }

  /** Sets the code and several options at once (node-coap `writeHead`). */
  writeHead(code: string | number, headers?: Record<string, OptionValue>): this {
    this.code = code
    if (headers !== undefined) {
      if (typeof headers !== 'object' || headers === null) throw new TypeError('headers must be an object of option values')
      for (const [name, value] of Object.entries(headers)) this.setOption(name, value)
    }
    return this
  }

  /**
   * Finishes the response, writing a final `chunk` first; calling it again does nothing
   * (node-coap would emit an error). On an `ObserveWriteStream` it stops your writes, and the
   * client stays registered until it leaves.
   */
  override end(chunk?: unknown, encoding?: unknown, cb?: unknown): this {
    if (this.writableEnded) return this
    super.end(chunk as never, encoding as never, cb as never)
    // Every chunk has reached _write already (nothing was buffered): answer now, not a tick later.
    if (this.writableLength === 0) this._finish()
    return this
  }

  /** @internal */
  override _final(callback: (error?: Error | null) => void): void {
    this._finish()
    callback()
  }

  /** Sends what the response has to send at its end; runs once however it is reached. @internal */
  protected abstract _finish(): void
}

/**
 * The response to an ordinary request: write or pipe the body, `end()` sends it (piggybacked
 * in the ACK when it comes within `piggybackReplyMs`, else as a separate response, by libcoap).
 * Differs from node-coap: it is not an `OutgoingMessage` (`instanceof` fails), and `reset()` is
 * not provided (libcoap decides when to send RST).
 * @example
 * ```ts
 * import { createServer } from 'libcoap/compat'
 *
 * createServer((req, res) => {
 *   if (req.method !== 'GET') return void res.writeHead('4.05').end()
 *   res.setOption('Content-Format', 'application/json')
 *   res.setOption('Max-Age', 60)
 *   res.end(JSON.stringify({ uptime: process.uptime() }))
 * }).listen()
 * ```
 */
export class ServerResponse extends ResponseBase {
  readonly #chunks: Buffer[] = []
  readonly #done: (result: HandlerResult) => void
  #finished = false

  /** @internal */
  constructor(done: (result: HandlerResult) => void) {
    super()
    this.#done = done
  }

  /** @internal */
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#chunks.push(chunk)
    callback()
  }

  /** @internal */
  protected override _finish(): void {
    if (this.#finished) return
    this.#finished = true
    this.#done(answer(this.code, this._options, Buffer.concat(this.#chunks)))
    this.#chunks.length = 0
  }
}

/**
 * The response to an observe registration (node-coap `ObserveWriteStream`): the first `write()`
 * answers the request, every later one is a notification, sent by libcoap (which numbers
 * them, and makes some CON to check the observer is still there). `'finish'` follows when the
 * observer is gone (deregistered, RST, session lost); writes after that are dropped, not
 * errors. Differs from node-coap: libcoap keeps one observer list per path, so a notification
 * for one observer also re-sends the latest value to the other observers of that path; `end()`
 * stops your writes but leaves the client registered until it deregisters; `reset()` is not
 * provided.
 * @example
 * ```ts
 * import { createServer, ObserveWriteStream } from 'libcoap/compat'
 *
 * createServer({ paths: ['/time'] }, (req, res) => {
 *   if (!(res instanceof ObserveWriteStream)) return void res.end(new Date().toISOString())
 *   res.write(new Date().toISOString()) // the answer to the registration
 *   const timer = setInterval(() => res.write(new Date().toISOString()), 1000) // notifications
 *   res.on('finish', () => clearInterval(timer)) // the observer is gone
 * }).listen()
 * ```
 */
export class ObserveWriteStream extends ResponseBase {
  readonly #first: (result: HandlerResult) => void
  readonly #notify: () => void
  readonly #queue: HandlerResult[] = []
  #last: HandlerResult | undefined
  #gone = false

  /** @internal */
  constructor(first: (result: HandlerResult) => void, notify: () => void) {
    super()
    this.#first = first
    this.#notify = notify
  }

  /** Whether the first answer has gone out. @internal */
  get _answered(): boolean {
    return this.#last !== undefined
  }

  /** Whether the observer has left. @internal */
  get _gone(): boolean {
    return this.#gone
  }

  /** Notifications written but not sent yet. @internal */
  get _queued(): number {
    return this.#queue.length
  }

  /** The next notification (or the latest again) for libcoap's run of the handler. @internal */
  _next(): HandlerResult {
    if (this.#queue.length > 0) this.#last = this.#queue.shift()
    return this.#last
  }

  /** The observer left: ends the stream (`'finish'`). @internal */
  _leave(): void {
    if (this.#gone) return
    this.#gone = true
    this.#queue.length = 0
    this.end()
  }

  /** Sends `chunk` as the answer or next notification; dropped (returns `false`) once the observer is gone. */
  override write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (this.#gone || this.writableEnded) return false
    return super.write(chunk as never, encoding as never, cb as never)
  }

  /** @internal */
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const result = answer(this.code, this._options, chunk)
    if (this.#last === undefined) {
      this.#last = result
      this.#first(result)
    } else if (!this.#gone) {
      this.#queue.push(result)
      this.#notify()
    }
    callback()
  }

  /** The registration is answered (with no payload) if nothing was written. @internal */
  protected override _finish(): void {
    if (this.#last !== undefined) return
    this.#last = answer(this.code, this._options, Buffer.alloc(0))
    this.#first(this.#last)
  }
}
