/**
 * Resource discovery (RFC 6690): list what a server offers, optionally filtered.
 *
 *   node dist/examples/discover.js coap://[::1] rt=alarm
 */
import { CoapClient } from 'libcoap'

async function main(): Promise<void> {
  const base = process.argv[2] ?? 'coap://[::1]'
  const filter = process.argv[3]
  await using client = new CoapClient({ timeout: 5000 })
  const links = await client.discover(filter ? `${base}?${filter}` : base)
  for (const { href, ...attributes } of links) console.log(href, attributes)
}

main().catch((err) => {
  console.error(`${err.code ?? err.name}: ${err.message}`)
  process.exit(1)
})
