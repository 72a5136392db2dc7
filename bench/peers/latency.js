// Shared by the client benchmarks: a latency record and its summary.
'use strict'
const { performance } = require('node:perf_hooks')

/**
 * Runs `request()` `total` times with `concurrency` in flight; resolves with rps and percentiles.
 * Bookkeeping stays out of the way of the client it measures: `performance.now()` (a double, no
 * BigInt per call) and latencies in a Float64Array grown by doubling (no boxed numbers for the
 * GC to copy).
 */
async function drive(request, { total, concurrency, seconds }) {
  let latencies = new Float64Array(1 << 16)
  let count = 0
  let sent = 0
  let failed = 0
  const started = performance.now()
  const deadline = started + seconds * 1000
  async function lane() {
    while (sent < total) {
      const t0 = performance.now()
      if (t0 >= deadline) break
      sent++
      try {
        await request()
      } catch {
        failed++
        continue
      }
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2)
        grown.set(latencies)
        latencies = grown
      }
      latencies[count++] = (performance.now() - t0) * 1000
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane))
  const secs = (performance.now() - started) / 1000
  const sorted = latencies.subarray(0, count).sort()
  const pct = (p) => (count ? Math.round(sorted[Math.min(count - 1, Math.floor(p * count))]) : 0)
  return { requests: sent, responses: count, failed, seconds: secs, rps: count / secs, p50_us: pct(0.5), p99_us: pct(0.99) }
}

module.exports = { drive }
