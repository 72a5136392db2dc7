/**
 * The command line: the `node:util` `parseArgs` spec, the usage text, and the checks that turn
 * parsed flags into a {@link Command}. Flags follow libcoap's `coap-client` where it has one.
 * @module
 */
import { parseArgs } from 'node:util'
import { UsageError } from './exit-codes'

/** Request methods, as commands and as `-m` values. */
export const METHODS = ['get', 'put', 'post', 'delete', 'fetch', 'patch', 'ipatch'] as const
export type MethodCommand = (typeof METHODS)[number]

/** Every command. */
export const COMMANDS = [...METHODS, 'observe', 'discover', 'ping', 'server', 'help'] as const
export type CommandName = (typeof COMMANDS)[number]

/** The `parseArgs` options (one spec for every command; {@link APPLIES} says which take what). */
export const OPTIONS = {
  method: { type: 'string', short: 'm' },
  payload: { type: 'string', short: 'e' },
  file: { type: 'string', short: 'f' },
  'content-format': { type: 'string', short: 't' },
  accept: { type: 'string', short: 'A' },
  non: { type: 'boolean', short: 'N' },
  option: { type: 'string', short: 'O', multiple: true },
  'block-size': { type: 'string', short: 'b' },
  duration: { type: 'string', short: 's' },
  wait: { type: 'string', short: 'B' },
  output: { type: 'string', short: 'o' },
  'psk-key': { type: 'string', short: 'k' },
  'psk-identity': { type: 'string', short: 'u' },
  'psk-hint': { type: 'string' },
  cert: { type: 'string', short: 'c' },
  key: { type: 'string', short: 'j' },
  ca: { type: 'string', short: 'C' },
  'no-verify': { type: 'boolean', short: 'n' },
  listen: { type: 'string', short: 'l', multiple: true },
  json: { type: 'boolean' },
  progress: { type: 'boolean' },
  'no-progress': { type: 'boolean' },
  verbose: { type: 'string', short: 'v' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const

export type FlagName = keyof typeof OPTIONS

const COMMON: FlagName[] = ['json', 'verbose', 'help', 'version']
const CLIENT: FlagName[] = [...COMMON, 'wait', 'psk-key', 'psk-identity', 'cert', 'key', 'ca', 'no-verify']
const REQUEST: FlagName[] = [...CLIENT, 'method', 'payload', 'file', 'content-format', 'accept', 'non', 'option', 'block-size', 'output', 'progress', 'no-progress']

/** Which flags each command takes. */
export const APPLIES: Record<Exclude<CommandName, 'help'>, ReadonlySet<FlagName>> = {
  ...Object.fromEntries(METHODS.map((m) => [m, new Set(REQUEST)])) as unknown as Record<MethodCommand, ReadonlySet<FlagName>>,
  observe: new Set([...REQUEST.filter((f) => f !== 'non' && f !== 'progress' && f !== 'no-progress'), 'duration']),
  discover: new Set([...CLIENT, 'accept', 'option', 'block-size']),
  ping: new Set(CLIENT),
  server: new Set([...COMMON, 'listen', 'psk-key', 'psk-identity', 'psk-hint', 'cert', 'key', 'ca']),
}

export const USAGE = `Usage: libcoap <command> [flags] URL

Commands:
  get|put|post|delete|fetch|patch|ipatch URL   send one request, print the response body
  observe URL        observe a resource (RFC 7641), print every notification
  discover URL       list the resources of /.well-known/core (RFC 6690)
  ping URL           CoAP ping (7.02 Ping over TCP/TLS/WebSockets), print the round trip
  server             run the demo server (/alarm, /time, /slow) until Ctrl-C
  help               show this text
  A URL without a command works as in coap-client: -m picks the method, -s observes.

URLs: coap://, coaps://, coap+tcp://, coaps+tcp://, coap+ws://, coaps+ws://

Request flags:
  -m, --method M            get|put|post|delete|fetch|patch|ipatch (default get)
  -e, --payload TEXT        request body (UTF-8 text)
  -f, --file FILE           request body from FILE ('-' reads stdin)
  -t, --content-format CF   Content-Format of the body: media type, short name or number
  -A, --accept CF           Accept option: media type, short name or number
  -N, --non                 send NON-confirmable (default CON)
  -O, --option NUM,TEXT     add an option by number or name (repeatable); 0x… is hex bytes
  -b, --block-size SIZE     largest block for block-wise transfers (16..1024)
  -o, --output FILE         write the body to FILE exactly ('-': stdout, no newline added)
  -s, --duration SECONDS    observe for this long, then deregister (default: until Ctrl-C)
  -B, --wait SECONDS        give up after this long without an answer (default 30)
      --progress            show block-wise progress on stderr even when it is no TTY
      --no-progress         never show it (default: shown when stderr is a TTY)
Security flags (coaps://, coaps+tcp://, coaps+ws://):
  -k, --psk-key KEY         pre-shared key (0x… is hex bytes)
  -u, --psk-identity ID     PSK identity (client); with -k on a server: the only identity accepted
      --psk-hint HINT       identity hint the server sends
  -c, --cert FILE           our certificate (PEM)
  -j, --key FILE            its private key (PEM)
  -C, --ca FILE             CA certificate that signed the peer's (server: clients must present one)
  -n, --no-verify           client: do not check the server's certificate
Server flags:
  -l, --listen URL          listen URL, repeatable (default coap://[::]:5683 and coaps://[::]:5684)
                            without -k/-c the demo PSK is used: identity 'demo', key 'demo-secret'
Output:
      --json                machine-readable output: one JSON object per line on stdout
  -v, --verbose LEVEL       libcoap log level 0..7 (emerg..debug); 6+ also prints the response header
  -h, --help                this text
      --version             versions of this package, libcoap and the TLS library

Exit codes: 0 success (2.xx), 1 internal error, 2 bad usage, 3 4.xx answer, 4 5.xx answer,
5 timeout, 6 DTLS/TLS handshake failure, 7 transport/protocol failure, 130 interrupted.

Examples:
  libcoap get coap://[::1]/time
  libcoap put -e ON coap://[::1]/alarm
  libcoap get -u demo -k demo-secret coaps://[::1]/alarm
  libcoap observe -s 10 coap://[::1]/time
  libcoap -m put -f firmware.bin -t octet coap+tcp://gw/upload
  libcoap server -l coap://[::]:5683 -l coap+tcp://[::]:5683
`

/** Parsed flag values. */
export type Flags = {
  -readonly [K in FlagName]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[] : (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string
}

/** What to do. */
export interface Command {
  name: Exclude<CommandName, 'help'> | 'help' | 'version'
  /** Request method for request commands (upper case, as the library wants it). */
  method?: 'GET' | 'PUT' | 'POST' | 'DELETE' | 'FETCH' | 'PATCH' | 'IPATCH'
  url?: string
  flags: Flags
}

function flagLabel(name: FlagName): string {
  const short = (OPTIONS[name] as { short?: string }).short
  return short ? `-${short}/--${name}` : `--${name}`
}

/** Parses `argv` (without node and the script); throws {@link UsageError} on mistakes. */
export function parseCommandLine(argv: string[]): Command {
  let parsed: { values: Flags; positionals: string[] }
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }) as unknown as { values: Flags; positionals: string[] }
  } catch (err) {
    // parseArgs throws TypeErrors with codes ERR_PARSE_ARGS_*; its messages are clear.
    throw new UsageError((err as Error).message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '.'))
  }
  const { values: flags, positionals } = parsed
  if (flags.help) return { name: 'help', flags }
  if (flags.version) return { name: 'version', flags }
  if (positionals.length === 0) throw new UsageError('missing command (get, put, post, delete, fetch, patch, ipatch, observe, discover, ping or server)')

  let name: Command['name']
  let rest: string[]
  const first = positionals[0]!
  if ((COMMANDS as readonly string[]).includes(first.toLowerCase())) {
    name = first.toLowerCase() as CommandName
    rest = positionals.slice(1)
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(first)) {
    // coap-client style: `libcoap [-m method] [-s secs] URL`
    name = flags.duration !== undefined ? 'observe' : flags.method !== undefined ? methodFlag(flags.method) : 'get'
    rest = positionals
  } else {
    throw new UsageError(`unknown command '${first}'`)
  }
  if (name === 'help') return { name, flags }

  for (const key of Object.keys(flags) as FlagName[]) {
    if (flags[key] !== undefined && !APPLIES[name].has(key)) throw new UsageError(`${flagLabel(key)} does not apply to '${name}'`)
  }

  let method: Command['method']
  if ((METHODS as readonly string[]).includes(name)) {
    if (flags.method !== undefined && methodFlag(flags.method) !== name) throw new UsageError(`-m ${flags.method} contradicts the command '${name}'`)
    method = name.toUpperCase() as Command['method']
  } else if (name === 'observe') {
    const m = flags.method === undefined ? 'get' : methodFlag(flags.method)
    if (m !== 'get' && m !== 'fetch') throw new UsageError(`observe takes -m get or -m fetch, got '${flags.method}'`)
    method = m.toUpperCase() as Command['method']
  }
  if (flags.payload !== undefined && flags.file !== undefined) throw new UsageError('give -e/--payload or -f/--file, not both')
  if (flags.progress && flags['no-progress']) throw new UsageError('give --progress or --no-progress, not both')
  if (flags['psk-identity'] !== undefined && flags['psk-key'] === undefined) throw new UsageError('-u/--psk-identity needs -k/--psk-key')
  if (flags['psk-hint'] !== undefined && flags['psk-key'] === undefined) throw new UsageError('--psk-hint needs -k/--psk-key')
  if (flags.key !== undefined && flags.cert === undefined) throw new UsageError('-j/--key needs -c/--cert')
  if (flags['psk-key'] !== undefined && (flags.cert !== undefined || flags.ca !== undefined) && name !== 'server') {
    throw new UsageError('give PSK (-k/-u) or certificates (-c/-j/-C), not both')
  }

  if (name === 'server') {
    if (rest.length > 0) throw new UsageError(`'server' takes no URL (use -l/--listen), got '${rest[0]}'`)
    return { name, flags }
  }
  if (rest.length === 0) throw new UsageError(`'${name}' needs a URL, e.g. coap://[::1]/time`)
  if (rest.length > 1) throw new UsageError(`'${name}' takes one URL, got ${rest.length}: ${rest.join(' ')}`)
  if (method === undefined && flags.method !== undefined) throw new UsageError(`-m/--method does not apply to '${name}'`)
  return { name, method, url: rest[0], flags }
}

function methodFlag(value: string): MethodCommand {
  const m = value.toLowerCase()
  if (!(METHODS as readonly string[]).includes(m)) throw new UsageError(`-m must be one of ${METHODS.join(', ')}, got '${value}'`)
  return m as MethodCommand
}

/** A number of seconds from a flag (fractions allowed), in ms. */
export function secondsFlag(value: string | undefined, flag: string, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 2_147_483) throw new UsageError(`${flag} must be a number of seconds > 0, got '${value}'`)
  return Math.round(n * 1000)
}

/** An integer from a flag. */
export function integerFlag(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw new UsageError(`${flag} must be an integer ${min}..${max}, got '${value}'`)
  return n
}
