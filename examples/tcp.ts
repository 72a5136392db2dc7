/**
 * CoAP over TCP (RFC 8323): one connection per origin, big bodies without block-wise round trips
 * (BERT), keepalive pings, and a server listening on UDP and TCP at once.
 *
 *   node dist/examples/tcp.js
 */
import { CoapClient, CoapServer } from 'libcoap'

async function main(): Promise<void> {
  const server = new CoapServer({ listen: ['coap://127.0.0.1:0', 'coap+tcp://127.0.0.1:0'] })
  server.on('session', (s) => console.log(`server: ${s.proto} session from ${s.remote}`))
  server.resource('/blob').put((req) => ({ code: '2.04', payload: `got ${req.payload.length} bytes` }))
  const [, tcp] = await server.listen()

  await using client = new CoapClient({ timeout: 10_000, keepalive: 30 })
  const url = `coap+tcp://127.0.0.1:${tcp.port}/blob`
  console.log(`ping: ${(await client.ping(url)).toFixed(2)} ms`)
  const res = await client.put(url, Buffer.alloc(1024 * 1024, 0x2a))
  console.log(`${res.code} ${res.text()}`)
  await server.close()
}

main().catch((err) => {
  console.error(`${err.code ?? err.name}: ${err.message}`)
  process.exit(1)
})
