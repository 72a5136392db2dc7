/**
 * A DTLS server with certificates (RFC 7252 §9.1.3.3). With a CA, clients must present a
 * certificate signed by it, and a handler sees the client's common name.
 *
 *   node dist/examples/dtls-pki-server.js server.pem server.key [ca.pem] [coaps://[::]:5684]
 *   node dist/examples/dtls-pki-client.js coaps://localhost/whoami ca.pem client.pem client.key
 *
 * Test certificates with the openssl command line (EC P-256; the server's certificate must name
 * the host the client connects to, here localhost, 127.0.0.1 and ::1):
 *
 *   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
 *     -subj '/CN=Example CA' -keyout ca.key -out ca.pem
 *   openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=localhost' \
 *     -keyout server.key -out server.csr
 *   printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n' > server.ext
 *   openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile server.ext -out server.pem
 *   openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=client1' \
 *     -keyout client.key -out client.csr
 *   printf 'extendedKeyUsage=clientAuth\n' > client.ext
 *   openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile client.ext -out client.pem
 *
 * Stop it with Ctrl-C.
 */
import { CoapServer } from 'libcoap'

async function main(): Promise<void> {
  const [cert, key, ca, listen = 'coaps://[::]:5684'] = process.argv.slice(2)
  if (!cert || !key) {
    console.error('usage: dtls-pki-server.js SERVER.pem SERVER.key [CA.pem] [LISTEN-URL]')
    process.exit(2)
  }
  const server = new CoapServer({
    listen,
    // Strings are paths to PEM files (PEM text or Buffers work too). Without `ca` any client may
    // connect, without a certificate.
    pki: {
      cert,
      key,
      ca: ca || undefined,
      // Called for each certificate of the client's chain (depth 0: the client's own); the place
      // for an allow-list. Here: log and accept what the CA signed.
      onCommonName: (cn, { depth }) => {
        if (depth === 0) console.log(`client certificate: CN=${cn}`)
        return true
      },
    },
  })
  server.on('session', (s) => console.log(`${s.remote} connected${s.peerCommonName ? ` as ${s.peerCommonName}` : ''}`))
  server.on('error', (err) => console.error('handler error:', err))
  server.resource('/whoami').get((req) => `you are ${req.session.peerCommonName ?? 'anonymous'}`)
  server.resource('/time', { rt: 'time' }).get(() => new Date().toISOString())
  const [ep] = await server.listen()
  console.log(`DTLS-PKI server on coaps://${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}`)
  // Closing the server frees its sockets; nothing else keeps Node running, so it exits.
  const stop = (): void => void server.close().then(() => console.log('closed'))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

main().catch((err) => {
  console.error(`${err.code ?? err.name}: ${err.message}`)
  process.exit(1)
})
