/**
 * DTLS/TLS security settings: PSK and PKI, for clients and servers. One set of types serves every
 * secured transport (`coaps://`, and TLS for `coaps+tcp://`/`coaps+ws://` as they arrive).
 * @module
 */
import { readFileSync } from 'node:fs'

/** Key material: a string (UTF-8) or raw bytes. */
export type Secret = string | Buffer | Uint8Array

/** PEM data: a path to a PEM file, PEM text (starting with `-----BEGIN`), or PEM bytes. */
export type Pem = string | Buffer | Uint8Array

/**
 * Client PSK credentials (↔ `coap_dtls_cpsk_t`).
 * @example
 * ```ts
 * import { CoapClient } from 'libcoap'
 *
 * const client = new CoapClient({
 *   psk: {
 *     identity: 'device-17',
 *     key: Buffer.from('6d9bd1ce38a3e0f1c5d6a1e9', 'hex'),
 *     onHint: (hint) => (hint === 'legacy' ? { identity: 'old-17', key: 'old-secret' } : undefined),
 *   },
 * })
 * await client.get('coaps://[::1]/status')
 * ```
 */
export interface ClientPsk {
  identity: Secret
  key: Secret
  /** Server Name Indication to send (ignored for IP literals, as libcoap does). */
  sni?: string
  /**
   * Called (synchronously, as libcoap requires) with the server's identity hint; return other
   * credentials for it, or `undefined` to keep `identity`/`key`.
   */
  onHint?: (hint: string) => { identity: Secret; key: Secret } | undefined
}

/**
 * Client certificate settings (↔ `coap_dtls_pki_t`).
 * @example
 * ```ts
 * import { CoapClient } from 'libcoap'
 *
 * const client = new CoapClient({
 *   pki: {
 *     ca: '/etc/coap/ca.pem', // a path, PEM text or PEM bytes
 *     cert: '/etc/coap/client.pem',
 *     key: '/etc/coap/client.key',
 *     sni: 'sensors.example.com',
 *   },
 * })
 * await client.get('coaps://192.0.2.10/status')
 * ```
 */
export interface ClientPki {
  /** CA that must have signed the server's certificate (default: the system's trusted CAs in `/etc/ssl/certs`). */
  ca?: Pem
  /** Our certificate and key, for servers that ask for one. */
  cert?: Pem
  key?: Pem
  /** Verify the server's certificate (default `true`). */
  verifyPeer?: boolean
  /** The server's certificate must name the host of the URL (or `sni`) (default `true`). */
  checkCommonName?: boolean
  /** Accept a self-signed server certificate (default `false`). */
  allowSelfSigned?: boolean
  /** Accept an expired certificate (default `false`). */
  allowExpired?: boolean
  /** Server Name Indication and the name to check (default: the URL's host). */
  sni?: string
}

/** What a PSK server answers for one SNI name. */
export interface PskSniEntry {
  hint?: Secret
  key: Secret
}

/**
 * Server PSK settings (↔ `coap_context_set_psk2`).
 * @example
 * ```ts
 * import { CoapServer } from 'libcoap'
 *
 * const server = new CoapServer({
 *   listen: 'coaps://[::]:5684',
 *   psk: { hint: 'gateway', keys: { 'device-17': 'secret-17', 'device-18': 'secret-18' } },
 * })
 * server.on('session', (session) => console.log('authenticated as', session.pskIdentity))
 * await server.listen()
 * ```
 */
export interface ServerPsk {
  /** Identity hint sent to clients. */
  hint?: Secret
  /** Key for every identity, unless `keys` decides. */
  key?: Secret
  /** Key per identity: a map, an object, or a synchronous lookup (`undefined`: unknown identity). */
  keys?: Map<string, Secret> | Record<string, Secret> | ((identity: string) => Secret | undefined)
  /** Hint and key per SNI name. */
  sni?: Map<string, PskSniEntry> | Record<string, PskSniEntry> | ((sni: string) => PskSniEntry | undefined)
}

