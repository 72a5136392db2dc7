/**
 * The request a resource handler receives, built lazily from what libcoap parsed.
 * @module
 */
import { typeName, type MessageTypeName, type MethodName } from '../codes'
import { decodeOptions, hasOption, optionNumber, type CoapOption, type OptionName } from '../options'
import type { NativeSession } from '../native'
import { emptyPayload } from './pdu'
import type { Session } from './session'

/**
 * An incoming request, as a resource handler sees it.
 * @example
 * ```ts
 * import { CoapServer, type CoapRequest } from 'libcoap'
 *
 * const server = new CoapServer()
 * server.resource('/echo').post((req: CoapRequest) => ({
 *   code: '2.04',
 *   payload: `${req.method} ${req.path}?${req.query.join('&')} from ${req.remote.address}: ${req.text()}`,
 * }))
 * await server.listen()
 * ```
 */
export class CoapRequest {
  /** Request method. */
  readonly method: MethodName
  /** Path of the resource that matched, e.g. `'/alarm'`. */
  readonly path: string
  /** Body (empty Buffer when there is none; block-wise uploads arrive whole). */
  readonly payload: Buffer
  #type: number
  #rawOptions: Buffer | undefined
  #native: NativeSession
  #sessionFor: (n: NativeSession) => Session
  #all: CoapOption[] | undefined
  #options: CoapOption[] | undefined
  #remote: { address: string; port: number } | undefined

  /** @internal */
  constructor(
    method: MethodName, type: number, path: string, native: NativeSession, sessionFor: (n: NativeSession) => Session,
    payload: Buffer | undefined, options: Buffer | undefined,
  ) {
    this.method = method
    this.path = path
    this.payload = payload ?? emptyPayload
    this.#type = type
    this.#rawOptions = options
    this.#native = native
    this.#sessionFor = sessionFor
  }

  /** Message type: `'CON'` or `'NON'`. */
  get type(): MessageTypeName {
    return typeName(this.#type) ?? 'CON'
  }

  /** Whether the request was confirmable (CON). */
  get confirmable(): boolean {
    return this.#type === 0
  }

  /** Uri-Query items, one per option, as sent (e.g. `['a=1', 'b']`). */
  get query(): string[] {
    return this.#decoded().filter((o) => o.number === 15).map((o) => o.value as string)
  }

  /** Uri-Query as key/value pairs (`'b'` alone gives `b: ''`). */
  get searchParams(): URLSearchParams {
    return new URLSearchParams(this.query.map((q) => {
      const i = q.indexOf('=')
      return (i < 0 ? [q, ''] : [q.slice(0, i), q.slice(i + 1)]) as [string, string]
    }))
  }

  /** Options other than Uri-Path and Uri-Query (see `path` and `query`), in wire order. */
  get options(): CoapOption[] {
    this.#options ??= this.#decoded().filter((o) => o.number !== 15 && o.number !== 11)
    return this.#options
  }

  #decoded(): CoapOption[] {
    this.#all ??= decodeOptions(this.#rawOptions)
    return this.#all
  }

  /** @internal whether option `number` is present, without decoding the options */
  _has(number: number): boolean {
    return hasOption(this.#rawOptions, number)
  }

  /** Values of one option (all occurrences), by name or number. */
  option(name: OptionName | number | (string & {})): Array<CoapOption['value']> {
    const n = optionNumber(name, 'name')
    return this.options.filter((o) => o.number === n).map((o) => o.value)
  }

  /** Content-Format of the body, if given. */
  get contentFormat(): number | undefined {
    return this.option(12)[0] as number | undefined
  }

  /** Accept option, if given. */
  get accept(): number | undefined {
    return this.option(17)[0] as number | undefined
  }

  /** Body as UTF-8 text. */
  text(): string {
    return this.payload.toString('utf8')
  }

  /** Body parsed as JSON (throws `SyntaxError` on bad JSON, which the server answers with 5.00). */
  json(): unknown {
    return JSON.parse(this.text())
  }

  /** The peer's address and port. */
  get remote(): { address: string; port: number } {
    if (this.#remote === undefined) {
      const s = this.#native.remote ?? ':0'
      const i = s.lastIndexOf(':')
      this.#remote = { address: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) }
    }
    return this.#remote
  }

  /** The server-side session the request came in on. */
  get session(): Session {
    return this.#sessionFor(this.#native)
  }
}
