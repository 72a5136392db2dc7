// DTLS-PSK handshakes against a server, then the sessions held idle:
//   node dtls-sessions.js <port> <sessions> <concurrency>
// Prints one JSON line { sessions, failed, seconds, handshakesPerSecond } once every handshake
// is done, then "ready 1", and keeps the sessions until stdin closes (so the driver can read the
// server's RSS with them all alive).
'use strict'
const path = require('node:path')
const { Context } = require(path.join(__dirname, '../../dist/core/index.js'))

const [port, count, concurrency] = process.argv.slice(2).map(Number)
;(async () => {
  // Several contexts: one context's session list is walked on each of its I/O steps.
  const contexts = Array.from({ length: 8 }, () => new Context())
  const psk = { identity: 'bench', key: 'bench-key' }
  const sessions = []
  let next = 0
  let failed = 0
  const t0 = process.hrtime.bigint()
  async function lane() {
    while (next < count) {
      const i = next++
      const ctx = contexts[i % contexts.length]
      const s = ctx.newClientSession({ proto: 'dtls', remote: { host: '127.0.0.1', port }, psk })
      try {
        await ctx.ping(s, { timeout: 10_000 }) // the handshake, then one round trip
        sessions.push(s)
      } catch {
        failed++
        s.release()
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane))
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  console.log(JSON.stringify({ sessions: sessions.length, failed, seconds, handshakesPerSecond: sessions.length / seconds }))
  console.log('ready 1')
  process.stdin.resume()
  process.stdin.on('end', () => {
    for (const s of sessions) s.release()
    for (const c of contexts) c.close()
  })
})().catch((err) => {
  console.error(err)
  process.exit(1)
})
