#!/usr/bin/env node
'use strict'
// `npm run build [-- --dtls=openssl|gnutls] [-- --debug]`: fetches the pinned libcoap and builds
// the addon with cmake-js into build/Release. LIBCOAP_DTLS selects the backend too.
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { fetchLibcoap } = require('./fetch.js')

function parseArgs(argv) {
  let dtls = process.env.LIBCOAP_DTLS || 'openssl'
  let debug = false
  for (const arg of argv) {
    if (arg.startsWith('--dtls=')) dtls = arg.slice(7)
    else if (arg === '--debug') debug = true
    else throw new Error(`unknown argument ${arg} (use --dtls=openssl|gnutls, --debug)`)
  }
  if (dtls !== 'openssl' && dtls !== 'gnutls') throw new Error(`--dtls must be openssl or gnutls, not '${dtls}'`)
  return { dtls, debug }
}

async function main() {
  const { dtls, debug } = parseArgs(process.argv.slice(2))
  const src = await fetchLibcoap()
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js')
  const args = [cmakeJs, 'compile', '--out', 'build', `--CDCOAP_DTLS=${dtls}`, `--CDLIBCOAP_SOURCE_DIR=${src}`,
    `--CDNODE_INCLUDE_DIR=${path.resolve(process.execPath, '../../include/node')}`]
  if (debug) args.push('--debug')
  const r = spawnSync(process.execPath, args, { cwd: path.join(__dirname, '..'), stdio: 'inherit' })
  if (r.status !== 0) throw new Error(`cmake-js failed (exit ${r.status}); is cmake installed (apt-get install cmake)?`)
}

main().catch((err) => {
  process.stderr.write(`libcoap build: ${err.message}\n`)
  process.exit(1)
})
