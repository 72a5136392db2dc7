#!/usr/bin/env node
'use strict'
// `npm run test:install`: installs the `npm pack` tarball into throwaway projects the three ways
// a user can meet it, so packaging mistakes show up here rather than on someone's machine:
//   1. a matching prebuilt binary and no build tools at all (it must not need them);
//   2. no prebuilt binary: node-gyp builds from source, with no network (LIBCOAP_SOURCE);
//   3. neither: the install must fail and say what was tried and what to install.
// Also checks the tarball holds what installs need and nothing else. Needs dist/ (npm run
// build:ts) and the libcoap source tarball in deps/cache (any build fetches it) or LIBCOAP_SOURCE.
// Packing skips the `prepare` script so dist/ is never rewritten under a running process.
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const pkg = require('../package.json')
const pin = require('./libcoap.json')
const target = `${process.platform}-${process.arch}`

// Generous, but a hung npm or build must not hang CI.
const MIN = 60_000
const LIMITS = { pack: 2 * MIN, prebuild: 15 * MIN, install: 3 * MIN, sourceInstall: 10 * MIN, check: 30_000 }

const log = (msg) => process.stdout.write(`test:install: ${msg}\n`)

function which(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, name)
    try {
      fs.accessSync(file, fs.constants.X_OK)
      return file
    } catch {}
  }
  return undefined
}

function npmCli() {
  const candidates = [process.env.npm_execpath, which('npm') && fs.realpathSync(which('npm'))]
  const cli = candidates.find((f) => f && f.endsWith('.js') && fs.existsSync(f))
  if (!cli) throw new Error('npm-cli.js not found (run through npm, or put npm on PATH)')
  return cli
}

// The outer npm (npm run test:install) exports its settings as npm_*; a nested npm must read
// only its own config, and nothing may point node-gyp or cmake at tools the PATH hides.
function cleanEnv(extra) {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || /^(PYTHON|NODE_GYP_FORCE_PYTHON|CC|CXX|NODE_PATH|LIBCOAP_ADDON|LIBCOAP_SOURCE|LIBCOAP_DTLS|JOBS)$/.test(k)) continue
    env[k] = v
  }
  env.npm_config_update_notifier = 'false'
  return Object.assign(env, extra)
}

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts })
  const stdout = r.stdout || ''
  const out = `${stdout}${r.stderr || ''}`
  if (r.error) return { ok: false, out, stdout, why: r.error.code === 'ETIMEDOUT' ? `timed out after ${opts.timeout / 1000} s` : r.error.message }
  return { ok: r.status === 0, out, stdout, why: r.status === 0 ? '' : r.signal ? `killed by ${r.signal}` : `exit code ${r.status}` }
}

const tail = (text, n = 40) => text.trimEnd().split('\n').slice(-n).map((l) => `      ${l}`).join('\n')

class Failure extends Error {}
function must(cond, why) {
  if (!cond) throw new Failure(why)
}

// --- what the tarball must and must not hold ----------------------------------------------

