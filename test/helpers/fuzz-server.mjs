// The server under fire in test/fuzz.test.ts, in its own process so that a crash shows as an exit
// (code or signal) and its memory can be read from /proc/<pid>/status without the fuzzer's own
// allocations mixed in. Run as
//   node --expose-gc --max-semi-space-size=1 fuzz-server.mjs [--default-max-handshakes]
// Prints one JSON line { udp, dtls, tcp, pid, hello, bigSize } (bound ports, the /hello answer,
// the /big size), then obeys line commands on stdin: 'gc' (full collection, then prints
// { gc: true, rss, heapUsed, external, live }), 'stats' (prints counters), 'exit'. Exits when
// stdin closes, so a fuzzer that dies never leaves it behind.
//
// The small young generation (--max-semi-space-size=1) keeps V8 from growing its semi-spaces
// under load, which would otherwise look like a leak in the RSS comparison.
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'

const require = createRequire(import.meta.url)
const { CoapServer } = require('../../dist/index.js')

const HELLO = 'hello from the fuzz server'
const BIG = Buffer.alloc(4096)
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 31 + 7) & 0xff

const counters = { hello: 0, echo: 0, big: 0, obs: 0, handlerErrors: 0, pskLookups: 0, sniLookups: 0, sessions: 0, closed: 0 }

const server = new CoapServer({
  listen: ['coap://127.0.0.1:0', 'coaps://127.0.0.1:0', 'coap+tcp://127.0.0.1:0'],
  psk: {
    hint: 'fuzz-hint',
    // Functions rather than a fixed key so that identities and SNI names taken from fuzzed
    // handshakes (any bytes, any length) travel through our native → JS callback path.
    keys: (identity) => {
      counters.pskLookups++
      return identity.startsWith('fuzz') ? 'fuzz-key' : undefined
    },
    sni: (name) => {
      counters.sniLookups++
      return name.startsWith('fuzz') ? { hint: 'fuzz-sni-hint', key: 'fuzz-key' } : undefined
    },
  },
  // libcoap ignores ClientHellos from new addresses once this many handshakes are pending, and
  // only retires a pending one when a newer peer arrives 30 s later; with the default (100) all
  // but the first 100 fresh-port ClientHellos of a run would never reach the cookie code.
  // --default-max-handshakes keeps libcoap's default, to show what that means for new peers.
  ...(process.argv.includes('--default-max-handshakes') ? {} : { maxHandshakes: 5000 }),
  maxBodySize: 64 * 1024,
})
server.on('error', () => void counters.handlerErrors++)
server.on('session', () => void counters.sessions++)
server.on('session-closed', () => void counters.closed++)
// Sessions libcoap holds right now, per protocol, including DTLS ones still in their handshake
// (or only at the cookie stage), which never get a 'session' event.
const live = { udp: 0, dtls: 0, tcp: 0 }
server.on('event', (name, session) => {
  if (session.side !== 'server' || !(session.proto in live)) return
  if (name === 'server-session-new') live[session.proto]++
  else if (name === 'server-session-del') live[session.proto]--
})

server.resource('/hello').get(() => {
  counters.hello++
  return HELLO
})
server
  .resource('/echo')
  .put((req) => {
    counters.echo++
    return { payload: req.payload }
  })
  .post((req) => {
    counters.echo++
    return { payload: req.payload }
  })
server.resource('/big').get(() => {
  counters.big++
  return BIG
})
let tick = 0
const obs = server.resource('/obs', { observable: true }).get(() => {
  counters.obs++
  return `tick ${tick}`
})

const say = (o) => process.stdout.write(JSON.stringify(o) + '\n')

server.listen().then(
  (endpoints) => {
    const port = (proto) => endpoints.find((e) => e.proto === proto)?.port
    say({ udp: port('udp'), dtls: port('dtls'), tcp: port('tcp'), pid: process.pid, hello: HELLO, bigSize: BIG.length })
    // Notifications make libcoap walk its observer lists (and drop failed observers) while
    // fuzzed registrations come and go.
    setInterval(() => {
      tick++
      obs.notify()
    }, 1000)
  },
  (err) => {
    console.error(err)
    process.exit(1)
  },
)

createInterface({ input: process.stdin })
  .on('line', (line) => {
    const cmd = line.trim()
    if (cmd === 'gc') {
      // Twice: the first pass runs finalizers that release native memory the second can see.
      globalThis.gc?.()
      globalThis.gc?.()
      const m = process.memoryUsage()
      say({ gc: true, rss: m.rss, heapUsed: m.heapUsed, external: m.external, live })
    } else if (cmd === 'stats') {
      say({ stats: { ...counters, observers: obs.observers, live } })
    } else if (cmd === 'exit') {
      server.close().finally(() => process.exit(0))
    }
  })
  .on('close', () => process.exit(0))
