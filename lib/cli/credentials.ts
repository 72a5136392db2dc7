/**
 * Security flags (`-k`, `-u`, `-c`, `-j`, `-C`, `-n`, `--psk-hint`) as the library's PSK/PKI
 * settings, for clients and for the server.
 * @module
 */
import type { ClientPki, ClientPsk, ServerPki, ServerPsk } from '../security'
import type { Flags } from './args'
import { UsageError } from './exit-codes'

/** `0x…` as bytes (as coap-client reads `-k` and `-O`), anything else as UTF-8 text. */
export function textOrHex(value: string, flag: string): string | Buffer {
  if (!/^0x/i.test(value)) return value
  const hex = value.slice(2)
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(hex)) throw new UsageError(`${flag}: '${value}' is not an even number of hex digits after 0x`)
  return Buffer.from(hex, 'hex')
}

/** Client credentials: `psk` from -k/-u, `pki` from -c/-j/-C/-n, or neither. */
export function clientCredentials(flags: Flags): { psk?: ClientPsk; pki?: ClientPki } {
  if (flags['psk-key'] !== undefined) {
    // coap-client sends identity "" when -u is missing; libcoap needs one, so say so.
    if (flags['psk-identity'] === undefined) throw new UsageError('-k/--psk-key needs -u/--psk-identity on a client')
    return { psk: { identity: textOrHex(flags['psk-identity'], '-u'), key: textOrHex(flags['psk-key'], '-k') } }
  }
  if (flags.cert !== undefined || flags.ca !== undefined || flags['no-verify']) {
    const pki: ClientPki = {}
    if (flags.ca !== undefined) pki.ca = flags.ca
    if (flags.cert !== undefined) {
      pki.cert = flags.cert
      pki.key = flags.key ?? flags.cert // coap-client: the key may be in the certificate's file
    }
    if (flags['no-verify']) {
      pki.verifyPeer = false
      pki.checkCommonName = false
    }
    return { pki }
  }
  return {}
}

/** Server credentials from the flags; `undefined` when none were given. */
export function serverCredentials(flags: Flags): { psk?: ServerPsk; pki?: ServerPki } | undefined {
  const out: { psk?: ServerPsk; pki?: ServerPki } = {}
  if (flags['psk-key'] !== undefined) {
    const key = textOrHex(flags['psk-key'], '-k')
    const psk: ServerPsk = flags['psk-identity'] === undefined ? { key } : { keys: { [flags['psk-identity']]: key } }
    if (flags['psk-hint'] !== undefined) psk.hint = flags['psk-hint']
    out.psk = psk
  }
  if (flags.cert !== undefined) {
    out.pki = { cert: flags.cert, key: flags.key ?? flags.cert }
    if (flags.ca !== undefined) out.pki.ca = flags.ca
  } else if (flags.ca !== undefined) {
    throw new UsageError('-C/--ca on a server needs -c/--cert (and -j/--key)')
  }
  return out.psk === undefined && out.pki === undefined ? undefined : out
}
