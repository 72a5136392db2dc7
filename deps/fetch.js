#!/usr/bin/env node
'use strict'
// Finds the pinned libcoap source, verifies it, unpacks it to deps/.work/libcoap-<version> and
// applies our own fixes from deps/patches/ (in name order). Order of sources: LIBCOAP_SOURCE
// (tarball or directory), deps/cache, Debian's source pool on the mirror apt is configured with,
// then upstream's release. Prints the source directory on stdout.
const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const { execFileSync } = require('node:child_process')

const pin = require('./libcoap.json')
const depsDir = __dirname
const workDir = path.join(depsDir, '.work')
const cacheDir = path.join(depsDir, 'cache')
const srcDir = path.join(workDir, `libcoap-${pin.version}`)
const stamp = path.join(srcDir, '.verified')
const patchDir = path.join(depsDir, 'patches')

const log = (msg) => process.stderr.write(`libcoap fetch: ${msg}\n`)

function sha256File(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex')
}

// A digest of the files the build reads, so a directory or a differently packed archive of the
// same release can be checked against the pin too.
function treeDigest(dir) {
  const files = []
  const walk = (rel) => {
    const abs = path.join(dir, rel)
    const st = fs.statSync(abs, { throwIfNoEntry: false })
    if (!st) return
    if (st.isDirectory()) for (const name of fs.readdirSync(abs)) walk(path.join(rel, name))
    else if (st.isFile()) files.push(rel.split(path.sep).join('/'))
  }
  for (const entry of pin.buildTree) walk(entry)
  files.sort()
  const h = crypto.createHash('sha256')
  for (const f of files) h.update(`${f}\0${sha256File(path.join(dir, f))}\n`)
  return h.digest('hex')
}

function unpack(tarball) {
  fs.rmSync(srcDir, { recursive: true, force: true })
  fs.mkdirSync(srcDir, { recursive: true })
  const flag = tarball.endsWith('.bz2') ? '-xjf' : '-xzf'
  try {
    execFileSync('tar', [flag, tarball, '-C', srcDir, '--strip-components=1'], { stdio: ['ignore', 'ignore', 'inherit'] })
  } catch (err) {
    throw new Error(`cannot unpack ${tarball} (is ${flag === '-xjf' ? 'bzip2' : 'gzip'} installed?): ${err.message}`)
  }
}

function patches() {
  if (!fs.existsSync(patchDir)) return []
  return fs.readdirSync(patchDir).filter((f) => f.endsWith('.patch')).sort().map((f) => path.join(patchDir, f))
}

// What the unpacked tree must match: the pinned source plus exactly these patches.
function stampText() {
  const h = crypto.createHash('sha256')
  for (const p of patches()) h.update(`${path.basename(p)}\0${sha256File(p)}\n`)
  return `${pin.treeDigest} ${h.digest('hex')}`
}

function finish() {
  for (const p of patches()) {
    try {
      execFileSync('patch', ['-p1', '-N', '-s', '-d', srcDir, '-i', p], { stdio: ['ignore', 'ignore', 'inherit'] })
    } catch (err) {
      throw new Error(`cannot apply ${path.basename(p)} (is 'patch' installed?): ${err.message}`)
    }
  }
  fs.writeFileSync(stamp, stampText())
  return srcDir
}

function acceptDir(dir, origin) {
  const digest = treeDigest(dir)
  if (digest !== pin.treeDigest) {
    throw new Error(`${origin} is not libcoap ${pin.version} (tree digest ${digest}, expected ${pin.treeDigest})`)
  }
  return dir
}

function acceptTarball(file, origin) {
  if (sha256File(file) === pin.sha256) {
    unpack(file)
    return srcDir
  }
  unpack(file)
  try {
    return acceptDir(srcDir, origin)
  } catch (err) {
    fs.rmSync(srcDir, { recursive: true, force: true })
    throw err
  }
}

// Mirrors come from the machine's apt configuration; none is written into this project.
function aptMirrors() {
  const uris = []
  const add = (u) => { if (/^https?:\/\//.test(u) && !uris.includes(u)) uris.push(u.replace(/\/+$/, '')) }
  const listFiles = ['/etc/apt/sources.list']
  const dir = '/etc/apt/sources.list.d'
  if (fs.existsSync(dir)) for (const f of fs.readdirSync(dir)) listFiles.push(path.join(dir, f))
  for (const file of listFiles) {
    let text
    try { text = fs.readFileSync(file, 'utf8') } catch { continue }
    if (file.endsWith('.sources')) {
      for (const m of text.matchAll(/^URIs:\s*(.+)$/gim)) m[1].split(/\s+/).forEach(add)
    } else if (file.endsWith('.list')) {
      for (const m of text.matchAll(/^\s*deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?(\S+)/gm)) add(m[1])
    }
  }
  return uris.filter((u) => !/security/.test(u))
}

async function download(url, dest) {
  const res = await fetch(url, { signal: AbortSignal.timeout(120_000) })
  if (!res.ok) throw new Error(`HTTP ${res.status}`)
  const tmp = `${dest}.part`
  fs.writeFileSync(tmp, Buffer.from(await res.arrayBuffer()))
  fs.renameSync(tmp, dest)
}

async function main() {
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === stampText()) return srcDir

  const given = process.env.LIBCOAP_SOURCE
  if (given) {
    const st = fs.statSync(given, { throwIfNoEntry: false })
    if (!st) throw new Error(`LIBCOAP_SOURCE=${given} does not exist`)
    const dir = st.isDirectory() ? acceptDir(given, `LIBCOAP_SOURCE=${given}`) : acceptTarball(given, `LIBCOAP_SOURCE=${given}`)
    if (dir !== srcDir) {
      fs.rmSync(srcDir, { recursive: true, force: true })
      fs.cpSync(dir, srcDir, { recursive: true })
    }
    return finish()
  }

  fs.mkdirSync(cacheDir, { recursive: true })
  const cached = path.join(cacheDir, pin.tarball)
  const tried = []
  if (fs.existsSync(cached)) {
    try {
      acceptTarball(cached, cached)
      return finish()
    } catch (err) {
      tried.push(`${cached}: ${err.message}`)
      fs.rmSync(cached, { force: true })
    }
  }

  const candidates = aptMirrors().map((m) => ({ url: `${m}/${pin.debianPool}${pin.tarball}`, file: cached }))
  candidates.push({ url: pin.upstream, file: path.join(cacheDir, path.basename(pin.upstream)) })
  for (const { url, file } of candidates) {
    try {
      log(`downloading ${url}`)
      await download(url, file)
      acceptTarball(file, url)
      return finish()
    } catch (err) {
      tried.push(`${url}: ${err.message}`)
      fs.rmSync(file, { force: true })
    }
  }
  throw new Error(
    `could not obtain libcoap ${pin.version} (sha256 ${pin.sha256}).\n  tried:\n    ${tried.join('\n    ')}\n` +
      `  Set LIBCOAP_SOURCE to a local copy of ${pin.tarball} (or an unpacked libcoap ${pin.version} directory) and retry.`,
  )
}

module.exports = { fetchLibcoap: main, treeDigest, stampText }

if (require.main === module) {
  main().then(
    (dir) => process.stdout.write(`${dir}\n`),
    (err) => {
      log(err.message)
      process.exit(1)
    },
  )
}
