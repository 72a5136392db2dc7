// The server of the soak run (bench/soak/run.js), in its own process so that its RSS and file
// descriptors are its own: UDP, DTLS-PSK, TCP, TLS-PSK and WebSocket endpoints, a small GET, an
// echo for PUT/POST, a 64 KiB body for block-wise, an observable counter notified every 100 ms.
// Prints "ready <json ports>"; answers 'stats' on stdin with one JSON line (after a full GC:
// started with --expose-gc); exits when stdin closes.
'use strict'
const path = require('node:path')
const { createInterface } = require('node:readline')
const { CoapServer } = require(path.join(__dirname, '../../dist/index.js'))

const BIG = Buffer.alloc(64 * 1024, 0x5a)
const counters = { requests: 0, handlerErrors: 0, sessions: 0, closed: 0 }
const server = new CoapServer({
  listen: ['coap://127.0.0.1:0', 'coaps://127.0.0.1:0', 'coap+tcp://127.0.0.1:0', 'coaps+tcp://127.0.0.1:0', 'coap+ws://127.0.0.1:0'],
  psk: { key: 'soak-key' },
  maxHandshakes: 500,
})
server.on('error', () => void counters.handlerErrors++)
server.on('session', () => void counters.sessions++)
server.on('session-closed', () => void counters.closed++)
server.resource('/hello').get(() => {
  counters.requests++
  return 'hello'
})
server.resource('/echo')
  .put((req) => (counters.requests++, { payload: req.payload }))
  .post((req) => (counters.requests++, { code: '2.01', payload: req.payload }))
server.resource('/big').get(() => (counters.requests++, BIG))
let tick = 0
const counter = server.resource('/counter', { observable: true }).get(() => String(tick))
setInterval(() => {
  tick++
  counter.notify()
}, 100).unref()

server.listen().then((eps) => {
  process.stdout.write(`ready ${JSON.stringify(Object.fromEntries(eps.map((e) => [e.proto, e.port])))}\n`)
}, (err) => {
  console.error(err)
  process.exit(1)
})
createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line.trim() !== 'stats') return
    // A full collection first: the heap figure is then what is alive, not when V8 last ran.
    globalThis.gc?.()
    const m = process.memoryUsage()
    process.stdout.write(JSON.stringify({ stats: { ...counters, observers: counter.observers, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external } }) + '\n')
  })
  .on('close', () => server.close().finally(() => process.exit(0)))
