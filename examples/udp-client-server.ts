/**
 * Plain CoAP over UDP (RFC 7252): a server and a client in one process. Shows the four methods,
 * CON and NON requests, a query, a JSON body, a 4.04, and a handler slow enough that the server
 * answers with a separate response (empty ACK first, the answer later in its own CON).
 *
 *   node dist/examples/udp-client-server.js                        # server on coap://127.0.0.1:<free port>
 *   node dist/examples/udp-client-server.js coap://[::1]:5683      # or on a listen URL of your choice
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { CoapClient, CoapServer } from 'libcoap'

async function main(): Promise<void> {
  // Port 0 asks the OS for a free port: the example then never collides with a running server.
  const listen = process.argv[2] ?? 'coap://127.0.0.1:0'
  const server = new CoapServer({ listen })
  const items = new Map<string, unknown>()
  server
    .resource('/items', { rt: 'example.items' })
    .get((req) => ({ payload: JSON.stringify([...items.keys()].filter((k) => k.startsWith(req.searchParams.get('prefix') ?? ''))), contentFormat: 'application/json' }))
    .post((req) => {
      const item = req.json() as { name: string }
      items.set(item.name, item)
      // 2.01 Created with a Location-Path, as RFC 7252 §5.8.2 suggests for POST.
      return { code: '2.01', options: { 'Location-Path': ['items', item.name] } }
    })
    .delete(() => {
      items.clear()
      return { code: '2.02' }
    })
  let mode = 'idle'
  server
    .resource('/mode')
    .get(() => mode)
    .put((req) => {
      mode = req.text()
      return { code: '2.04' }
    })
  // Takes longer than separateResponseAfter (500 ms): the client's CON is ACKed at once (no
  // retransmissions) and the answer comes as a CON of its own.
  server.resource('/slow').get(async () => {
    await sleep(800)
    return 'worth the wait'
  })
  server.on('error', (err) => console.error('handler error:', err))
  const [ep] = await server.listen()
  const base = `coap://${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}`
  console.log(`server on ${base}`)

  // `await using` closes the client (and its sessions) when main() returns, even on an error.
  await using client = new CoapClient({ timeout: 5000 })
  const show = (what: string, res: { code: string; type: string; text(): string }): void => console.log(`${what} -> ${res.code} ${res.type} ${res.text()}`.trimEnd())

  show('PUT /mode fast', await client.put(`${base}/mode`, 'fast'))
  show('GET /mode', await client.get(`${base}/mode`))
  // NON: no ACK, no retransmission — for values that are stale by the time a retry would arrive.
  show('GET /mode (NON)', await client.get(`${base}/mode`, { confirmable: false }))
  const created = await client.post(`${base}/items`, JSON.stringify({ name: 'lamp' }), { contentFormat: 'application/json' })
  show(`POST /items (Location-Path ${created.option('Location-Path').join('/')})`, created)
  await client.post(`${base}/items`, JSON.stringify({ name: 'fan' }), { contentFormat: 'application/json' })
  show('GET /items?prefix=l', await client.get(`${base}/items`, { query: { prefix: 'l' } }))
  show('DELETE /items', await client.delete(`${base}/items`))
  show('GET /nothing-here', await client.get(`${base}/nothing-here`)) // 4.04 resolves, like fetch
  show('GET /slow', await client.get(`${base}/slow`)) // separate response: type CON, not ACK
  await server.close()
}

main().catch((err) => {
  console.error(`${err.code ?? err.name}: ${err.message}`)
  process.exit(1)
})
