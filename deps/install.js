#!/usr/bin/env node
'use strict'
// npm's install step: use a prebuilt or already-built addon when one loads; otherwise build from
// source: with cmake-js when it is installed (a development checkout), else with node-gyp and
// binding.gyp, pointed at the headers that came with this Node (nothing is downloaded).
// When neither works, the last lines say what was tried and what to install: npm prints a failed
// install script's output, so they end up at the bottom of what the user sees.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
// The tuple node-gyp-build matches prebuilds/ against (it honours the same overrides).
const platform = process.env.npm_config_platform || process.platform
const arch = process.env.npm_config_arch || process.arch
const target = `${platform}-${arch}`

let loadError
function loads() {
  try {
    require('node-gyp-build')(root)
    return true
  } catch (err) {
    loadError = err
    return false
  }
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' })
  if (r.error) return `could not start ${path.basename(args[0] || cmd)}: ${r.error.message}`
  if (r.status !== 0) return r.signal ? `killed by ${r.signal}` : `exit code ${r.status}`
  return undefined
}

function onPath(names) {
  const dirs = (process.env.PATH || '').split(path.delimiter).filter(Boolean)
  return names.some((name) => {
    if (path.isAbsolute(name)) return fs.existsSync(name)
    return dirs.some((d) => {
      try {
        fs.accessSync(path.join(d, name), fs.constants.X_OK)
        return true
      } catch {
        return false
      }
    })
  })
}

// Which of the build's tools are missing: a failed compiler check deep in node-gyp or cmake
// output is easy to miss, a list of absent commands is not.
function missingTools(withGyp) {
  const tools = [
    ['cmake', ['cmake']],
    ['a C compiler', process.env.CC ? [process.env.CC.split(' ')[0]] : ['cc', 'gcc', 'clang']],
    ['a C++ compiler', process.env.CXX ? [process.env.CXX.split(' ')[0]] : ['c++', 'g++', 'clang++']],
    ['make', withGyp ? ['make'] : ['make', 'ninja']],
    ['bzip2', ['bzip2']],
    ['patch', ['patch']],
  ]
  if (withGyp) {
    const py = process.env.npm_config_python || process.env.PYTHON
    tools.push(['python3', py ? [py] : ['python3', 'python']])
  }
  return tools.filter(([, names]) => !onPath(names)).map(([label]) => label)
}

function prebuiltState() {
  const dir = path.join(root, 'prebuilds')
  const have = fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => !d.startsWith('.')).sort() : []
  if (have.includes(target)) {
    return `a prebuilt binary for ${target} is included but did not load:\n      ${String(loadError?.message).trim().split('\n').join('\n      ')}`
  }
  return `no prebuilt binary for ${target} in this package (prebuilt: ${have.length ? have.join(', ') : 'none'})`
}

function runtimeText() {
  let libc = ''
  try {
    const glibc = process.report?.getReport().header.glibcVersionRuntime
    libc = glibc ? `, glibc ${glibc}` : ', not glibc'
  } catch {}
  return `Node ${process.version}, ABI ${process.versions.modules}, Node-API ${process.versions.napi}${libc}`
}

// `npm install --build-from-source`, or the GnuTLS backend (the prebuilt binaries use Node's
// OpenSSL), skip whatever binary is there.
const fromSource = process.env.npm_config_build_from_source === 'true' || (process.env.LIBCOAP_DTLS || 'openssl') !== 'openssl'
if (!fromSource && loads()) process.exit(0)

let how
let failure
let nodeGyp
try {
  require.resolve('cmake-js/bin/cmake-js')
  how = 'with cmake-js (deps/build.js)'
} catch {
  how = 'with node-gyp and binding.gyp'
  try {
    nodeGyp = process.env.npm_config_node_gyp || require.resolve('node-gyp/bin/node-gyp.js', { paths: [path.dirname(process.execPath), root] })
  } catch {
    failure = 'node-gyp was not found (npm normally provides it; install it with npm install -g node-gyp)'
  }
}
if (!failure) {
  failure = nodeGyp
    ? run(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${path.resolve(process.execPath, '../..')}`])
    : run(process.execPath, [path.join(__dirname, 'build.js')])
}
if (failure) {
  const missing = missingTools(Boolean(nodeGyp))
  const pin = require('./libcoap.json')
  const why = missing.length
    ? `${failure}; not found on PATH: ${missing.join(', ')}`
    : `${failure}; the build tools were found, see the errors above`
  process.stderr.write(
    `\nlibcoap: cannot install the native addon for ${target} (${runtimeText()}).\n` +
      `  Tried:\n` +
      `    1. ${prebuiltState()}\n` +
      `    2. building from source ${how}: ${why}\n` +
      `  To build from source, install cmake, a C/C++ compiler, make, python3, bzip2 and patch, then reinstall:\n` +
      `    Debian/Ubuntu: apt-get install cmake build-essential python3 bzip2 patch\n` +
      `    Fedora/RHEL:   dnf install cmake gcc gcc-c++ make python3 bzip2 patch\n` +
      `    Alpine:        apk add cmake build-base linux-headers python3 bzip2 patch\n` +
      `  The build fetches the libcoap ${pin.version} source; offline, set LIBCOAP_SOURCE to a local ${pin.tarball}.\n`,
  )
  process.exit(1)
}
