/**
 * A DTLS client with certificates: verifies the server against a CA and authenticates itself.
 *
 *   node dist/examples/dtls-pki-client.js coaps://localhost/time ca.pem client.pem client.key
 */
import { CoapClient } from 'libcoap'

async function main(): Promise<void> {
  const [url, ca, cert, key] = process.argv.slice(2)
  if (!url || !ca) {
    console.error('usage: dtls-pki-client.js URL CA.pem [CERT.pem KEY.pem]')
    process.exit(2)
  }
  // Strings are paths to PEM files; Buffers with PEM data work too.
  await using client = new CoapClient({ pki: { ca, cert, key }, timeout: 10_000 })
  const res = await client.get(url)
  console.log(`${res.code} ${res.text()}`)
}

main().catch((err) => {
  console.error(`${err.code ?? err.name}: ${err.message}`)
  process.exit(1)
})
