#!/usr/bin/env node
/**
 * `libcoap`: the command line tool (`npx libcoap get coap://[::1]/time`). See `libcoap --help`
 * and the README's "Command line" section; exit codes in ./exit-codes.
 * @module
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { USAGE, integerFlag, parseCommandLine, type Command } from './args'
import { ExitCode, UsageError, exitCodeForError, type ExitCodeValue } from './exit-codes'
import { printJson, writeStderr, writeStdout } from './output'

const SECURITY_FLAGS = ['psk-key', 'cert', 'ca', 'no-verify'] as const
const LOG_LEVELS = ['emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug'] as const

async function run(argv: string[], interrupt: AbortSignal): Promise<ExitCodeValue> {
  const cmd: Command = parseCommandLine(argv)
  if (cmd.name === 'help') {
    writeStdout(USAGE)
    return ExitCode.OK
  }
  const verbose = integerFlag(cmd.flags.verbose, '-v/--verbose', 0, 8)
  // The library (and the native addon) load only for commands that need them.
  const lib = await import('../index')
  if (verbose !== undefined) lib.setLogLevel(LOG_LEVELS[Math.min(verbose, 7)]!)
  if (cmd.name === 'version') {
    const pkg = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { version: string }
    const v = lib.versions()
    if (cmd.flags.json) printJson({ package: pkg.version, ...v })
    else writeStdout(`libcoap (Node.js package) ${pkg.version}, ${v.libcoap}, ${v.dtlsBackend} backend, ${v.tlsLibrary}\n`)
    return ExitCode.OK
  }
  if (cmd.name === 'server') {
    const { runServer } = await import('./server')
    return runServer(cmd, interrupt)
  }
  const { makeClient, runDiscover, runPing, runRequest } = await import('./request')
  const { proto } = lib.parseUri(cmd.url!, 'URL')
  if ((proto === 'dtls' || proto === 'tls' || proto === 'wss') && !SECURITY_FLAGS.some((f) => cmd.flags[f] !== undefined)) {
    throw new UsageError(`${cmd.url} needs credentials: -u ID -k KEY (PSK) or -C CA / -c CERT -j KEY / -n (certificates)`)
  }
  const client = makeClient(cmd.flags)
  try {
    switch (cmd.name) {
      case 'observe': {
        const { runObserve } = await import('./observe')
        return await runObserve(cmd, client, interrupt)
      }
      case 'discover':
        return await runDiscover(cmd, client, interrupt)
      case 'ping':
        return await runPing(cmd, client, interrupt)
      default:
        return await runRequest(cmd, client, interrupt)
    }
  } finally {
    await client.close()
  }
}

function main(): void {
  const argv = process.argv.slice(2)
  const json = argv.includes('--json')
  const interrupt = new AbortController()
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupt.signal.aborted) process.exit(ExitCode.INTERRUPTED) // a second Ctrl-C: now
    interrupt.abort(signal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  run(argv, interrupt.signal).then(
    (code) => {
      process.exitCode = code
    },
    (err: unknown) => {
      const code = exitCodeForError(err)
      const message = err instanceof Error ? err.message : String(err)
      if (code === ExitCode.INTERNAL) {
        writeStderr(`libcoap: internal error: ${err instanceof Error && err.stack ? err.stack : message}`)
      } else if (err instanceof UsageError || code === ExitCode.USAGE) {
        writeStderr(`libcoap: ${message}\nTry 'libcoap --help'.`)
      } else {
        writeStderr(`libcoap: ${message}`)
      }
      if (json) {
        const errCode = (err as { code?: unknown }).code
        printJson({ error: { code: typeof errCode === 'string' ? errCode : err instanceof UsageError ? 'ERR_USAGE' : null, message }, exitCode: code })
      }
      process.exitCode = code
    },
  ).finally(() => {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  })
}

main()
