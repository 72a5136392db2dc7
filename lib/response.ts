/**
 * `CoapResponse`: what a client request resolves to.
 * @module
 */
import { codeToString, type CodeString, type MessageTypeName } from './codes'
import type { Pdu } from './core/pdu'
import type { CoapOption, OptionName } from './options'

/**
 * A response. Like `fetch`, 4.xx and 5.xx responses resolve; check {@link CoapResponse.ok}.
 * @example
 * ```ts
 * import { CoapClient, ContentFormat } from 'libcoap'
 *
 * const client = new CoapClient()
 * const res = await client.get('coap://[::1]/temperature', { accept: 'application/json' })
 * if (!res.ok) throw new Error(`temperature: ${res.code}`)
 * if (res.contentFormat === ContentFormat['application/json']) console.log(res.json())
 * console.log(res.type, res.option('Max-Age'))
 * await client.close()
 * ```
 */
export class CoapResponse {
  /** Code in dotted form, e.g. `'2.05'`. */
  readonly code: CodeString
  /** `true` for 2.xx. */
  readonly ok: boolean
  /** Body (empty Buffer when none; block-wise bodies arrive whole). */
  readonly payload: Buffer
  /** Message type the response came in (`'ACK'` piggybacked, `'CON'`/`'NON'` separate). */
  readonly type: MessageTypeName
  /** The URL that was requested. */
  readonly url: string
  readonly #pdu: Pdu

  /** @internal */
  constructor(pdu: Pdu, url: string) {
    this.#pdu = pdu
    this.code = codeToString(pdu.code)
    this.ok = pdu.code >> 5 === 2
    this.payload = pdu.payload
    this.type = pdu.type
    this.url = url
  }

  /** Options in wire order. */
  get options(): CoapOption[] {
    return this.#pdu.options
  }

  /** Values of one option (all occurrences), by name or number. */
  option(name: OptionName | number | (string & {})): Array<CoapOption['value']> {
    return this.#pdu.option(name)
  }

  /** Content-Format of the body, when the server gave one. */
  get contentFormat(): number | undefined {
    return this.#pdu.option(12)[0] as number | undefined
  }

  /** Body as UTF-8 text. */
  text(): string {
    return this.payload.toString('utf8')
  }

  /** Body parsed as JSON (throws `SyntaxError` when it is not JSON). */
  json(): unknown {
    return JSON.parse(this.text())
  }
}
