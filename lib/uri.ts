/**
 * CoAP URIs (RFC 7252 §6, RFC 8323 §8) split into what a request needs.
 * @module
 */
import { isIP } from 'node:net'
import { CoapInvalidUriError } from './errors'

/** Transport protocols, named as libcoap's `COAP_PROTO_*` (lower case). */
export type Proto = 'udp' | 'dtls' | 'tcp' | 'tls' | 'ws' | 'wss'

const schemes: Record<string, { proto: Proto; port: number }> = {
  'coap:': { proto: 'udp', port: 5683 },
  'coaps:': { proto: 'dtls', port: 5684 },
  'coap+tcp:': { proto: 'tcp', port: 5683 },
  'coaps+tcp:': { proto: 'tls', port: 5684 },
  'coap+ws:': { proto: 'ws', port: 80 },
  'coaps+ws:': { proto: 'wss', port: 443 },
}

/**
 * A parsed CoAP URI.
 * @example
 * ```ts
 * import { parseUri, type CoapUri } from 'libcoap'
 *
 * const uri: CoapUri = parseUri('coaps+tcp://example.com/sensors/temp?unit=C')
 * console.log(uri.proto, uri.port, uri.path, uri.query, uri.origin)
 * // 'tls' 5684 ['sensors', 'temp'] ['unit=C'] 'coaps+tcp://example.com:5684'
 * ```
 */
export interface CoapUri {
  /** e.g. `'coap:'` */
  readonly scheme: string
  readonly proto: Proto
  /** Host name or IP literal, without brackets. */
  readonly host: string
  readonly port: number
  /** Decoded Uri-Path segments. */
  readonly path: string[]
  /** Decoded Uri-Query items. */
  readonly query: string[]
  /** `scheme//host:port`, the key requests share a session by. */
  readonly origin: string
}

/**
 * Parses a `coap://`, `coaps://`, `coap+tcp://`, `coaps+tcp://`, `coap+ws://` or `coaps+ws://` URL.
 * @example
 * ```ts
 * import { parseUri } from 'libcoap'
 *
 * const { host, port, path } = parseUri('coap://[fe80::1]/a/b%20c')
 * console.log(host, port, path) // 'fe80::1' 5683 ['a', 'b c']
 * ```
 */
export function parseUri(input: string | URL, name = 'url'): CoapUri {
  if (typeof input !== 'string' && !(input instanceof URL)) {
    throw new TypeError(`${name} must be a string or URL, got ${input === null ? 'null' : typeof input}`)
  }
  let url: URL
  try {
    url = input instanceof URL ? input : new URL(input)
  } catch {
    throw new CoapInvalidUriError(`${name} is not a valid URL: '${String(input)}'`)
  }
  const scheme = schemes[url.protocol]
  if (!scheme) {
    throw new CoapInvalidUriError(`${name} has unsupported scheme '${url.protocol}' (use ${Object.keys(schemes).map((s) => s + '//').join(', ')})`)
  }
  if (url.hash) throw new CoapInvalidUriError(`${name} must not have a fragment (RFC 7252 §6.1)`)
  if (url.username || url.password) throw new CoapInvalidUriError(`${name} must not carry user information`)
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  if (!host) throw new CoapInvalidUriError(`${name} has no host: '${url.href}'`)
  const port = url.port ? Number(url.port) : scheme.port
  const decode = (s: string): string => {
    try {
      return decodeURIComponent(s)
    } catch {
      throw new CoapInvalidUriError(`${name} has a bad percent-encoding in '${s}'`)
    }
  }
  // For coap+ws the path is the CoAP resource's; the WebSocket endpoint is always /.well-known/coap.
  const segments = url.pathname === '' || url.pathname === '/' ? [] : url.pathname.slice(1).split('/')
  const path = segments.map(decode)
  const query = url.search.length > 1 ? url.search.slice(1).split('&').map((q) => decode(q.replace(/\+/g, '%2B'))) : []
  const origin = `${url.protocol}//${isIP(host) === 6 ? `[${host}]` : host}:${port}`
  return { scheme: url.protocol, proto: scheme.proto, host, port, path, query, origin }
}
