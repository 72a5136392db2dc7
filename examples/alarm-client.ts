/**
 * The CoAP lab's alarm client: PUT a state to the alarm resource, then read it back.
 *
 *   npm start                                   # in another terminal
 *   node dist/examples/alarm-client.js coap://[::1]/alarm ON
 */
import { CoapClient } from 'libcoap'

async function main(): Promise<void> {
  const url = process.argv[2] ?? 'coap://[::1]/alarm'
  const state = process.argv[3] ?? 'ON'
  await using client = new CoapClient({ timeout: 10_000 })
  const put = await client.put(url, state)
  console.log(`PUT ${url} ${state} -> ${put.code}`)
  const get = await client.get(url)
  console.log(`GET ${url} -> ${get.code} ${get.text()}`)
  if (!put.ok || !get.ok) process.exitCode = 1
}

main().catch((err) => {
  console.error(`${err.code ?? err.name}: ${err.message}`)
  process.exit(1)
})
