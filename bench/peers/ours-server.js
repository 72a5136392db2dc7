// Our server for the benchmarks, in its own process so its CPU time can be read from /proc:
//   node ours-server.js <mode> <port> [scheme]   (coaps: PSK key 'bench-key')
// modes: handler (GET /x answered by a JS handler with a small payload), realistic (the handler
// reads method, path, payload and options, as an application would), static (the native fast
// path: setRepresentation), observe (observable /x for fan-out), large (GET/PUT /x of a body
// held in memory). Prints "ready <port>"; exits when stdin closes.
'use strict'
const path = require('node:path')
const { CoapServer } = require(path.join(__dirname, '../../dist/index.js'))

const [mode, port, proto = 'coap'] = process.argv.slice(2)
const secure = proto.startsWith('coaps')
const server = new CoapServer({
  listen: `${proto}://127.0.0.1:${port}`,
  maxIdleSessions: 0,
  sessionTimeout: 600,
  ...(secure ? { psk: { key: 'bench-key' }, maxHandshakes: 1000 } : {}),
})
const resource = server.resource('/x', mode === 'observe' ? { observable: true } : undefined)
let body = Buffer.alloc(0)
let counter = 0
switch (mode) {
  case 'handler':
    resource.get(() => 'hello')
    break
  case 'realistic':
    resource.get((req) => {
      // What a typical handler touches: method, path, query, options, payload.
      const accept = req.accept
      const q = req.query.length
      const n = req.options.length + req.payload.length + q
      return { payload: `${req.method} ${req.path} ${n}`, contentFormat: accept ?? 'text/plain' }
    })
    break
  case 'static':
    resource.setRepresentation('hello')
    break
  case 'observe':
    resource.get(() => String(counter))
    break
  case 'large':
    resource.get(() => body).put((req) => {
      body = req.payload
    })
    break
  default:
    console.error(`unknown mode ${mode}`)
    process.exit(2)
}
// The bench driver writes "notify" lines to stdin for the observe fan-out.
let pending = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (d) => {
  pending += d
  for (let i; (i = pending.indexOf('\n')) >= 0; pending = pending.slice(i + 1)) {
    if (pending.slice(0, i) === 'notify') {
      counter++
      resource.notify()
    }
  }
})
process.stdin.on('end', () => void server.close())
server.listen().then(([ep]) => console.log(`ready ${ep.port}`), (err) => {
  console.error(err)
  process.exit(1)
})
