#!/usr/bin/env node
'use strict'
// `npm run test:asan`: builds libcoap and the addon with AddressSanitizer + UndefinedBehaviorSanitizer
// (gcc) into build-asan/, then runs the vitest suite against it with the sanitizer runtimes
// preloaded into node. Leak checking is off: node itself is not built for it. The RSS tests are
// skipped here (sanitizer memory makes them meaningless); everything else must pass with no report.
const { execFileSync, spawnSync } = require('node:child_process')
const path = require('node:path')
const { fetchLibcoap } = require('./fetch.js')

async function main() {
  const root = path.join(__dirname, '..')
  const out = path.join(root, 'build-asan')
  const src = await fetchLibcoap()
  const flags = '-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined'
  const run = (cmd, args, env) => {
    const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status})`)
  }
  run('cmake', ['-S', root, '-B', out, '-DCMAKE_BUILD_TYPE=Debug', `-DCMAKE_C_FLAGS=${flags}`, `-DCMAKE_CXX_FLAGS=${flags}`,
    `-DLIBCOAP_SOURCE_DIR=${src}`, `-DNODE_INCLUDE_DIR=${path.resolve(process.execPath, '../../include/node')}`])
  run('cmake', ['--build', out, '--target', 'coap_addon', '-j2'])
  const lib = (name) => execFileSync('gcc', [`-print-file-name=${name}`], { encoding: 'utf8' }).trim()
  const vitest = require.resolve('vitest/vitest.mjs')
  run(process.execPath, [vitest, 'run', '-t', '^(?!.*RSS flat)', ...process.argv.slice(2)], {
    LIBCOAP_ADDON: path.join(out, 'Release', 'libcoap.node'),
    LD_PRELOAD: `${lib('libasan.so')}:${lib('libubsan.so')}`,
    ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1',
    UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
  })
}

main().catch((err) => {
  process.stderr.write(`test:asan: ${err.message}\n`)
  process.exit(1)
})
