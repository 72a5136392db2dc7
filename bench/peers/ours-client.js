// Our client driving GETs with a fixed concurrency at one server:
//   node ours-client.js <url> <concurrency> <seconds> [psk-identity psk-key]
// Prints one JSON line (rps, p50/p99 latency in µs).
'use strict'
const path = require('node:path')
const { CoapClient } = require(path.join(__dirname, '../../dist/index.js'))
const { drive } = require('./latency')

const [url, concurrency, seconds, identity, key] = process.argv.slice(2)
;(async () => {
  const c = Number(concurrency)
  // NSTART bounds CON requests in flight per session (RFC 7252 4.7); the benchmark wants c.
  const client = new CoapClient({ timeout: 5000, parameters: { nstart: c }, ...(identity ? { psk: { identity, key } } : {}) })
  await client.get(url) // session (and handshake) before the clock starts
  const result = await drive(() => client.get(url), { total: 10_000_000, concurrency: c, seconds: Number(seconds) })
  await client.close()
  console.log(JSON.stringify(result))
})().catch((err) => {
  console.error(err)
  process.exit(1)
})
