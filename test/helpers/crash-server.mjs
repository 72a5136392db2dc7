// A CoapServer in its own process, for test/faults.test.ts to SIGKILL mid-exchange and start again
// on the same port: `node crash-server.mjs <listen-url> [pskKey]`.
// /slow answers after 2 s, so requests to it are surely in flight when the process dies; /hello
// answers at once; /count is observable (a notification every 200 ms). stdout carries
// "listening <port>" once bound and "req <path>" as each request reaches a handler, so the test
// kills at a known point rather than after a guessed sleep.
import { createRequire } from 'node:module'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const here = path.dirname(fileURLToPath(import.meta.url))
const { CoapServer } = require(path.join(here, '../../dist/index.js'))

const [listen, pskKey] = process.argv.slice(2)
const say = (s) => process.stdout.write(s + '\n')

const server = new CoapServer({ listen, ...(pskKey ? { psk: { key: pskKey } } : {}) })
server.resource('/hello').get(() => {
  say('req /hello')
  return 'hello'
})
server.resource('/slow').get(async () => {
  say('req /slow')
  await new Promise((resolve) => setTimeout(resolve, 2000))
  return 'slow'
})
let ticks = 0
const count = server.resource('/count', { observable: true }).get(() => String(ticks))
setInterval(() => {
  ticks++
  count.notify()
}, 200)
server.on('error', (err) => say(`error ${err?.code ?? ''} ${err?.message ?? err}`))
const [ep] = await server.listen()
say(`listening ${ep.port}`)
// The test always kills this process; the guard only bounds an orphan if the test process dies.
setTimeout(() => process.exit(3), 120_000).unref()
setInterval(() => {}, 60_000)
