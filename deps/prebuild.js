#!/usr/bin/env node
'use strict'
// `npm run prebuild [-- --arch=x64,arm64,arm]`: one stripped Node-API binary per platform, in
// the layout node-gyp-build loads (prebuilds/linux-<arch>/libcoap.napi[.armv7].glibc.node).
// The ARM ones are cross-built with Debian's toolchains (crossbuild-essential-arm64/-armhf)
// from the same pinned libcoap; `npm run test:cross` runs them under qemu.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const TARGETS = {
  x64: { triple: 'x86_64-linux-gnu', file: 'libcoap.napi.glibc.node', apt: 'crossbuild-essential-amd64' },
  arm64: { triple: 'aarch64-linux-gnu', file: 'libcoap.napi.glibc.node', apt: 'crossbuild-essential-arm64' },
  // ARMv7 hard-float: Raspberry Pi 2 and later on a 32-bit OS (node-gyp-build matches the armv tag).
  arm: { triple: 'arm-linux-gnueabihf', file: 'libcoap.napi.armv7.glibc.node', apt: 'crossbuild-essential-armhf' },
}

function parseArgs(argv) {
  let arches = Object.keys(TARGETS)
  for (const arg of argv) {
    if (arg.startsWith('--arch=')) arches = arg.slice(7).split(',')
    else throw new Error(`unknown argument ${arg} (use --arch=${Object.keys(TARGETS).join(',')})`)
  }
  for (const a of arches) if (!TARGETS[a]) throw new Error(`unknown arch '${a}' (known: ${Object.keys(TARGETS).join(', ')})`)
  return { arches }
}

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
}

function build(arch) {
  const t = TARGETS[arch]
  const native = arch === process.arch && os.platform() === 'linux'
  const out = `build-prebuild-${arch}`
  const args = [path.join(__dirname, 'build.js'), `--out=${out}`]
  if (!native) {
    if (!has(`${t.triple}-g++`)) throw new Error(`${t.triple}-g++ not found: apt-get install ${t.apt}`)
    args.push(`--toolchain=${path.join(__dirname, 'cross', `linux-${arch}.cmake`)}`)
  }
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) throw new Error(`build for ${arch} failed (exit ${r.status})`)
  const dir = path.join(root, 'prebuilds', `linux-${arch}`)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  const dest = path.join(dir, t.file)
  fs.copyFileSync(path.join(root, out, 'Release', 'libcoap.node'), dest)
  const strip = native ? 'strip' : `${t.triple}-strip`
  const s = spawnSync(strip, ['--strip-unneeded', dest], { stdio: 'inherit' })
  if (s.status !== 0) throw new Error(`${strip} failed on ${dest}`)
  return { arch, file: path.relative(root, dest), bytes: fs.statSync(dest).size }
}

try {
  const { arches } = parseArgs(process.argv.slice(2))
  const built = arches.map(build)
  for (const b of built) console.log(`prebuild: ${b.file} ${(b.bytes / 1024).toFixed(0)} KiB`)
} catch (err) {
  process.stderr.write(`prebuild: ${err.message}\n`)
  process.exit(1)
}
