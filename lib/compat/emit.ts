/**
 * Failure reporting that never crashes the process: an `'error'` nobody listens to becomes a
 * process warning instead of an uncaught exception.
 * @module
 * @internal
 */
import type { EventEmitter } from 'node:events'

/** Emits `err` as `'error'` when someone listens; otherwise a process warning (`LIBCOAP_COMPAT_UNHANDLED_ERROR`). */
export function emitError(target: EventEmitter, err: unknown): void {
  if (target.listenerCount('error') > 0) target.emit('error', err)
  else process.emitWarning(err instanceof Error ? err : new Error(String(err)), { code: 'LIBCOAP_COMPAT_UNHANDLED_ERROR' })
}
