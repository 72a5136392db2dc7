#!/usr/bin/env node
'use strict'
// Builds libcoap's own coap-client and coap-server example programs from the pinned source, for
// interop tests. The build lives in deps/.work/tools-build (separate from the addon's build) and
// the two binaries are copied to deps/.work/bin. DTLS uses the system OpenSSL (libssl-dev).
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { fetchLibcoap, stampText } = require('./fetch.js')

const pin = require('./libcoap.json')
const workDir = path.join(__dirname, '.work')
const buildDir = path.join(workDir, 'tools-build')
const binDir = path.join(workDir, 'bin')
const stampFile = path.join(binDir, '.stamp')
const tools = ['coap-client', 'coap-server']

const log = (msg) => process.stderr.write(`libcoap tools: ${msg}\n`)

class BuildError extends Error {}

function upToDate() {
  if (!tools.every((t) => fs.existsSync(path.join(binDir, t)))) return false
  try {
    return fs.readFileSync(stampFile, 'utf8').trim() === stampText()
  } catch {
    return false
  }
}

// Runs a command; output goes to stderr (live) so stdout stays clean. Returns captured text too,
// so failures can be diagnosed (e.g. a missing OpenSSL).
function run(cmd, args, what) {
  log(`${what}: ${cmd} ${args.join(' ')}`)
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (res.error) {
    if (res.error.code === 'ENOENT') throw new BuildError(`${cmd} not found: install it (e.g. apt-get install ${cmd})`)
    throw new BuildError(`${what} failed: ${res.error.message}`)
  }
  const out = `${res.stdout || ''}${res.stderr || ''}`
  if (res.status !== 0) {
    process.stderr.write(out)
    throw Object.assign(new BuildError(`${what} failed (exit ${res.status ?? res.signal})`), { output: out })
  }
  return out
}

async function main() {
  if (upToDate()) {
    log(`up to date (${binDir})`)
    return
  }
  const started = Date.now()
  const srcDir = await fetchLibcoap()
  log(`source ${srcDir}`)

  fs.mkdirSync(buildDir, { recursive: true })
  const configureArgs = [
    '-S', srcDir,
    '-B', buildDir,
    '-DCMAKE_BUILD_TYPE=Release',
    '-DBUILD_SHARED_LIBS=OFF',
    '-DENABLE_DOCS=OFF',
    '-DENABLE_TESTS=OFF',
    '-DENABLE_EXAMPLES=ON',
    '-DWITH_EPOLL=ON',
    '-DENABLE_DTLS=ON',
    '-DDTLS_BACKEND=openssl',
  ]
  try {
    run('cmake', configureArgs, 'configure')
  } catch (err) {
    if (/OpenSSL/i.test(err.output || '')) {
      throw new BuildError(
        'cmake could not find OpenSSL, which the DTLS-enabled coap-client/coap-server need.\n' +
          '  Install the OpenSSL development files, e.g.: apt-get install libssl-dev',
      )
    }
    throw err
  }

  run('cmake', ['--build', buildDir, '--target', ...tools, '-j2'], 'build')

  fs.mkdirSync(binDir, { recursive: true })
  fs.rmSync(stampFile, { force: true })
  for (const t of tools) {
    const built = path.join(buildDir, t)
    if (!fs.existsSync(built)) throw new BuildError(`build finished but ${built} is missing`)
    const dest = path.join(binDir, t)
    const tmp = `${dest}.tmp`
    fs.copyFileSync(built, tmp)
    fs.chmodSync(tmp, 0o755)
    fs.renameSync(tmp, dest)
  }
  fs.writeFileSync(stampFile, `${stampText()}\n`)
  log(`built ${tools.join(', ')} into ${binDir} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
}

module.exports = { buildTools: main, binDir }

if (require.main === module) {
  main().then(
    () => {},
    (err) => {
      log(`error: ${err.message}`)
      process.exit(1)
    },
  )
}
