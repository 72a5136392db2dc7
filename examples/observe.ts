/**
 * Observe (RFC 7641): a server pushes a changing value; a client follows it for a few updates.
 *
 *   node dist/examples/observe.js
 */
import { CoapClient, CoapServer } from 'libcoap'

async function main(): Promise<void> {
  const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
  let temperature = 20
  const temp = server.resource('/temp', { rt: 'temperature-c', observable: true }).get(() => temperature.toFixed(1))
  const [ep] = await server.listen()
  const ticker = setInterval(() => {
    temperature += Math.random() - 0.5
    temp.notify() // libcoap re-runs the GET handler for each observer
  }, 200)

  await using client = new CoapClient()
  let updates = 0
  for await (const n of client.observe(`coap://127.0.0.1:${ep.port}/temp`)) {
    console.log(`temp = ${n.text()} (Observe ${n.option('Observe')[0]})`)
    if (++updates === 5) break // deregisters
  }
  clearInterval(ticker)
  await server.close()
}

main().catch((err) => {
  console.error(`${err.code ?? err.name}: ${err.message}`)
  process.exit(1)
})
