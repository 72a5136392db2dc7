#!/usr/bin/env node
'use strict'
// `npm run test:cross`: runs each ARM prebuild (deps/prebuild.js) under qemu-user with an ARM
// build of Node from Debian's packages: loads the package through node-gyp-build, then a UDP
// and a DTLS-PSK request on loopback (test/cross/smoke.js). Debian's nodejs and its
// dependencies are fetched with a private apt state (the system's own sources, no system-wide
// foreign architecture) and unpacked into deps/.work/sysroot-<arch>, kept for the next run.
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const work = path.join(__dirname, '.work')
const ARCHES = {
  arm64: { deb: 'arm64', qemu: 'qemu-aarch64-static', triple: 'aarch64-linux-gnu', file: 'libcoap.napi.glibc.node' },
  arm: { deb: 'armhf', qemu: 'qemu-arm-static', triple: 'arm-linux-gnueabihf', file: 'libcoap.napi.armv7.glibc.node' },
}

function aptOptions(dir, deb) {
  return ['-o', `APT::Architecture=${deb}`, '-o', `APT::Architectures=${deb}`, '-o', `Dir::State::Lists=${dir}/lists`,
    '-o', `Dir::Cache=${dir}/cache`, '-o', `Dir::State::status=${dir}/status`, '-o', 'Debug::NoLocking=1', '-qq']
}

/** Debian's nodejs for `deb` and everything it depends on, unpacked into a sysroot (cached). */
function sysroot(arch) {
  const { deb } = ARCHES[arch]
  const dir = path.join(work, `sysroot-${arch}`)
  const node = path.join(dir, 'usr/bin/node')
  if (fs.existsSync(node)) return dir
  const apt = path.join(work, `apt-${arch}`)
  for (const d of ['lists/partial', 'cache/archives/partial']) fs.mkdirSync(path.join(apt, d), { recursive: true })
  fs.writeFileSync(path.join(apt, 'status'), '')
  const opts = aptOptions(apt, deb)
  console.log(`test:cross: fetching Debian's nodejs for ${deb} (private apt state in ${path.relative(root, apt)})`)
  execFileSync('apt-get', [...opts, 'update'], { stdio: 'inherit' })
  execFileSync('apt-get', [...opts, '-y', '--download-only', 'install', 'nodejs'], { stdio: 'inherit' })
  const debs = fs.readdirSync(path.join(apt, 'cache/archives')).filter((f) => f.endsWith('.deb'))
  if (!debs.some((f) => f.startsWith('nodejs_'))) throw new Error(`apt downloaded no nodejs package for ${deb}`)
  fs.mkdirSync(dir, { recursive: true })
  for (const f of debs) execFileSync('dpkg', ['-x', path.join(apt, 'cache/archives', f), dir])
  return dir
}

/** A directory holding the package as an install would: package.json, dist, the prebuild, node-gyp-build. */
function packageDir(arch) {
  const { file } = ARCHES[arch]
  const prebuild = path.join(root, 'prebuilds', `linux-${arch}`, file)
  if (!fs.existsSync(prebuild)) throw new Error(`${path.relative(root, prebuild)} is missing: run npm run prebuild -- --arch=${arch}`)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `libcoap-cross-${arch}-`))
  fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'))
  fs.cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true })
  fs.mkdirSync(path.join(dir, 'prebuilds', `linux-${arch}`), { recursive: true })
  fs.copyFileSync(prebuild, path.join(dir, 'prebuilds', `linux-${arch}`, file))
  fs.cpSync(path.join(root, 'node_modules/node-gyp-build'), path.join(dir, 'node_modules/node-gyp-build'), { recursive: true })
  return dir
}

function smoke(arch) {
  const { qemu, triple } = ARCHES[arch]
  const sys = sysroot(arch)
  const pkg = packageDir(arch)
  try {
    const started = Date.now()
    // Guest paths: qemu resolves them inside the sysroot (-L); Debian keeps its libraries in
    // multiarch directories that its ld.so finds through a cache the sysroot does not have.
    const libs = [`/lib/${triple}`, `/usr/lib/${triple}`].join(':')
    const r = spawnSync(qemu, ['-L', sys, '-E', `LD_LIBRARY_PATH=${libs}`, path.join(sys, 'usr/bin/node'), path.join(root, 'test/cross/smoke.js'), pkg],
      { encoding: 'utf8', timeout: 180_000 })
    if (r.error) throw new Error(`${qemu} could not run (${r.error.message}): apt-get install qemu-user-static`)
    if (r.status !== 0) throw new Error(`${arch} smoke test failed (exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`)
    const result = JSON.parse(r.stdout.trim().split('\n').pop())
    console.log(`test:cross: ${arch}: ${JSON.stringify(result)} (${((Date.now() - started) / 1000).toFixed(1)} s under ${qemu})`)
  } finally {
    fs.rmSync(pkg, { recursive: true, force: true })
  }
}

try {
  const only = process.argv.slice(2).find((a) => a.startsWith('--arch='))?.slice(7).split(',')
  for (const arch of only ?? Object.keys(ARCHES)) {
    if (!ARCHES[arch]) throw new Error(`unknown arch '${arch}' (known: ${Object.keys(ARCHES).join(', ')})`)
    smoke(arch)
  }
} catch (err) {
  process.stderr.write(`test:cross: ${err.message}\n`)
  process.exit(1)
}
