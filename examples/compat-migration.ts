/**
 * A node-coap program moved to libcoap by changing its import: `require('coap')` →
 * `require('libcoap/compat')`. A server answers `/hello/<name>`, a client asks it once and
 * observes `/clock` for three ticks; then both end and Node exits by itself.
 *
 *   node dist/examples/compat-migration.js [port]   (default 5699)
 */
import * as coap from 'libcoap/compat' // was: import * as coap from 'coap'

const PORT = Number(process.argv[2] ?? 5699)

// Not in node-coap: libcoap observes only paths it has a resource for, so name those.
const server = coap.createServer({ paths: ['/clock'] })

server.on('request', (req, res) => {
  if (req.headers.Observe === 0) {
    const timer = setInterval(() => res.write(new Date().toISOString()), 200)
    res.on('finish', () => clearInterval(timer))
    return
  }
  res.end('Hello ' + req.url.split('/')[2])
})

server.on('error', (err) => console.error('server:', err.message))

server.listen(PORT, '127.0.0.1', () => {
  const req = coap.request(`coap://127.0.0.1:${PORT}/hello/Matteo`)
  req.on('response', (res) => {
    res.pipe(process.stdout)
    res.on('end', () => {
      process.stdout.write('\n')
      observe()
    })
  })
  req.on('timeout', (err) => console.error('no answer:', err.message))
  req.end()
})

function observe(): void {
  const req = coap.request({ hostname: '127.0.0.1', port: PORT, pathname: '/clock', observe: true })
  req.on('response', (stream) => {
    let ticks = 0
    stream.on('data', (tick: Buffer) => {
      if (tick.length === 0) return // the registration's empty answer (see the README)
      console.log('tick', tick.toString())
      if (++ticks === 3) {
        ;(stream as coap.ObserveReadStream).close()
        server.close()
      }
    })
  })
  req.end()
}
