#!/usr/bin/env node
'use strict'
// `npm run build:addon [-- --dtls=openssl|gnutls] [-- --debug] [-- --out=DIR] [-- --bench]
// [-- --toolchain=FILE]`: fetches the pinned libcoap and builds the addon with cmake-js into
// build/Release (or DIR/Release); --bench adds the benchmark tools (bench/TOOLS.md);
// --toolchain cross-compiles with a CMake toolchain file (deps/cross/). LIBCOAP_DTLS selects
// the backend too.
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { fetchLibcoap } = require('./fetch.js')

function parseArgs(argv) {
  let dtls = process.env.LIBCOAP_DTLS || 'openssl'
  let debug = false
  let out = 'build'
  let bench = false
  let toolchain
  for (const arg of argv) {
    if (arg.startsWith('--dtls=')) dtls = arg.slice(7)
    else if (arg === '--bench') bench = true
    else if (arg === '--debug') debug = true
    else if (arg.startsWith('--out=')) out = arg.slice(6)
    else if (arg.startsWith('--toolchain=')) toolchain = path.resolve(arg.slice(12))
    else throw new Error(`unknown argument ${arg} (use --dtls=openssl|gnutls, --debug, --out=DIR, --bench, --toolchain=FILE)`)
  }
  if (dtls !== 'openssl' && dtls !== 'gnutls') throw new Error(`--dtls must be openssl or gnutls, not '${dtls}'`)
  return { dtls, debug, out, bench, toolchain }
}

async function main() {
  const { dtls, debug, out, bench, toolchain } = parseArgs(process.argv.slice(2))
  const src = await fetchLibcoap()
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js')
  const args = [cmakeJs, 'compile', '--out', out, `--CDCOAP_DTLS=${dtls}`, `--CDLIBCOAP_SOURCE_DIR=${src}`,
    `--CDNODE_INCLUDE_DIR=${path.resolve(process.execPath, '../../include/node')}`]
  if (debug) args.push('--debug')
  if (bench) args.push('--CDCOAP_NODE_BENCH=ON')
  if (toolchain) args.push(`--CDCMAKE_TOOLCHAIN_FILE=${toolchain}`)
  const r = spawnSync(process.execPath, args, { cwd: path.join(__dirname, '..'), stdio: 'inherit' })
  if (r.status !== 0) {
    const hint = dtls === 'gnutls' ? ' and libgnutls28-dev' : ''
    throw new Error(`cmake-js failed (exit ${r.status}); are cmake${hint} installed (apt-get install cmake${hint})?`)
  }
}

main().catch((err) => {
  process.stderr.write(`libcoap build: ${err.message}\n`)
  process.exit(1)
})
