/**
 * A DTLS client with a pre-shared key (RFC 7252 §9.1.3.1): the identity tells the server which
 * key to check; the key itself never crosses the wire.
 *
 *   node dist/examples/dtls-psk-server.js                                    # in another terminal
 *   node dist/examples/dtls-psk-client.js coaps://[::1]/whoami dev1 secret-1
 *   node dist/examples/dtls-psk-client.js coaps://[::1]/alarm demo demo-secret   # against `npm start`
 */
import { CoapClient } from 'libcoap'

async function main(): Promise<void> {
  const [url = 'coaps://[::1]/whoami', identity = 'dev1', key = 'secret-1'] = process.argv.slice(2)
  const client = new CoapClient({
    psk: {
      identity,
      key,
      // The server's identity hint, if it sends one: a client serving several gateways could
      // return other credentials for it here (synchronously).
      onHint: (hint) => {
        console.log(`server hint: ${hint}`)
        return undefined
      },
    },
    // A wrong key is not refused by the server (DTLS just drops what it cannot decrypt), so it
    // shows up as this timeout. Keep it short enough to find out quickly.
    timeout: 5000,
  })
  try {
    const res = await client.get(url)
    console.log(`${res.code} ${res.text()}`)
    if (!res.ok) process.exitCode = 1
  } finally {
    await client.close()
  }
}

main().catch((err) => {
  console.error(`${err.code ?? err.name}: ${err.message}`)
  process.exit(1)
})
