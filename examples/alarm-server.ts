/**
 * The CoAP lab's alarm server: `/alarm` (GET the state, PUT sets it; starts OFF, and can be
 * observed), `/time`, and `/slow` (a separate response after 2 s), over CoAP and DTLS-PSK.
 * `npm start` runs the same lab server from lib/demo; this is it written out with the public API.
 *
 *   node dist/examples/alarm-server.js                                      # coap://[::]:5683 and coaps://[::]:5684
 *   node dist/examples/alarm-server.js coap://127.0.0.1:5690 coaps://127.0.0.1:5691
 *   node dist/examples/alarm-client.js coap://[::1]/alarm ON                # in another terminal
 *   deps/.work/bin/coap-client -u demo -k demo-secret -m get coaps://[::1]/alarm
 *   deps/.work/bin/coap-client -s 30 -m get coap://[::1]/alarm              # observe it
 *
 * Stop it with Ctrl-C.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { CoapServer } from 'libcoap'

async function main(): Promise<void> {
  const listen = process.argv.length > 2 ? process.argv.slice(2) : ['coap://[::]:5683', 'coaps://[::]:5684']
  const server = new CoapServer({
    listen,
    // The lab's DTLS credentials: identity `demo`, key `demo-secret` — a demo, not a secret.
    psk: { hint: 'libcoap-demo', keys: { demo: 'demo-secret' } },
  })
  let alarm = 'OFF'
  const alarmResource = server
    .resource('/alarm', { rt: 'alarm', title: 'Alarm state', observable: true })
    .get(() => alarm)
    .put((req) => {
      const state = req.text().trim().toUpperCase()
      if (state !== 'ON' && state !== 'OFF') return { code: '4.00', payload: 'say ON or OFF' }
      const changed = state !== alarm
      alarm = state
      // Observers (RFC 7641) hear about every change; the GET handler above makes the body.
      if (changed) alarmResource.notify()
      console.log(`alarm ${alarm} (set by ${req.session.remote})`)
      return { code: '2.04' }
    })
  server.resource('/time', { rt: 'time', title: 'Server time' }).get(() => new Date().toISOString())
  // Longer than separateResponseAfter (500 ms): the request is ACKed at once and answered later.
  server.resource('/slow', { title: 'Separate response' }).get(async () => {
    await sleep(2000)
    return 'done after 2000 ms'
  })
  server.on('error', (err) => console.error('handler error:', err))
  const endpoints = await server.listen()
  const scheme = { udp: 'coap', dtls: 'coaps', tcp: 'coap+tcp', tls: 'coaps+tcp', ws: 'coap+ws', wss: 'coaps+ws' }
  for (const ep of endpoints) console.log(`alarm server on ${scheme[ep.proto]}://${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}`)
  const stop = (): void => void server.close().then(() => console.log('closed'))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

main().catch((err) => {
  console.error(`${err.code ?? err.name}: ${err.message}`)
  process.exit(1)
})
