#!/usr/bin/env node
/**
 * `npm start [-- --port N] [-- --host H]`: runs the alarm demo server until Ctrl-C.
 * @module
 */
import { parseArgs } from 'node:util'
import { createAlarmServer } from './alarm'

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '5683' }, host: { type: 'string', default: '::' } },
  })
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`--port must be 0-65535, got '${values.port}'`)
  const host = values.host as string
  const hostPart = host.includes(':') ? `[${host}]` : host
  const server = createAlarmServer({ listen: `coap://${hostPart}:${port}` })
  server.on('error', (err) => console.error('handler error:', err))
  const [ep] = await server.listen()
  const target = host === '::' || host === '0.0.0.0' ? (host === '::' ? '[::1]' : '127.0.0.1') : hostPart
  const base = `coap://${target}${ep.port === 5683 ? '' : `:${ep.port}`}`
  console.log(`libcoap demo server listening on coap://${hostPart}:${ep.port}`)
  console.log('Try (libcoap\'s coap-client, or any CoAP client):')
  console.log(`  coap-client -m get ${base}/alarm`)
  console.log(`  coap-client -m put -e ON ${base}/alarm`)
  console.log(`  coap-client -m get ${base}/time`)
  console.log(`  coap-client -m get ${base}/slow      # separate response after 2 s`)
  console.log(`  node dist/examples/alarm-client.js ${base}/alarm ON`)
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
