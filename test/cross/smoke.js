// Run by deps/test-cross.js under qemu with an ARM build of Node: loads the package from the
// directory it was copied to (so node-gyp-build picks the prebuild for this platform), then a
// UDP and a DTLS-PSK request against a server in the same process, on loopback. Prints one
// JSON line; exits 1 on any failure.
'use strict'
const { CoapClient, CoapServer, versions } = require(process.argv[2])

async function main() {
  const started = Date.now()
  const server = new CoapServer({ listen: ['coap://127.0.0.1:0', 'coaps://127.0.0.1:0'], psk: { key: 'cross-key' } })
  server.resource('/hello').get(() => `hello from ${process.arch}`)
  const [udp, dtls] = await server.listen()
  const client = new CoapClient({ psk: { identity: 'cross', key: 'cross-key' }, timeout: 20_000 })
  try {
    const a = await client.get(`coap://127.0.0.1:${udp.port}/hello`)
    const b = await client.get(`coaps://127.0.0.1:${dtls.port}/hello`)
    const result = { arch: process.arch, node: process.version, versions: versions(), udp: a.text(), dtls: b.text(), ms: Date.now() - started }
    if (a.code !== '2.05' || b.code !== '2.05' || a.text() !== `hello from ${process.arch}` || b.text() !== a.text()) {
      throw new Error(`unexpected answers: ${JSON.stringify(result)}`)
    }
    console.log(JSON.stringify(result))
  } finally {
    await client.close()
    await server.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
