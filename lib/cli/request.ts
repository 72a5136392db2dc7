/**
 * The request commands (`get`, `put`, … `ipatch`), `discover` and `ping`, and the client settings
 * they share with `observe`.
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { CoapClient, type ClientOptions, type RequestOptions } from '../client'
import type { OptionsInit, OptionValue } from '../options'
import type { CoapResponse } from '../response'
import { parseLinkFormat } from '../link-format'
import { parseUri } from '../uri'
import { integerFlag, secondsFlag, type Command, type Flags } from './args'
import { clientCredentials, textOrHex } from './credentials'
import { ExitCode, UsageError, exitCodeForResponse, type ExitCodeValue } from './exit-codes'
import { parseFormatFlag } from './media'
import { errorLine, headerText, linkText, printJson, responseJson, writeStderr, writeStdout } from './output'
import { createProgress } from './progress'

/** Default of `-B`: seconds to wait for an answer. */
export const DEFAULT_WAIT_SECONDS = 30

/** A client for the flags (credentials, block size, `-B` as its timeout). */
export function makeClient(flags: Flags): CoapClient {
  const options: ClientOptions = {
    timeout: secondsFlag(flags.wait, '-B/--wait', DEFAULT_WAIT_SECONDS * 1000),
    ...clientCredentials(flags),
  }
  const blockSize = integerFlag(flags['block-size'], '-b/--block-size', 16, 1024)
  if (blockSize !== undefined) options.blockSize = blockSize
  return new CoapClient(options)
}

/** `-O num,text` / `-O Name,text` as request options. */
export function optionFlags(values: string[] | undefined): OptionsInit | undefined {
  if (values === undefined || values.length === 0) return undefined
  const out: Record<string, OptionValue[]> = {}
  for (const v of values) {
    const comma = v.indexOf(',')
    if (comma <= 0) throw new UsageError(`-O/--option takes NUM,TEXT or NAME,TEXT, got '${v}'`)
    const key = v.slice(0, comma).trim()
    ;(out[key] ??= []).push(textOrHex(v.slice(comma + 1), '-O'))
  }
  return out
}

/** The request body from `-e` or `-f` (`-` reads stdin). */
export function payloadFlags(flags: Flags): string | Buffer | undefined {
  if (flags.payload !== undefined) return flags.payload
  if (flags.file === undefined) return undefined
  try {
    return readFileSync(flags.file === '-' ? 0 : flags.file)
  } catch (err) {
    throw new UsageError(`cannot read ${flags.file === '-' ? 'stdin' : `'${flags.file}'`}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

/** Per-request settings shared by the request commands and `observe`. */
export function requestOptions(flags: Flags): RequestOptions {
  const options: RequestOptions = {}
  if (flags['content-format'] !== undefined) options.contentFormat = parseFormatFlag(flags['content-format'], '-t/--content-format')
  if (flags.accept !== undefined) options.accept = parseFormatFlag(flags.accept, '-A/--accept')
  const extra = optionFlags(flags.option)
  if (extra !== undefined) options.options = extra
  return options
}

/** Prints a response (text or JSON) and returns the exit code it stands for. */
export function report(res: CoapResponse, flags: Flags, extra: Record<string, unknown> = {}): ExitCodeValue {
  const verbose = Number(flags.verbose ?? 0)
  if (verbose >= 6) writeStderr(headerText(res))
  if (flags.output !== undefined && res.ok) {
    if (flags.output === '-') writeStdout(res.payload)
    else writeFileSync(flags.output, res.payload)
  }
  if (!res.ok) writeStderr(errorLine(res))
  if (flags.json) printJson(responseJson(res, extra))
  else if (res.ok && flags.output === undefined && res.payload.length > 0) {
    writeStdout(res.payload)
    if (res.payload[res.payload.length - 1] !== 0x0a) writeStdout('\n')
  }
  return exitCodeForResponse(res.code)
}

/** `get URL`, `put -e … URL`, …: one request. */
export async function runRequest(cmd: Command, client: CoapClient, signal: AbortSignal): Promise<ExitCodeValue> {
  const payload = payloadFlags(cmd.flags)
  const progress = createProgress(cmd.flags.progress ? 'on' : cmd.flags['no-progress'] || cmd.flags.json ? 'off' : 'auto')
  try {
    const res = await client.request({
      ...requestOptions(cmd.flags),
      url: cmd.url!,
      method: cmd.method!,
      payload,
      confirmable: !cmd.flags.non,
      signal,
      onProgress: progress.onProgress,
    })
    progress.done()
    return report(res, cmd.flags, { method: cmd.method })
  } finally {
    progress.done()
  }
}

/** `discover URL`: GET /.well-known/core of the URL's origin (its query filters), list the links. */
export async function runDiscover(cmd: Command, client: CoapClient, signal: AbortSignal): Promise<ExitCodeValue> {
  const uri = parseUri(cmd.url!, 'URL')
  const target = `${uri.origin}/.well-known/core${new URL(cmd.url!).search}`
  const options = requestOptions(cmd.flags)
  const res = await client.get(target, { accept: 40, ...options, signal })
  if (!res.ok) return report(res, cmd.flags)
  const links = parseLinkFormat(res.text())
  if (cmd.flags.json) printJson({ url: target, code: res.code, links })
  else writeStdout(links.map((l) => `${linkText(l)}\n`).join(''))
  return ExitCode.OK
}

/** `ping URL`: CoAP ping, prints the round trip. */
export async function runPing(cmd: Command, client: CoapClient, signal: AbortSignal): Promise<ExitCodeValue> {
  const uri = parseUri(cmd.url!, 'URL')
  const rtt = await client.ping(cmd.url!, { signal })
  if (cmd.flags.json) printJson({ url: uri.origin, rtt })
  else writeStdout(`pong from ${uri.origin} in ${rtt.toFixed(1)} ms\n`)
  return ExitCode.OK
}
