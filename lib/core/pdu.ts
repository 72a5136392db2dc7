/**
 * A received CoAP message, as libcoap handed it over (block-wise bodies already reassembled).
 * @module
 */
import { codeToString, typeName, type CodeString, type MessageTypeName } from '../codes'
import { decodeOptions, optionNumber, type CoapOption, type OptionName } from '../options'

const EMPTY = Buffer.alloc(0)

/**
 * A CoAP message: type, code, token, options and payload (↔ libcoap's `coap_pdu_t`).
 * @example
 * ```ts
 * import { Context } from 'libcoap/core'
 *
 * await using ctx = new Context()
 * const session = ctx.newClientSession({ remote: { host: '::1', port: 5683 } })
 * const pdu = await ctx.send(session, { method: 'GET', options: [[11, Buffer.from('temperature')]] })
 * console.log(pdu.code, pdu.codeString, pdu.type, pdu.token) // 69 '2.05' 'ACK' '…'
 * console.log(pdu.option('Content-Format'), pdu.payload.toString())
 * session.release()
 * ```
 */
export class Pdu {
  /** Wire code, e.g. `69` for 2.05. */
  readonly code: number
  /** Message type. */
  readonly type: MessageTypeName
  /** Message ID. */
  readonly mid: number
  /** Body (empty Buffer when there is none). */
  readonly payload: Buffer
  #rawOptions: Buffer | undefined
  #options: CoapOption[] | undefined
  // A token of ours arrives as its counter; the hex is made only if asked for.
  #token: string | number
  #tokenBase: string

  /** @internal */
  constructor(code: number, type: number, mid: number, token: string | number, payload: Buffer | undefined, rawOptions: Buffer | undefined, tokenBase = '') {
    this.code = code
    this.type = typeName(type) ?? 'CON'
    this.mid = mid
    this.#token = token
    this.#tokenBase = tokenBase
    this.payload = payload ?? EMPTY
    this.#rawOptions = rawOptions
  }

  /** Token as lower-case hex. */
  get token(): string {
    if (typeof this.#token === 'number') this.#token = this.#tokenBase + this.#token.toString(16).padStart(8, '0')
    return this.#token
  }

  /** Code in dotted form, e.g. `'2.05'`. */
  get codeString(): CodeString {
    return codeToString(this.code)
  }

  /** Every option, in wire order (decoded on first access). */
  get options(): CoapOption[] {
    this.#options ??= decodeOptions(this.#rawOptions)
    return this.#options
  }

  /** Values of one option (all occurrences), by name or number. */
  option(name: OptionName | number | (string & {})): Array<CoapOption['value']> {
    const n = optionNumber(name, 'name')
    return this.options.filter((o) => o.number === n).map((o) => o.value)
  }
}

/** The shared empty payload. @internal */
export const emptyPayload = EMPTY
