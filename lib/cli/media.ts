/**
 * `-t`/`-A` values: our Content-Format names (lib/content-format.ts), their short forms and numbers.
 * @module
 */
import { ContentFormat, contentFormatName } from '../content-format'
import { UsageError } from './exit-codes'

const ALIASES: Record<string, number> = { text: 0, octet: 42, binary: 42, link: 40 }
for (const [name, n] of Object.entries(ContentFormat)) {
  // 'application/json' → 'json', 'text/plain' → 'plain', …
  const sub = name.split('/')[1]!
  if (!sub.includes(';')) ALIASES[sub] = n
}

/** Content-Format number for `-t`/`-A`: `application/json`, `json`, `50`. */
export function parseFormatFlag(value: string, flag: string): number {
  const v = value.trim().toLowerCase()
  if (/^\d+$/.test(v)) {
    const n = Number(v)
    if (n > 65535) throw new UsageError(`${flag} must be 0..65535, got '${value}'`)
    return n
  }
  const n = (ContentFormat as Record<string, number>)[v] ?? ALIASES[v]
  if (n === undefined) throw new UsageError(`${flag}: unknown media type '${value}' (known: ${Object.keys(ContentFormat).filter((k) => !k.includes(';')).join(', ')}, short names like json, or a number)`)
  return n
}

/** Media type name of a Content-Format number (the number as text when unknown). */
export function formatName(n: number | undefined): string | undefined {
  return n === undefined ? undefined : (contentFormatName(n) ?? String(n))
}
