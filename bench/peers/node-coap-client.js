// node-coap's client driving GETs with a fixed concurrency at one server:
//   node node-coap-client.js <url> <concurrency> <seconds>
'use strict'
const coap = require('coap')
const { drive } = require('./latency')

const [url, concurrency, seconds] = process.argv.slice(2)
const agent = new coap.Agent({ type: 'udp4' })
function get() {
  return new Promise((resolve, reject) => {
    const req = coap.request({ ...parse(url), agent })
    req.on('response', (res) => {
      res.resume()
      resolve()
    })
    req.on('error', reject)
    req.on('timeout', reject)
    req.end()
  })
}
function parse(u) {
  const p = new URL(u)
  return { hostname: p.hostname, port: Number(p.port), pathname: p.pathname, method: 'GET', confirmable: true }
}
;(async () => {
  await get()
  const result = await drive(get, { total: 10_000_000, concurrency: Number(concurrency), seconds: Number(seconds) })
  agent.close?.()
  console.log(JSON.stringify(result))
  process.exit(0)
})().catch((err) => {
  console.error(err)
  process.exit(1)
})
