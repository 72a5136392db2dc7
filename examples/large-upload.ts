/**
 * Large bodies: a 4 MiB upload and download through libcoap's block-wise transfer (RFC 7959),
 * with progress reports, and the body-size limit refusing a body that is too large (4.13).
 *
 *   node dist/examples/large-upload.js
 */
import { randomBytes } from 'node:crypto'
import { CoapClient, CoapServer, type TransferProgress } from 'libcoap'

const MiB = 1024 * 1024

function bar(p: TransferProgress): void {
  const pct = p.total ? Math.floor((100 * p.bytes) / p.total) : undefined
  // One line per 25 %: enough to see it move without flooding the terminal.
  if (pct !== undefined && pct % 25 === 0 && p.bytes % (64 * 1024) < 1024) console.log(`  ${p.direction} ${pct}% (${p.bytes} of ${p.total} bytes)`)
}

async function main(): Promise<void> {
  const server = new CoapServer({ listen: 'coap://127.0.0.1:0', maxBodySize: 5 * MiB })
  let stored: Buffer = Buffer.alloc(0)
  server.resource('/file')
    .put((req) => {
      stored = req.payload // arrives whole: libcoap reassembled the blocks
      return { code: '2.04' }
    })
    .get(() => stored) // handed to libcoap without a copy, sent block by block
  const [ep] = await server.listen()
  const url = `coap://127.0.0.1:${ep.port}/file`

  await using client = new CoapClient()
  const body = randomBytes(4 * MiB)
  console.log('uploading 4 MiB')
  const put = await client.put(url, body, { onProgress: bar })
  console.log(`-> ${put.code}`)

  console.log('downloading it again')
  const get = await client.get(url, { onProgress: bar })
  console.log(`-> ${get.code}, ${get.payload.length} bytes, identical: ${get.payload.equals(body)}`)

  const tooBig = await client.put(url, randomBytes(6 * MiB))
  console.log(`6 MiB upload -> ${tooBig.code} (the server takes at most ${tooBig.option('Size1')[0]} bytes)`)
  await server.close()
}

main().catch((err) => {
  console.error(`${err.code ?? err.name}: ${err.message}`)
  process.exit(1)
})
