#!/usr/bin/env node
'use strict'
// npm's install step: use a prebuilt or already-built addon when one loads; otherwise build from
// source: with cmake-js when it is installed (a development checkout), else with node-gyp and
// binding.gyp, pointed at the headers that came with this Node (nothing is downloaded).
const { spawnSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..')

function loads() {
  try {
    require('node-gyp-build')(root)
    return true
  } catch {
    return false
  }
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' })
  return r.status === 0
}

if (loads()) process.exit(0)

let ok
try {
  require.resolve('cmake-js/bin/cmake-js')
  ok = run(process.execPath, [path.join(__dirname, 'build.js')])
} catch {
  const nodeGyp = process.env.npm_config_node_gyp || require.resolve('node-gyp/bin/node-gyp.js', { paths: [path.dirname(process.execPath), root] })
  ok = run(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${path.resolve(process.execPath, '../..')}`])
}
if (!ok) {
  process.stderr.write(
    'libcoap: building the native addon failed. It needs cmake, a C/C++ compiler and bzip2\n' +
      '  (Debian: apt-get install cmake build-essential bzip2) and the libcoap 4.3.5 source\n' +
      '  (fetched automatically; offline, set LIBCOAP_SOURCE to the tarball).\n',
  )
  process.exit(1)
}