/** Certificate and key for one SNI name. */
export interface PkiSniEntry {
  cert: Pem
  key: Pem
}

/**
 * Server certificate settings (↔ `coap_context_set_pki`).
 * @example
 * ```ts
 * import { CoapServer } from 'libcoap'
 *
 * const server = new CoapServer({
 *   listen: ['coaps://[::]:5684', 'coaps+tcp://[::]:5684'],
 *   pki: {
 *     cert: '/etc/coap/server.pem',
 *     key: '/etc/coap/server.key',
 *     ca: '/etc/coap/clients-ca.pem', // clients must present a certificate it signed
 *     onCommonName: (cn, { depth }) => depth > 0 || cn.endsWith('.devices.example.com'),
 *   },
 * })
 * await server.listen()
 * ```
 */
export interface ServerPki {
  cert: Pem
  key: Pem
  /** CA for client certificates; given, clients must present a certificate it signed. */
  ca?: Pem
  /** Require and verify client certificates (default: `true` when `ca` is given). */
  verifyPeer?: boolean
  /** Decide on each certificate of a client's chain (depth 0 is the client's own); `false` rejects. */
  onCommonName?: (cn: string, info: { depth: number; validated: boolean }) => boolean
  /** Certificate per SNI name. */
  sni?: Map<string, PkiSniEntry> | Record<string, PkiSniEntry> | ((sni: string) => PkiSniEntry | undefined)
}

/** @internal native form of client settings */
export interface NativeClientSecurity {
  psk?: { identity: Buffer; key: Buffer; sni?: string; hint: boolean }
  pki?: { ca?: Buffer; cert?: Buffer; key?: Buffer; verifyPeer: boolean; allowSelfSigned: boolean; allowExpired: boolean; sni?: string }
}

