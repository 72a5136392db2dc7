/**
 * CoAP over WebSockets (RFC 8323 §4): `coap+ws://host:port/path` talks to the WebSocket endpoint
 * `/.well-known/coap` on that port; the rest of the path is the CoAP resource.
 *
 *   node dist/examples/websocket.js
 */
import { CoapClient, CoapServer } from 'libcoap'

async function main(): Promise<void> {
  const server = new CoapServer({ listen: 'coap+ws://127.0.0.1:0' })
  let alarm = 'OFF'
  server
    .resource('/alarm')
    .get(() => alarm)
    .put((req) => {
      alarm = req.text()
      return { code: '2.04' }
    })
  const [ep] = await server.listen()

  await using client = new CoapClient({ timeout: 10_000 })
  const url = `coap+ws://127.0.0.1:${ep.port}/alarm`
  await client.put(url, 'ON')
  const res = await client.get(url)
  console.log(`${res.code} ${res.text()} (over ${url})`)
  await server.close()
}

main().catch((err) => {
  console.error(`${err.code ?? err.name}: ${err.message}`)
  process.exit(1)
})
