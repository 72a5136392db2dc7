#!/usr/bin/env node
'use strict'
// For binding.gyp (node-gyp-build's source fallback): builds only the static libcoap, with the
// options of our CMakeLists.txt, and prints the build directory gyp links from.
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { fetchLibcoap } = require('./fetch.js')

async function main() {
  const src = await fetchLibcoap()
  const out = path.join(__dirname, '.work', 'gyp')
  const dtls = process.env.LIBCOAP_DTLS || 'openssl'
  const run = (args) => {
    const r = spawnSync('cmake', args, { stdio: ['ignore', 'ignore', 'inherit'] })
    if (r.error || r.status !== 0) throw new Error(`cmake ${args[0]} failed: install cmake and a C compiler (apt-get install cmake build-essential)`)
  }
  run(['-S', path.join(__dirname, '..'), '-B', out, '-DCMAKE_BUILD_TYPE=Release', `-DCOAP_DTLS=${dtls}`,
    `-DLIBCOAP_SOURCE_DIR=${src}`, `-DNODE_INCLUDE_DIR=${path.resolve(process.execPath, '../../include/node')}`])
  run(['--build', out, '--target', 'coap-3', '-j2'])
  process.stdout.write(path.join(out, 'libcoap'))
}

main().catch((err) => {
  process.stderr.write(`libcoap build: ${err.message}\n`)
  process.exit(1)
})
