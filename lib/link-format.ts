/**
 * CoRE Link Format (RFC 6690): what `/.well-known/core` returns.
 * @module
 */
import { CoapBadResponseError } from './errors'

/**
 * One link: its target and attributes (`rt`, `if`, `ct`, `sz`, `obs`, `title`, …).
 * @example
 * ```ts
 * import { CoapClient, type Link } from 'libcoap'
 *
 * const client = new CoapClient()
 * const links: Link[] = await client.discover('coap://[::1]/?rt=temperature-c')
 * for (const link of links) if (link.obs === true) console.log('observable:', link.href, link.title)
 * ```
 */
export interface Link {
  /** The link target, e.g. `'/sensors/temp'`. */
  href: string
  /** Attributes; a flag like `obs` is `true`, repeated attributes keep the last value. */
  [attribute: string]: string | number | boolean
}

const NUMERIC = new Set(['sz'])

/**
 * Parses `application/link-format` text: `</a>;rt="x";obs,</b>;ct=0`. Quoted values keep their
 * text (escapes removed); `sz` is a number; `ct` stays a string (it may list several formats).
 * Malformed text throws a `CoapBadResponseError` (`ERR_COAP_BAD_RESPONSE`) naming the offset.
 * @example
 * ```ts
 * import { parseLinkFormat } from 'libcoap'
 *
 * const links = parseLinkFormat('</temp>;rt="temperature-c";obs,</led>;ct=0;sz=1')
 * console.log(links)
 * // [{ href: '/temp', rt: 'temperature-c', obs: true }, { href: '/led', ct: '0', sz: 1 }]
 * ```
 */
export function parseLinkFormat(text: string): Link[] {
  if (typeof text !== 'string') throw new TypeError(`text must be a string, got ${typeof text}`)
  const links: Link[] = []
  let i = 0
  const n = text.length
  const skipSpace = (): void => {
    while (i < n && /\s/.test(text[i])) i++
  }
  while (i < n) {
    skipSpace()
    if (text[i] !== '<') throw new CoapBadResponseError(`link-format: expected '<' at offset ${i}`)
    const end = text.indexOf('>', i)
    if (end < 0) throw new CoapBadResponseError(`link-format: unterminated '<' at offset ${i}`)
    const link: Link = { href: text.slice(i + 1, end) }
    i = end + 1
    while (i < n && text[i] === ';') {
      i++
      const m = /^[^=;,\s]+/.exec(text.slice(i))
      if (!m) throw new CoapBadResponseError(`link-format: expected an attribute name at offset ${i}`)
      const name = m[0]
      i += name.length
      let value: string | number | boolean = true
      if (text[i] === '=') {
        i++
        if (text[i] === '"') {
          let v = ''
          i++
          while (i < n && text[i] !== '"') {
            if (text[i] === '\\' && i + 1 < n) i++
            v += text[i++]
          }
          if (i >= n) throw new CoapBadResponseError('link-format: unterminated quoted value')
          i++
          value = v
        } else {
          const raw = /^[^;,]*/.exec(text.slice(i))![0]
          i += raw.length
          value = raw
        }
        if (NUMERIC.has(name) && /^\d+$/.test(String(value))) value = Number(value)
      }
      link[name] = value
    }
    links.push(link)
    skipSpace()
    if (i < n) {
      if (text[i] !== ',') throw new CoapBadResponseError(`link-format: expected ',' at offset ${i}`)
      i++
    }
  }
  return links
}
