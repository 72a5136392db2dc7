#!/usr/bin/env node
/**
 * `npm start [-- --port N] [-- --dtls-port N] [-- --host H]`: runs the alarm demo server (CoAP and
 * DTLS-PSK) until Ctrl-C.
 * @module
 */
import { parseArgs } from 'node:util'
import { DEMO_PSK, createAlarmServer } from './alarm'

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '5683' },
      'dtls-port': { type: 'string', default: '5684' },
      host: { type: 'string', default: '::' },
    },
  })
  const portOf = (v: string | undefined, flag: string): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new RangeError(`--${flag} must be 0-65535, got '${v}'`)
    return n
  }
  const port = portOf(values.port as string, 'port')
  const dtlsPort = portOf(values['dtls-port'] as string, 'dtls-port')
  const host = values.host as string
  const hostPart = host.includes(':') ? `[${host}]` : host
  const server = createAlarmServer({ listen: [`coap://${hostPart}:${port}`, `coaps://${hostPart}:${dtlsPort}`] })
  server.on('error', (err) => console.error('handler error:', err))
  const [ep, dtls] = await server.listen()
  const target = host === '::' || host === '0.0.0.0' ? (host === '::' ? '[::1]' : '127.0.0.1') : hostPart
  const base = `coap://${target}${ep.port === 5683 ? '' : `:${ep.port}`}`
  const dtlsBase = `coaps://${target}${dtls.port === 5684 ? '' : `:${dtls.port}`}`
  console.log(`libcoap demo server listening on coap://${hostPart}:${ep.port} and coaps://${hostPart}:${dtls.port}`)
  console.log(`DTLS-PSK demo credentials: identity '${DEMO_PSK.identity}', key '${DEMO_PSK.key}'`)
  console.log('Try (libcoap\'s coap-client, or any CoAP client):')
  console.log(`  coap-client -m get ${base}/alarm`)
  console.log(`  coap-client -m put -e ON ${base}/alarm`)
  console.log(`  coap-client -m get ${base}/time`)
  console.log(`  coap-client -m get ${base}/slow      # separate response after 2 s`)
  console.log(`  node dist/examples/alarm-client.js ${base}/alarm ON`)
  console.log(`  coap-client -u ${DEMO_PSK.identity} -k ${DEMO_PSK.key} -m get ${dtlsBase}/alarm   # over DTLS`)
  const stop = (): void => {
    void server.close().then(() => process.exit(0))
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
})
