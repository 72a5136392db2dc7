/**
 * A DTLS-PSK server: each device has its own identity and key; handlers see who is calling.
 *
 *   node dist/examples/dtls-psk-server.js            # listens on coaps://[::]:5684
 *   deps/.work/bin/coap-client -u dev1 -k secret-1 -m get coaps://[::1]/whoami
 */
import { CoapServer } from 'libcoap'

const keys = new Map([
  ['dev1', 'secret-1'],
  ['dev2', 'secret-2'],
])

async function main(): Promise<void> {
  const server = new CoapServer({
    listen: process.argv[2] ?? 'coaps://[::]:5684',
    psk: { hint: 'example-gw', keys },
    maxHandshakes: 200,
  })
  server.on('session', (s) => console.log(`${s.remote} connected as ${s.pskIdentity}`))
  server.on('session-closed', (s) => console.log(`${s.remote} (${s.pskIdentity ?? '?'}) left`))
  server.on('error', (err) => console.error('handler error:', err))
  server.resource('/whoami').get((req) => `you are ${req.session.pskIdentity}`)
  const [ep] = await server.listen()
  console.log(`DTLS-PSK server on coaps://${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}`)
  process.once('SIGINT', () => void server.close())
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
