// Block-wise throughput: PUT then GET an N MiB body to our server, over a given scheme:
//   node bulk.js <coap|coap+tcp> <MiB>
'use strict'
const path = require('node:path')
const { CoapClient } = require(path.join(__dirname, '../../dist/index.js'))
const { start } = require('../lib/proc')

const [scheme, mib] = process.argv.slice(2)
;(async () => {
  const server = await start(process.execPath, [path.join(__dirname, 'ours-server.js'), 'large', '0', scheme])
  const client = new CoapClient({ timeout: 120_000, maxBodySize: 64 << 20 })
  const url = `${scheme}://127.0.0.1:${server.port}/x`
  const body = Buffer.alloc(Number(mib) << 20, 7)
  const t0 = process.hrtime.bigint()
  const put = await client.put(url, body)
  const t1 = process.hrtime.bigint()
  const get = await client.get(url)
  const t2 = process.hrtime.bigint()
  if (put.code !== '2.04' || get.payload.length !== body.length) throw new Error(`transfer failed: ${put.code} ${get.code} ${get.payload.length}`)
  const mbps = (ns) => body.length / 1e6 / (Number(ns) / 1e9)
  console.log(JSON.stringify({ scheme, bytes: body.length, upload_MBps: mbps(t1 - t0), download_MBps: mbps(t2 - t1) }))
  await client.close()
  await server.stop()
})().catch((err) => {
  console.error(err)
  process.exit(1)
})
