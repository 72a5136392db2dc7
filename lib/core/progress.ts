/**
 * Turns libcoap's block-wise progress callbacks into {@link TransferProgress} reports.
 * @module
 */
import type { TransferProgress } from './types'

/** What `send()` needs: a sink for libcoap's reports and a hook for the final answer. */
export interface ProgressTracker {
  progress(bytes: number, total: number, upload: boolean): void
  /** The response arrived: an upload's last block is acknowledged by it, not by a 2.31. */
  done(): void
}

/**
 * Reports are queued out of libcoap's callback; a throwing `onProgress` goes to `report`.
 * A download's total is remembered once a Size2 told it (later blocks may not repeat it).
 */
export function progressTracker(onProgress: (p: TransferProgress) => void, report: (err: unknown) => void): ProgressTracker {
  let uploaded: { bytes: number; total: number } | undefined
  let downloadTotal: number | undefined
  const emit = (p: TransferProgress): void => {
    queueMicrotask(() => {
      try {
        onProgress(p)
      } catch (err) {
        report(err)
      }
    })
  }
  const done = (): void => {
    if (uploaded !== undefined && uploaded.bytes < uploaded.total) {
      emit({ direction: 'upload', bytes: uploaded.total, total: uploaded.total })
    }
    uploaded = undefined
  }
  const progress = (bytes: number, total: number, upload: boolean): void => {
    if (upload) {
      uploaded = { bytes, total }
      emit({ direction: 'upload', bytes, total })
      return
    }
    // The answer's first block acknowledges the upload's last one.
    done()
    if (total > 0) downloadTotal = total
    emit({ direction: 'download', bytes, total: downloadTotal })
  }
  return { progress, done }
}
