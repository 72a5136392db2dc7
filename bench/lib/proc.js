// Child processes for the benchmarks: start, wait for "ready", read CPU time and RSS from /proc.
'use strict'
const { spawn } = require('node:child_process')
const dgram = require('node:dgram')
const fs = require('node:fs')
const net = require('node:net')

const TICKS = 100 // USER_HZ on Linux

/** Starts `file args`, resolves once stdout printed "ready <port>" (bounded), with the port. */
function start(file, args, { env, timeoutMs = 15_000 } = {}) {
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let out = ''
  let err = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${file} not ready within ${timeoutMs} ms: ${out}${err}`))
    }, timeoutMs)
    child.stderr.setEncoding('utf8').on('data', (d) => { err += d })
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d
      const m = /ready (\d+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve({ child, port: Number(m[1]), output: out, stop: () => stop(child) })
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${file} exited ${code} before it was ready: ${out}${err}`))
    })
  })
}

/** A port free right now on 127.0.0.1 for UDP and TCP alike (servers listen on both). */
async function freePort() {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise((resolve, reject) => {
      const s = dgram.createSocket('udp4')
      s.once('error', reject)
      s.bind(0, '127.0.0.1', () => {
        const { port: p } = s.address()
        s.close(() => resolve(p))
      })
    })
    const tcpFree = await new Promise((resolve) => {
      const t = net.createServer()
      t.once('error', () => resolve(false))
      t.listen(port, '127.0.0.1', () => t.close(() => resolve(true)))
    })
    if (tcpFree) return port
  }
  throw new Error('no port free for both UDP and TCP after 20 attempts')
}

/** Resolves once a CoAP ping (empty CON) to the port is answered (RST), within `ms`. */
function pingable(port, ms) {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4')
    const ping = Buffer.from([0x40, 0x00, 0x12, 0x34])
    const timer = setInterval(() => s.send(ping, port, '127.0.0.1'), 100)
    const give = setTimeout(() => done(new Error(`nothing answers on port ${port} within ${ms} ms`)), ms)
    const done = (err) => {
      clearInterval(timer)
      clearTimeout(give)
      s.close()
      if (err) reject(err)
      else resolve()
    }
    s.on('message', () => done())
    s.on('error', () => undefined) // ICMP port unreachable until the server binds
    s.send(ping, port, '127.0.0.1')
  })
}

/** Starts a server that prints nothing when ready (libcoap's coap-server): `argv(port)`. */
async function startOnFreePort(file, argv) {
  const port = await freePort()
  const child = spawn(file, argv(port), { stdio: ['pipe', 'ignore', 'pipe'] })
  try {
    await pingable(port, 10_000)
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
  return { child, port, stop: () => stop(child) }
}

/** Ends a child: stdin closed, then SIGTERM, then SIGKILL (bounded). */
function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 2000)
    child.once('exit', () => {
      clearTimeout(kill)
      resolve()
    })
    child.stdin.end()
    child.kill('SIGTERM')
  })
}

/** Runs `file args` to completion (bounded); resolves with stdout, rejects on failure. */
function run(file, args, { timeoutMs = 120_000, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d })
    child.stderr.setEncoding('utf8').on('data', (d) => { err += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else reject(new Error(`${file} ${args.join(' ')} failed (${code ?? signal}): ${err || out}`))
    })
  })
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICKS
}

/** Resident set size of a process in bytes. */
function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : 0
}

module.exports = { start, startOnFreePort, freePort, stop, run, cpuSeconds, rssBytes }
