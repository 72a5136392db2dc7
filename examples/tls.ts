/**
 * CoAP over TLS (`coaps+tcp://`, RFC 8323) and over secure WebSockets (`coaps+ws://`): the same
 * `psk`/`pki` options as DTLS, on a reliable transport. One server listens on both; one client
 * talks to both.
 *
 *   node dist/examples/tls.js                                # pre-shared key
 *   node dist/examples/tls.js server.pem server.key ca.pem   # certificates (see dtls-pki-server.ts
 *                                                            # for making them with openssl)
 */
import { CoapClient, CoapServer, type ClientOptions, type ServerOptions } from 'libcoap'

async function main(): Promise<void> {
  const [cert, key, ca] = process.argv.slice(2)
  // Without certificates: one pre-shared key for every identity (fine for a demo; a real server
  // looks keys up per identity, see dtls-psk-server.ts).
  const serverSecurity: ServerOptions = cert && key ? { pki: { cert, key } } : { psk: { key: 'tls-example-key' } }
  // The client checks the server's certificate against `ca` and the URL's host (127.0.0.1 here:
  // the certificate must name it).
  const clientSecurity: ClientOptions = cert && key ? { pki: { ca } } : { psk: { identity: 'tls-example', key: 'tls-example-key' } }
  console.log(`security: ${cert && key ? 'certificates' : 'pre-shared key'}`)

  const server = new CoapServer({ listen: ['coaps+tcp://127.0.0.1:0', 'coaps+ws://127.0.0.1:0'], ...serverSecurity })
  server.on('session', (s) => console.log(`server: ${s.proto} session from ${s.remote}`))
  server.on('error', (err) => console.error('handler error:', err))
  let stored: Buffer = Buffer.alloc(0)
  server
    .resource('/blob')
    .get(() => stored)
    .put((req) => {
      stored = req.payload
      return { code: '2.04', payload: `stored ${req.payload.length} bytes over ${req.session.proto}` }
    })
  const [tls, wss] = await server.listen()

  // Each origin gets one connection (TLS handshake, then the CSM exchange), reused by every
  // request to it; the client's `keepalive` would ping an idle one.
  await using client = new CoapClient({ ...clientSecurity, timeout: 10_000 })
  for (const base of [`coaps+tcp://127.0.0.1:${tls.port}`, `coaps+ws://127.0.0.1:${wss.port}`]) {
    console.log(`${base}: ping ${(await client.ping(base)).toFixed(2)} ms`)
    // Large bodies go as BERT blocks (RFC 8323 §6) when both sides allow it.
    const put = await client.put(`${base}/blob`, Buffer.alloc(100_000, 0x2a))
    console.log(`${base}: PUT -> ${put.code} ${put.text()}`)
    const get = await client.get(`${base}/blob`)
    console.log(`${base}: GET -> ${get.code} ${get.payload.length} bytes`)
  }
  await server.close()
}

main().catch((err) => {
  console.error(`${err.code ?? err.name}: ${err.message}`)
  process.exit(1)
})
