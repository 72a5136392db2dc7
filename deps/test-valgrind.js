#!/usr/bin/env node
'use strict'
// `npm run test:valgrind [-- test/x.test.ts ...]`: runs vitest suites with every node process
// under valgrind memcheck (the addon as built for `npm test`), then reads each process's log:
// any memcheck error or any definitely lost block fails the run. Without arguments it runs the
// core suites below (UDP, DTLS, TCP/TLS/WebSockets, block-wise bodies). deps/valgrind.supp
// holds the suppressions (V8's own, none of ours).
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

// observe.test.ts is left out: its timing (notification intervals, crash-and-restart waits) does
// not hold at valgrind's speed.
const CORE = ['test/client-server.test.ts', 'test/dtls.test.ts', 'test/reliable.test.ts', 'test/bodies.test.ts']

function main() {
  const root = path.join(__dirname, '..')
  const files = process.argv.slice(2).length ? process.argv.slice(2) : CORE
  const logs = fs.mkdtempSync(path.join(os.tmpdir(), 'coap-valgrind-'))
  const started = Date.now()
  const r = spawnSync('valgrind', [
    '--trace-children=yes', '--trace-children-skip=*/esbuild*,*/sh,*/bash,*/coap-server,*/coap-client',
    `--suppressions=${path.join(__dirname, 'valgrind.supp')}`, '--leak-check=full', '--show-leak-kinds=definite', '--errors-for-leak-kinds=definite',
    `--log-file=${logs}/%p.log`,
    process.execPath, require.resolve('vitest/vitest.mjs'), 'run', ...files,
  ], { cwd: root, stdio: 'inherit' })
  if (r.error) throw new Error(`cannot run valgrind (${r.error.code}); install it (Debian: apt-get install valgrind)`)
  let processes = 0
  const bad = []
  for (const name of fs.readdirSync(logs)) {
    const text = fs.readFileSync(path.join(logs, name), 'utf8')
    const errors = /ERROR SUMMARY: (\d+) errors/.exec(text)
    if (errors === null) continue // a process that exec'd something else, or was killed before its summary
    processes++
    const lost = /definitely lost: ([\d,]+) bytes/.exec(text)
    if (Number(errors[1]) > 0 || (lost !== null && lost[1] !== '0')) bad.push(`${path.join(logs, name)}: ${errors[1]} errors, ${lost ? lost[1] : 0} bytes definitely lost`)
  }
  const seconds = Math.round((Date.now() - started) / 1000)
  console.log(`test:valgrind: ${processes} node processes checked in ${seconds} s (${files.join(', ')})`)
  if (bad.length) throw new Error(`memcheck reports:\n  ${bad.join('\n  ')}`)
  if (r.status !== 0) throw new Error(`vitest under valgrind failed (exit ${r.status}); memcheck itself reported nothing`)
  fs.rmSync(logs, { recursive: true, force: true })
  console.log('test:valgrind: 0 errors, 0 bytes definitely lost')
}

try {
  main()
} catch (err) {
  process.stderr.write(`test:valgrind: ${err.message}\n`)
  process.exit(1)
}
