/**
 * Block-wise progress on stderr: one updating line on a TTY (or plain lines with `--progress`),
 * at most ten updates a second plus the last one.
 * @module
 */
import type { TransferProgress } from '../core/types'
import { writeStderr } from './output'

function size(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

/** The text of one progress update. */
export function progressText(p: TransferProgress): string {
  const arrow = p.direction === 'upload' ? 'upload' : 'download'
  if (p.total === undefined || p.total === 0) return `${arrow}: ${size(p.bytes)}`
  const pct = Math.min(100, Math.floor((p.bytes / p.total) * 100))
  return `${arrow}: ${size(p.bytes)} / ${size(p.total)} (${pct}%)`
}

/** A progress reporter: `onProgress` for the request, `done()` to clear the line. */
export interface Progress {
  onProgress: ((p: TransferProgress) => void) | undefined
  done(): void
}

/** `mode`: `'auto'` shows progress when stderr is a TTY, `'on'` always, `'off'` never. */
export function createProgress(mode: 'auto' | 'on' | 'off', stream: NodeJS.WriteStream = process.stderr): Progress {
  const tty = stream.isTTY === true
  if (mode === 'off' || (mode === 'auto' && !tty)) return { onProgress: undefined, done: () => undefined }
  let last = 0
  let shown = false
  let pending: TransferProgress | undefined
  const show = (p: TransferProgress): void => {
    const text = progressText(p)
    if (tty) stream.write(`\r\x1b[K${text}`)
    else writeStderr(text)
    shown = true
    last = Date.now()
    pending = undefined
  }
  return {
    onProgress: (p) => {
      const finished = p.total !== undefined && p.bytes >= p.total
      if (finished || Date.now() - last >= 100) show(p)
      else pending = p
    },
    done: () => {
      if (pending !== undefined && !tty) show(pending)
      if (shown && tty) stream.write('\r\x1b[K')
      shown = false
      pending = undefined
    },
  }
}