const FORBIDDEN = [
  [/^build[^/]*\//, 'a build directory'],
  [/^test\//, 'tests'],
  [/^bench\//, 'benchmarks'],
  [/^deps\/\.work\//, 'the unpacked libcoap (deps/.work)'],
  [/^deps\/cache\//, 'the libcoap tarball cache (deps/cache)'],
  [/^lib\//, 'TypeScript sources (lib/)'],
  [/^examples\//, 'examples'],
  [/^dist\/examples\//, 'compiled examples'],
  [/^node_modules\//, 'node_modules'],
  [/(^|\/)\.git\//, 'git metadata'],
  [/\.log$/, 'a log file'],
  [/\.(ts|mts|cts)$/, 'a TypeScript source'],
]
const ALLOWED = [
  /^package\.json$/, /^README\.md$/, /^LICEN[CS]E(\.\w+)?$/i, /^dist\//, /^esm\//, /^native\//,
  /^deps\/(install|fetch|build|libcoap-static)\.js$/, /^deps\/libcoap\.json$/, /^deps\/patches\//,
  /^CMakeLists\.txt$/, /^binding\.gyp$/, /^prebuilds\//,
]

function filesOf(dir) {
  return fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true }).filter((f) => fs.statSync(path.join(dir, f)).isFile()) : []
}

function requiredFiles() {
  const req = ['package.json', 'README.md', 'CMakeLists.txt', 'binding.gyp', 'deps/libcoap.json',
    'deps/install.js', 'deps/fetch.js', 'deps/libcoap-static.js', 'deps/build.js']
  for (const f of fs.readdirSync(root)) if (/^LICEN[CS]E/i.test(f)) req.push(f)
  // Every file the exports map, main and types name.
  const walk = (v) => (typeof v === 'string' ? req.push(v.replace(/^\.\//, '')) : v && Object.values(v).forEach(walk))
  walk(pkg.exports)
  walk(pkg.main)
  walk(pkg.types)
  for (const d of ['native', 'deps/patches', 'prebuilds']) for (const f of filesOf(path.join(root, d))) req.push(`${d}/${f}`)
  return [...new Set(req)]
}

function checkContents(files) {
  const problems = []
  const have = new Set(files)
  for (const f of requiredFiles()) if (!have.has(f)) problems.push(`missing ${f}`)
  for (const f of files) {
    const bad = FORBIDDEN.find(([re]) => re.test(f) && !/\.d\.ts$/.test(f))
    if (bad) problems.push(`${f}: ${bad[1]} must not be packed`)
    else if (!ALLOWED.some((re) => re.test(f))) problems.push(`${f}: not among what installs need (ALLOWED in deps/test-install.js)`)
  }
  return problems
}

// --- the temporary projects ----------------------------------------------------------------

function project(work, name) {
  const dir = path.join(work, name)
  fs.mkdirSync(dir)
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `libcoap-install-${name}`, version: '1.0.0', private: true }, null, 2))
  return dir
}

// A PATH with node and sh only: npm runs install scripts through `sh -c`, and nothing else is
// needed to install a prebuilt addon. No compiler, make, cmake or python can be reached by name.
function bareBin(work) {
  const bin = path.join(work, 'bin')
  fs.mkdirSync(bin)
  fs.symlinkSync(process.execPath, path.join(bin, 'node'))
  fs.symlinkSync(which('sh') || '/bin/sh', path.join(bin, 'sh'))
  const probe = run(path.join(bin, 'sh'), ['-c', 'for t in cc gcc g++ c++ clang cmake make python3 python; do command -v $t; done; true'],
    { env: { PATH: bin }, timeout: LIMITS.check })
  must(probe.out.trim() === '', `the reduced PATH still reaches: ${probe.out.trim().split('\n').join(', ')}`)
  return bin
}

function makeInstaller(work, depTarballs) {
  const cli = npmCli()
  const unshare = which('unshare')
  // -n needs root; -r -n gets there through a user namespace where those are allowed (CI runners).
  const netns = unshare && [['-n'], ['-r', '-n']].find((flags) => run(unshare, [...flags, 'true'], { timeout: LIMITS.check }).ok)
  let useLocalDeps = false
  // --offline resolves node-gyp-build and node-addon-api from the npm cache; a cache that holds
  // the tarballs but not the registry's metadata (e.g. after npm ci) cannot, and then the copies
  // in this checkout's node_modules are packed and installed alongside instead.
  const install = (dir, tarball, env, timeout) => {
    const args = [cli, 'install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts=false', '--loglevel=error', tarball]
    const attempt = () => {
      const full = useLocalDeps ? [...args, ...depTarballs()] : args
      return netns
        ? run(unshare, [...netns, process.execPath, ...full], { cwd: dir, env, timeout })
        : run(process.execPath, full, { cwd: dir, env, timeout })
    }
    let r = attempt()
    if (!r.ok && !useLocalDeps && /ENOTCACHED/.test(r.out)) {
      useLocalDeps = true
      fs.rmSync(path.join(dir, 'node_modules'), { recursive: true, force: true })
      r = attempt()
    }
    return r
  }
  return { install, netns, localDeps: () => useLocalDeps }
}

const CHECK = `
const { CoapServer, CoapClient, versions } = require('libcoap')
;(async () => {
  const esm = await import('libcoap')
  if (esm.CoapServer !== CoapServer) throw new Error('the ESM entry does not re-export the CommonJS one')
  const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
  server.resource('/hello').get(() => 'hi')
  await server.listen()
  const client = new CoapClient({ timeout: 5000 })
  try {
    const res = await client.get('coap://127.0.0.1:' + server.endpoints[0].port + '/hello')
    if (res.code !== '2.05' || res.text() !== 'hi') throw new Error('GET /hello: ' + res.code + ' ' + res.text())
    console.log('loaded ' + require.resolve('libcoap') + ': GET ' + res.code + ', backend ' + versions().dtlsBackend)
  } finally {
    await client.close()
    await server.close()
  }
})().catch((err) => { console.error(err); process.exit(1) })
`

function loadAndRequest(dir, backend = 'openssl') {
  const r = run(process.execPath, ['-e', CHECK], { cwd: dir, env: cleanEnv(), timeout: LIMITS.check })
  must(r.ok, `load + GET failed (${r.why}):\n${tail(r.out)}`)
  must(r.out.includes(path.join(dir, 'node_modules', 'libcoap')), `libcoap was not loaded from the test project:\n${tail(r.out)}`)
  must(r.out.includes(`backend ${backend}`), `the loaded addon does not use ${backend}:\n${tail(r.out)}`)
}

// --- main ----------------------------------------------------------------------------------

function packJson(cwd, extra) {
  const r = run(process.execPath, [npmCli(), 'pack', '--json', '--ignore-scripts', ...extra], { cwd, env: cleanEnv(), timeout: LIMITS.pack })
  if (!r.ok) throw new Error(`npm pack in ${cwd} failed (${r.why}):\n${tail(r.out)}`)
  return JSON.parse(r.stdout)[0]
}

function ensurePrebuild() {
  const dir = path.join(root, 'prebuilds', target)
  if (filesOf(dir).some((f) => f.endsWith('.node'))) return
  log(`no prebuild for ${target}: building it (deps/prebuild.js --arch=${process.arch})`)
  const r = spawnSync(process.execPath, [path.join(__dirname, 'prebuild.js'), `--arch=${process.arch}`], { cwd: root, stdio: 'inherit', timeout: LIMITS.prebuild })
  if (r.status !== 0) throw new Error(`deps/prebuild.js failed (${r.error ? r.error.message : `exit code ${r.status}`})`)
}

function libcoapSource() {
  const file = process.env.LIBCOAP_SOURCE || path.join(__dirname, 'cache', pin.tarball)
  if (!fs.existsSync(file)) {
    throw new Error(`${file} not found: the source-build path runs offline; run \`node deps/fetch.js\` once (or set LIBCOAP_SOURCE)`)
  }
  return path.resolve(file)
}

function main() {
  const t0 = Date.now()
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build:ts` first')
  ensurePrebuild()
  const source = libcoapSource()

  const listing = packJson(root, ['--dry-run'])
  const problems = checkContents(listing.files.map((f) => f.path))
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'libcoap-install-'))
  const results = []
  try {
    const packed = packJson(root, ['--pack-destination', work])
    const tarball = path.join(work, packed.filename)
    log(`tarball ${packed.filename}: ${(packed.size / 1024).toFixed(0)} KiB, ${packed.entryCount} files ` +
      `(${(packed.unpackedSize / 1024).toFixed(0)} KiB unpacked)`)
    results.push({ name: 'tarball contents', ok: problems.length === 0, why: problems.join('\n      ') })

    // The same package without prebuilds/, as on a platform none was made for.
    const stage = path.join(work, 'stage')
    fs.mkdirSync(stage)
    const untar = run('tar', ['-xzf', tarball, '-C', stage], { timeout: LIMITS.pack })
    if (!untar.ok) throw new Error(`tar -xzf ${tarball} failed (${untar.why}):\n${tail(untar.out)}`)
    fs.rmSync(path.join(stage, 'package', 'prebuilds'), { recursive: true, force: true })
    const bareDir = path.join(work, 'noprebuild')
    fs.mkdirSync(bareDir)
    const bare = packJson(path.join(stage, 'package'), ['--pack-destination', bareDir])
    const bareTarball = path.join(bareDir, bare.filename)
    log(`without prebuilds/: ${(bare.size / 1024).toFixed(0)} KiB, ${bare.entryCount} files`)

    let deps
    const depTarballs = () => {
      if (!deps) {
        const depDir = path.join(work, 'deps')
        fs.mkdirSync(depDir)
        deps = Object.keys(pkg.dependencies).map((d) => path.join(depDir, packJson(path.join(root, 'node_modules', d), ['--pack-destination', depDir]).filename))
      }
      return deps
    }
    const { install, netns, localDeps } = makeInstaller(work, depTarballs)
    if (!netns) log('unshare -n is not available here: installs run without a network namespace (still --offline, LIBCOAP_SOURCE set)')
    const bin = bareBin(work)
    const installed = (dir) => path.join(dir, 'node_modules', 'libcoap')

    const paths = [
      ['1 prebuilt binary, no build tools', () => {
        const dir = project(work, 'prebuilt')
        const r = install(dir, tarball, cleanEnv({ PATH: bin }), LIMITS.install)
        must(r.ok, `npm install failed (${r.why}):\n${tail(r.out)}`)
        must(!fs.existsSync(path.join(installed(dir), 'build')), 'the install created build/: the prebuilt binary was not used')
        loadAndRequest(dir)
      }],
      ['2 source build (node-gyp)', () => {
        const dir = project(work, 'source')
        // JOBS: node-gyp compiles the addon's files in parallel (the user's default is one at a time).
        const r = install(dir, bareTarball, cleanEnv({ LIBCOAP_SOURCE: source, JOBS: 'max' }), LIMITS.sourceInstall)
        must(r.ok, `npm install failed (${r.why}):\n${tail(r.out)}`)
        must(fs.existsSync(path.join(installed(dir), 'build', 'Release', 'libcoap.node')), 'no build/Release/libcoap.node after the install')
        must(fs.existsSync(path.join(installed(dir), 'build', 'config.gypi')), 'build/ was not made by node-gyp (no build/config.gypi)')
        loadAndRequest(dir)
      }],
      ['2b GnuTLS source build (LIBCOAP_DTLS)', () => {
        // The prebuilt binaries use Node's OpenSSL: asking for GnuTLS builds from source even
        // though one matches.
        const dir = project(work, 'gnutls')
        const r = install(dir, tarball, cleanEnv({ LIBCOAP_SOURCE: source, LIBCOAP_DTLS: 'gnutls', JOBS: 'max' }), LIMITS.sourceInstall)
        must(r.ok, `npm install failed (${r.why}):\n${tail(r.out)}`)
        must(fs.existsSync(path.join(installed(dir), 'build', 'Release', 'libcoap.node')), 'no build/Release/libcoap.node after the install')
        loadAndRequest(dir, 'gnutls')
      }],
      ['3 no prebuilt binary, no build tools', () => {
        const dir = project(work, 'neither')
        const r = install(dir, bareTarball, cleanEnv({ PATH: bin, LIBCOAP_SOURCE: source }), LIMITS.install)
        must(!r.ok, 'npm install succeeded without a prebuilt binary or build tools')
        const expect = [
          [target, 'the platform'],
          [`no prebuilt binary for ${target}`, 'that no prebuilt binary matched'],
          ['building from source with node-gyp', 'the source build it tried'],
          ['not found on PATH: cmake, a C compiler, a C++ compiler, make', 'why the source build failed'],
          ['install cmake, a C/C++ compiler', 'what to install'],
        ]
        const absent = expect.filter(([s]) => !r.out.includes(s)).map(([, what]) => what)
        must(absent.length === 0, `npm's output does not name ${absent.join(', ')}:\n${tail(r.out)}`)
      }],
    ]
    for (const [name, fn] of paths) {
      const start = Date.now()
      try {
        fn()
        results.push({ name, ok: true, secs: (Date.now() - start) / 1000 })
      } catch (err) {
        if (!(err instanceof Failure)) throw err
        results.push({ name, ok: false, why: err.message, secs: (Date.now() - start) / 1000 })
      }
    }
    if (localDeps()) log('node-gyp-build and node-addon-api were not resolvable from the npm cache: installed from packs of node_modules/')
    log(`network during installs: ${netns ? `none (unshare ${netns.join(' ')})` : 'not isolated (unshare unavailable)'}`)
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
  for (const r of results) {
    const secs = r.secs === undefined ? '' : `${r.secs.toFixed(1).padStart(6)} s`
    log(`  ${r.ok ? 'pass' : 'FAIL'}  ${r.name.padEnd(36)} ${secs}${r.ok ? '' : `\n      ${r.why}`}`)
  }
  log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  return results.every((r) => r.ok)
}

try {
  process.exitCode = main() ? 0 : 1
} catch (err) {
  process.stderr.write(`test:install: ${err.message}\n`)
  process.exitCode = 1
}
