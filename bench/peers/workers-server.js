// N worker threads, each with its own CoapServer (its own libcoap context and event loop),
// all listening on one UDP port with SO_REUSEPORT:
//   node workers-server.js <workers> <port>
// Prints "ready <port>" once every worker listens; exits when stdin closes.
'use strict'
const path = require('node:path')
const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads')

if (isMainThread) {
  const [count, port] = process.argv.slice(2).map(Number)
  const workers = Array.from({ length: count }, () => new Worker(__filename, { workerData: { port } }))
  let listening = 0
  for (const w of workers) {
    w.on('error', (err) => {
      console.error(err)
      process.exit(1)
    })
    w.on('message', () => {
      if (++listening === count) console.log(`ready ${port}`)
    })
  }
  process.stdin.resume()
  process.stdin.on('end', () => {
    for (const w of workers) void w.terminate()
  })
} else {
  const { CoapServer } = require(path.join(__dirname, '../../dist/index.js'))
  const server = new CoapServer({ listen: `coap://127.0.0.1:${workerData.port}`, reusePort: true })
  server.resource('/x').get(() => 'hello')
  server.listen().then(() => parentPort.postMessage('listening'))
}
