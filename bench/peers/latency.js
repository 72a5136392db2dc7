// Shared by the client benchmarks: a latency record and its summary.
'use strict'

/** Runs `request()` `total` times with `concurrency` in flight; resolves with rps and percentiles. */
async function drive(request, { total, concurrency, seconds }) {
  const latencies = []
  let sent = 0
  let failed = 0
  const started = process.hrtime.bigint()
  const deadline = started + BigInt(Math.round(seconds * 1e9))
  async function lane() {
    while (sent < total && process.hrtime.bigint() < deadline) {
      sent++
      const t0 = process.hrtime.bigint()
      try {
        await request()
        latencies.push(Number(process.hrtime.bigint() - t0) / 1000)
      } catch {
        failed++
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane))
  const secs = Number(process.hrtime.bigint() - started) / 1e9
  latencies.sort((a, b) => a - b)
  const pct = (p) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]) : 0)
  return { requests: sent, responses: latencies.length, failed, seconds: secs, rps: latencies.length / secs, p50_us: pct(0.5), p99_us: pct(0.99) }
}

module.exports = { drive }
