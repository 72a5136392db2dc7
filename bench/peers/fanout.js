// Observe fan-out: N observations of our server's /x, then one notify; prints how long until
// every observer has the new value:
//   node fanout.js <observers>
'use strict'
const path = require('node:path')
const { CoapClient } = require(path.join(__dirname, '../../dist/index.js'))
const { start } = require('../lib/proc')

const observers = Number(process.argv[2])
;(async () => {
  const server = await start(process.execPath, [path.join(__dirname, 'ours-server.js'), 'observe', '0'])
  // Several sessions, so neither side's per-session NSTART queue is what is measured.
  const clients = Array.from({ length: 8 }, () => new CoapClient({ timeout: 10_000, parameters: { nstart: Math.min(100, observers) } }))
  const url = `coap://127.0.0.1:${server.port}/x`
  let waiting
  let left = observers
  let notifiedAt = 0n
  const done = new Promise((resolve) => { waiting = resolve })
  const iterators = []
  const firsts = []
  for (let i = 0; i < observers; i++) {
    const it = clients[i % clients.length].observe(url)[Symbol.asyncIterator]()
    iterators.push(it)
    firsts.push(it.next())
  }
  await Promise.all(firsts)
  for (const it of iterators) {
    it.next().then((r) => {
      if (!r.done && r.value.text() === '1' && --left === 0) waiting()
    })
  }
  notifiedAt = process.hrtime.bigint()
  server.child.stdin.write('notify\n')
  const timeout = setTimeout(() => waiting(), 30_000)
  await done
  clearTimeout(timeout)
  const ms = Number(process.hrtime.bigint() - notifiedAt) / 1e6
  console.log(JSON.stringify({ observers, received: observers - left, ms }))
  for (const it of iterators) void it.return()
  await Promise.all(clients.map((c) => c.close()))
  await server.stop()
})().catch((err) => {
  console.error(err)
  process.exit(1)
})
