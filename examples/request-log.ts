/**
 * A request log from `node:diagnostics_channel`: every CoapClient request with its outcome and
 * duration, and DTLS handshakes, without touching the code that makes the requests. libcoap's
 * own warnings go to the same log through `onLog`.
 *
 *   node dist/examples/request-log.js
 */
import diagnosticsChannel from 'node:diagnostics_channel'
import { CoapClient, CoapServer, onLog, type DiagnosticsRequest, type RequestCreateMessage, type RequestErrorMessage, type RequestResponseMessage, type SessionMessage } from 'libcoap'

// The same request object is published at create and at the end: key the start time on it.
const started = new WeakMap<DiagnosticsRequest, number>()
const ms = (request: DiagnosticsRequest): string => (performance.now() - (started.get(request) ?? 0)).toFixed(1)

diagnosticsChannel.subscribe('libcoap:request:create', (m) => {
  started.set((m as RequestCreateMessage).request, performance.now())
})
diagnosticsChannel.subscribe('libcoap:request:response', (m) => {
  const { request, response } = m as RequestResponseMessage
  console.log(`${request.method} ${request.url} -> ${response.code} in ${ms(request)} ms`)
})
diagnosticsChannel.subscribe('libcoap:request:error', (m) => {
  const { request, error } = m as RequestErrorMessage
  console.log(`${request.method} ${request.url} -> ${(error as { code?: string }).code ?? error.name} in ${ms(request)} ms`)
})
diagnosticsChannel.subscribe('libcoap:session:handshake', (m) => {
  const { session, error } = m as SessionMessage
  console.log(`${session.side} DTLS handshake with ${session.remote}: ${error ? error.code : 'ok'}`)
})
onLog((level, message) => console.log(`libcoap ${level}: ${message}`))

async function main(): Promise<void> {
  const server = new CoapServer({ listen: ['coap://127.0.0.1:0', 'coaps://127.0.0.1:0'], psk: { key: 'example-key' } })
  server.resource('/hello').get(() => 'hello')
  const [udp, dtls] = await server.listen()

  await using client = new CoapClient({ psk: { identity: 'example', key: 'example-key' }, timeout: 2000 })
  await client.get(`coap://127.0.0.1:${udp.port}/hello`)
  await client.get(`coap://127.0.0.1:${udp.port}/missing`)
  await client.get(`coaps://127.0.0.1:${dtls.port}/hello`)
  await client.put(`coap://127.0.0.1:${udp.port}/hello`, 'x', { confirmable: false, timeout: 300 }).catch(() => undefined)
  await server.close()
}

main().catch((err) => {
  console.error(`${err.code ?? err.name}: ${err.message}`)
  process.exit(1)
})
