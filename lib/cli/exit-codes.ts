/**
 * Exit codes of the `libcoap` command line tool, and how results and errors map to them.
 *
 * | code | meaning |
 * |---|---|
 * | 0 | success: a 2.xx response, a pong, a finished observation, a server stopped by a signal |
 * | 1 | an unexpected internal error (a bug: please report it) |
 * | 2 | bad usage: unknown flag or command, bad value, unreadable file, invalid URL |
 * | 3 | the server answered 4.xx (client error) |
 * | 4 | the server answered 5.xx (server error) |
 * | 5 | timeout: no answer within `-B` seconds |
 * | 6 | security: the DTLS/TLS handshake failed (wrong key, identity or certificate) |
 * | 7 | transport or protocol failure: refused, unreachable, reset (RST), connection closed, malformed or too large answer, cannot listen |
 * | 130 | interrupted (Ctrl-C) while a request was pending |
 * @module
 */

/** The documented exit codes. */
export const ExitCode = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  CLIENT_ERROR: 3,
  SERVER_ERROR: 4,
  TIMEOUT: 5,
  SECURITY: 6,
  TRANSPORT: 7,
  INTERRUPTED: 130,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

/** A mistake on the command line (exit code 2): the message is shown with a hint to `--help`. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** Exit code for a response code such as `'2.05'` or `'4.04'`. */
export function exitCodeForResponse(code: string): ExitCodeValue {
  switch (code[0]) {
    case '2':
      return ExitCode.OK
    case '4':
      return ExitCode.CLIENT_ERROR
    case '5':
      return ExitCode.SERVER_ERROR
    default:
      return ExitCode.TRANSPORT
  }
}

const BY_CODE: Record<string, ExitCodeValue> = {
  ERR_COAP_TIMEOUT: ExitCode.TIMEOUT,
  ERR_COAP_DTLS_HANDSHAKE: ExitCode.SECURITY,
  ERR_COAP_TLS: ExitCode.SECURITY,
  ERR_COAP_INVALID_URI: ExitCode.USAGE,
  ERR_COAP_CONNECTION: ExitCode.TRANSPORT,
  ERR_COAP_RESET: ExitCode.TRANSPORT,
  ERR_COAP_CLOSED: ExitCode.TRANSPORT,
  ERR_COAP_SEND: ExitCode.TRANSPORT,
  ERR_COAP_BAD_RESPONSE: ExitCode.TRANSPORT,
  ERR_COAP_TOO_LARGE: ExitCode.TRANSPORT,
  ERR_COAP_LISTEN: ExitCode.TRANSPORT,
  ERR_COAP_ABORTED: ExitCode.INTERRUPTED,
}

/**
 * Exit code for a thrown error: `CoapError` codes as in the table, `UsageError` and the
 * library's argument errors (`TypeError`/`RangeError`, raised before anything is sent) 2,
 * anything else 1.
 */
export function exitCodeForError(err: unknown): ExitCodeValue {
  if (err instanceof UsageError) return ExitCode.USAGE
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && code in BY_CODE) return BY_CODE[code]!
  if (err instanceof TypeError || err instanceof RangeError) return ExitCode.USAGE
  return ExitCode.INTERNAL
}

/** Whether an error is one the tool expects (reported in one line, without a stack trace). */
export function isExpected(err: unknown): boolean {
  return exitCodeForError(err) !== ExitCode.INTERNAL
}
