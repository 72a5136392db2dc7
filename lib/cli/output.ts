/**
 * What the tool prints: response bodies and headers as text, or one JSON object per line with
 * `--json`; errors as one line on stderr.
 * @module
 */
import { writeSync } from 'node:fs'
import type { CoapResponse } from '../response'
import type { Link } from '../link-format'
import { formatName } from './media'

/** Reason phrases of the response codes (RFC 7252 §12.1.2, RFC 7959, 8132, 8516, 8768). */
export const REASONS: Record<string, string> = {
  '2.01': 'Created', '2.02': 'Deleted', '2.03': 'Valid', '2.04': 'Changed', '2.05': 'Content', '2.31': 'Continue',
  '4.00': 'Bad Request', '4.01': 'Unauthorized', '4.02': 'Bad Option', '4.03': 'Forbidden', '4.04': 'Not Found',
  '4.05': 'Method Not Allowed', '4.06': 'Not Acceptable', '4.08': 'Request Entity Incomplete', '4.09': 'Conflict',
  '4.12': 'Precondition Failed', '4.13': 'Request Entity Too Large', '4.15': 'Unsupported Content-Format',
  '4.22': 'Unprocessable Entity', '4.29': 'Too Many Requests',
  '5.00': 'Internal Server Error', '5.01': 'Not Implemented', '5.02': 'Bad Gateway', '5.03': 'Service Unavailable',
  '5.04': 'Gateway Timeout', '5.05': 'Proxying Not Supported', '5.08': 'Hop Limit Reached',
}

/** `'4.04 Not Found'`. */
export function codeLine(code: string): string {
  const reason = REASONS[code]
  return reason === undefined ? code : `${code} ${reason}`
}

/** A 4.xx/5.xx answer as one line: `4.04 Not Found`, with the diagnostic payload if it says more. */
export function errorLine(res: CoapResponse): string {
  const diagnostic = res.text().trim().replace(/\s*\n\s*/g, ' ')
  return diagnostic && diagnostic !== REASONS[res.code] ? `${codeLine(res.code)}: ${diagnostic}` : codeLine(res.code)
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** A body for JSON: UTF-8 text when it is valid UTF-8, else base64. */
export function bodyJson(payload: Buffer): { payload: string; encoding: 'utf8' | 'base64' } {
  try {
    return { payload: utf8.decode(payload), encoding: 'utf8' }
  } catch {
    return { payload: payload.toString('base64'), encoding: 'base64' }
  }
}

function optionValueJson(value: number | string | Buffer): number | string {
  return Buffer.isBuffer(value) ? `0x${value.toString('hex')}` : value
}

/** The JSON form of a response (`--json`). */
export function responseJson(res: CoapResponse, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...extra,
    url: res.url,
    code: res.code,
    reason: REASONS[res.code] ?? null,
    ok: res.ok,
    type: res.type,
    contentFormat: res.contentFormat ?? null,
    mediaType: formatName(res.contentFormat) ?? null,
    options: res.options.map((o) => ({ number: o.number, name: o.name, value: optionValueJson(o.value) })),
    size: res.payload.length,
    ...bodyJson(res.payload),
  }
}

/** The response header as text (`-v 6` and up): code, type and options. */
export function headerText(res: CoapResponse): string {
  const opts = res.options
    .filter((o) => o.number !== 12)
    .map((o) => `${o.name}: ${Buffer.isBuffer(o.value) ? `0x${o.value.toString('hex')}` : o.value}`)
  const cf = res.contentFormat === undefined ? [] : [`Content-Format: ${formatName(res.contentFormat)}`]
  return [`${codeLine(res.code)} (${res.type})`, ...cf, ...opts].join('\n')
}

/** A link as one line of link-format: `</alarm>;rt="alarm";title="Alarm state"`. */
export function linkText(link: Link): string {
  let out = `<${link.href}>`
  for (const [k, v] of Object.entries(link)) {
    if (k === 'href') continue
    if (v === true) out += `;${k}`
    else if (typeof v === 'number' || k === 'ct') out += `;${k}=${v}`
    else out += `;${k}="${String(v).replace(/(["\\])/g, '\\$1')}"`
  }
  return out
}

/** Writes all of `data` to stdout before returning (the process may exit right after). */
export function writeStdout(data: string | Buffer): void {
  writeAll(1, typeof data === 'string' ? Buffer.from(data) : data)
}

/** Writes a line to stderr (synchronously, so it is out before exit). */
export function writeStderr(line: string): void {
  writeAll(2, Buffer.from(line.endsWith('\n') ? line : `${line}\n`))
}

function writeAll(fd: number, buf: Buffer): void {
  for (let at = 0; at < buf.length;) {
    try {
      at += writeSync(fd, buf, at)
    } catch (err) {
      // A non-blocking pipe that is full: try again; a closed one (EPIPE): nothing to do.
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') return
      throw err
    }
  }
}

/** One JSON object as a line on stdout. */
export function printJson(value: unknown): void {
  writeStdout(`${JSON.stringify(value)}\n`)
}