function bool(v: unknown, name: string, dflt: boolean): boolean {
  if (v === undefined) return dflt
  if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${typeof v}`)
  return v
}

/** A secret as bytes. @internal */
export function secretBytes(v: unknown, name: string): Buffer {
  if (typeof v === 'string') {
    if (v.length === 0) throw new RangeError(`${name} must not be empty`)
    return Buffer.from(v, 'utf8')
  }
  if (v instanceof Uint8Array) {
    if (v.length === 0) throw new RangeError(`${name} must not be empty`)
    return Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  }
  throw new TypeError(`${name} must be a string or Buffer, got ${v === null ? 'null' : typeof v}`)
}

/** PEM bytes from a path, PEM text or bytes. @internal */
export function pemBytes(v: unknown, name: string): Buffer {
  let out: Buffer
  if (typeof v === 'string') {
    if (v.trimStart().startsWith('-----BEGIN')) out = Buffer.from(v, 'utf8')
    else {
      try {
        out = readFileSync(v)
      } catch (err) {
        throw new TypeError(`${name}: cannot read PEM file '${v}' (${(err as NodeJS.ErrnoException).code ?? err})`)
      }
    }
  } else if (v instanceof Uint8Array) out = Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  else throw new TypeError(`${name} must be a PEM file path, PEM text or a Buffer, got ${v === null ? 'null' : typeof v}`)
  if (!out.includes('-----BEGIN')) throw new RangeError(`${name} does not hold PEM data (no '-----BEGIN' line)`)
  return out
}

function object(v: unknown, name: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`${name} must be an object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`)
  return v as Record<string, unknown>
}

function onlyKeys(o: Record<string, unknown>, keys: string[], name: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw new TypeError(`${name}: unknown option '${k}'`)
}

/** Validates client settings and turns them into the native form. @internal */
export function clientSecurity(psk: unknown, pki: unknown, name = 'options'): NativeClientSecurity | undefined {
  if (psk !== undefined && pki !== undefined) throw new TypeError(`${name}: give psk or pki, not both`)
  if (psk !== undefined) {
    const p = object(psk, `${name}.psk`)
    onlyKeys(p, ['identity', 'key', 'sni', 'onHint'], `${name}.psk`)
    if (p.sni !== undefined && typeof p.sni !== 'string') throw new TypeError(`${name}.psk.sni must be a string`)
    if (p.onHint !== undefined && typeof p.onHint !== 'function') throw new TypeError(`${name}.psk.onHint must be a function`)
    return { psk: { identity: secretBytes(p.identity, `${name}.psk.identity`), key: secretBytes(p.key, `${name}.psk.key`), sni: p.sni as string | undefined, hint: p.onHint !== undefined } }
  }
  if (pki !== undefined) {
    const p = object(pki, `${name}.pki`)
    onlyKeys(p, ['ca', 'cert', 'key', 'verifyPeer', 'checkCommonName', 'allowSelfSigned', 'allowExpired', 'sni'], `${name}.pki`)
    if ((p.cert === undefined) !== (p.key === undefined)) throw new TypeError(`${name}.pki: give cert and key together`)
    const verifyPeer = bool(p.verifyPeer, `${name}.pki.verifyPeer`, true)
    const allowSelfSigned = bool(p.allowSelfSigned, `${name}.pki.allowSelfSigned`, false)
    bool(p.checkCommonName, `${name}.pki.checkCommonName`, true)
    if (p.sni !== undefined && typeof p.sni !== 'string') throw new TypeError(`${name}.pki.sni must be a string`)
    return {
      pki: {
        ca: p.ca === undefined ? undefined : pemBytes(p.ca, `${name}.pki.ca`),
        cert: p.cert === undefined ? undefined : pemBytes(p.cert, `${name}.pki.cert`),
        key: p.key === undefined ? undefined : pemBytes(p.key, `${name}.pki.key`),
        verifyPeer,
        allowSelfSigned,
        allowExpired: bool(p.allowExpired, `${name}.pki.allowExpired`, false),
        sni: p.sni as string | undefined,
      },
    }
  }
  return undefined
}

/** Turns a map, object or function into a lookup function. @internal */
export function lookupOf<T>(v: unknown, name: string): ((key: string) => T | undefined) | undefined {
  if (v === undefined) return undefined
  if (typeof v === 'function') return v as (key: string) => T | undefined
  if (v instanceof Map) return (k) => v.get(k)
  if (typeof v === 'object' && v !== null) return (k) => (Object.hasOwn(v, k) ? (v as Record<string, T>)[k] : undefined)
  throw new TypeError(`${name} must be a Map, an object or a function, got ${v === null ? 'null' : typeof v}`)
}

/** Checks a server PSK set-up. @internal */
export function checkServerPsk(psk: unknown, name: string): ServerPsk {
  const p = object(psk, name)
  onlyKeys(p, ['hint', 'key', 'keys', 'sni'], name)
  if (p.key === undefined && p.keys === undefined && p.sni === undefined) throw new TypeError(`${name} needs key, keys or sni`)
  if (p.hint !== undefined) secretBytes(p.hint, `${name}.hint`)
  if (p.key !== undefined) secretBytes(p.key, `${name}.key`)
  lookupOf(p.keys, `${name}.keys`)
  lookupOf(p.sni, `${name}.sni`)
  return p as unknown as ServerPsk
}

/** Checks a server PKI set-up. @internal */
export function checkServerPki(pki: unknown, name: string): ServerPki {
  const p = object(pki, name)
  onlyKeys(p, ['cert', 'key', 'ca', 'verifyPeer', 'onCommonName', 'sni'], name)
  pemBytes(p.cert, `${name}.cert`)
  pemBytes(p.key, `${name}.key`)
  if (p.ca !== undefined) pemBytes(p.ca, `${name}.ca`)
  bool(p.verifyPeer, `${name}.verifyPeer`, p.ca !== undefined)
  if (p.verifyPeer === true && p.ca === undefined) throw new TypeError(`${name}.ca is required when verifyPeer is true`)
  if (p.onCommonName !== undefined && typeof p.onCommonName !== 'function') throw new TypeError(`${name}.onCommonName must be a function`)
  lookupOf(p.sni, `${name}.sni`)
  return p as unknown as ServerPki
}
