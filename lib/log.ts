/**
 * libcoap's log: its level, and a hook that receives the lines instead of stderr.
 * @module
 */
import { native } from './native'

/** libcoap's log levels (`COAP_LOG_*`), most severe first. */
export type LogLevelName = 'emerg' | 'alert' | 'crit' | 'err' | 'warn' | 'notice' | 'info' | 'debug'

const LEVELS: readonly LogLevelName[] = ['emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug']

/**
 * A log hook: one call per line, in libcoap's order.
 * @example
 * ```ts
 * import { onLog, type LogHandler } from 'libcoap'
 *
 * const lines: string[] = []
 * const keep: LogHandler = (level, message) => {
 *   if (level === 'err' || level === 'warn') lines.push(message)
 * }
 * onLog(keep)
 * ```
 */
export type LogHandler = (level: LogLevelName, message: string) => void

/**
 * Sets libcoap's log level (↔ `coap_set_log_level`): lines at this level or more severe are
 * written to stderr, or given to the {@link onLog} hook. Default: `'err'`. The
 * `LIBCOAP_LOG_LEVEL` environment variable sets it at load time.
 * @example
 * ```ts
 * import { setLogLevel } from 'libcoap'
 *
 * setLogLevel('debug') // every packet libcoap sends and receives
 * ```
 */
export function setLogLevel(level: LogLevelName): void {
  if (typeof level !== 'string') throw new TypeError(`level must be a string, got ${typeof level}`)
  const n = LEVELS.indexOf(level)
  if (n < 0) throw new RangeError(`level must be one of ${LEVELS.join(', ')}, got '${level}'`)
  native.setLogLevel(n)
}

let hook: LogHandler | undefined

// The one function the addon calls: the user's hook can change while lines are queued.
function deliver(batch: Array<number | string>, dropped: number): void {
  const handler = hook
  if (handler === undefined) return
  try {
    if (dropped > 0) handler('warn', `${dropped} libcoap log lines dropped: the log hook fell behind`)
    for (let i = 0; i + 1 < batch.length; i += 2) handler(LEVELS[batch[i] as number] ?? 'debug', batch[i + 1] as string)
  } catch (err) {
    // A throwing hook is a bug in the application, reported like one in an event listener.
    process.nextTick(() => {
      throw err
    })
  }
}

/**
 * Routes libcoap's log to `handler` instead of stderr (`null` restores stderr). libcoap logs
 * from inside its own calls, so lines are queued and delivered in batches from the event loop:
 * the hook never runs inside libcoap, may call back into this package, and sees each line a
 * moment after it was written. Up to 10 000 lines wait for delivery; beyond that they are
 * dropped and counted in a `'warn'` line. The hook does not keep Node alive. Per thread: a
 * worker sets its own.
 * @example
 * ```ts
 * import { onLog, setLogLevel } from 'libcoap'
 *
 * setLogLevel('info')
 * onLog((level, message) => console.error(`[libcoap ${level}] ${message}`))
 * // later: back to stderr
 * onLog(null)
 * ```
 */
export function onLog(handler: LogHandler | null): void {
  if (handler !== null && typeof handler !== 'function') throw new TypeError(`handler must be a function or null, got ${typeof handler}`)
  const had = hook !== undefined
  hook = handler ?? undefined
  if (had !== (hook !== undefined)) native.setLogHook(hook === undefined ? undefined : deliver)
}

const envLevel = process.env.LIBCOAP_LOG_LEVEL
if (envLevel) setLogLevel(envLevel as LogLevelName)
