// Multicast (RFC 7252 §8) on a LAN of network namespaces this test makes itself (see
// helpers/netns.ts): host 0 runs the clients, host 1 our server (leisure 1 s), host 2 libcoap's
// coap-server (leisure 5 s, its default). Nothing leaves the namespaces.
import path from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseLinkFormat } from '../dist/index.js'
import { COAP_CLIENT, COAP_SERVER } from './helpers/peers'
import { createNetnsLan, netnsSupport, type NetnsLan } from './helpers/netns'

const FIXTURES = path.join(__dirname, 'fixtures')
const OURS = '198.18.0.2:5683'
const THEIRS = '198.18.0.3:5683'

interface Answer { remote: string; code: string; type: string; text: string; at: number }

let lan: NetnsLan

/** Resolves once the process printed `ready` (bounded), rejects if it exits first. */
function ready(child: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`${what} not ready within 10 s: ${out}`)), 10_000)
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (out.includes('ready')) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${what} exited ${code}: ${out}`))
    })
  })
}

async function ourClient(url: string, ifname: string, timeout: number): Promise<{ answers: Answer[]; ms: number }> {
  const r = await lan.run(0, process.execPath, [path.join(FIXTURES, 'multicast-client.js'), url, ifname, String(timeout)], { timeoutMs: timeout + 10_000 })
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  return JSON.parse(r.stdout)
}

beforeAll(async () => {
  const support = await netnsSupport('lan')
  // Never skipped: a machine that cannot make namespaces fails this file with the reason.
  if (!support.ok) throw new Error(`multicast tests need network namespaces: ${support.reason}`)
  lan = await createNetnsLan(3)
  const ours = lan.spawn(1, process.execPath, [path.join(FIXTURES, 'multicast-server.js'), 'ours', 'eth0', '1', '224.0.1.187', 'ff02::fd'], { stdin: true })
  await ready(ours, 'our multicast server')
  lan.spawn(2, COAP_SERVER, ['-g', '224.0.1.187', '-G', 'eth0'])
}, 30_000)

afterAll(async () => {
  await lan?.close()
})

describe('multicast', () => {
  it('our client collects /.well-known/core from our server and coap-server, each NON from its own address', async () => {
    const { answers, ms } = await ourClient('coap://224.0.1.187/.well-known/core', '-', 6500)
    const byRemote = new Map(answers.map((a) => [a.remote, a]))
    expect([...byRemote.keys()].sort()).toEqual([OURS, THEIRS])
    for (const a of answers) {
      expect(a.code).toBe('2.05')
      expect(a.type).toBe('NON')
    }
    expect(parseLinkFormat(byRemote.get(OURS)!.text).map((l) => l.href)).toContain('/name')
    expect(parseLinkFormat(byRemote.get(THEIRS)!.text).map((l) => l.href)).toContain('/time')
    // Our server's leisure is 1 s; the iteration ends at the timeout, not before.
    expect(byRemote.get(OURS)!.at).toBeLessThan(2000)
    expect(ms).toBeGreaterThanOrEqual(6400)
  }, 20_000)

  it('a group request is answered NON by our handler; a 4.04 to a group request is suppressed', async () => {
    const named = await ourClient('coap://224.0.1.187/name', '-', 2500)
    expect(named.answers.map((a) => [a.remote, a.code, a.type, a.text])).toEqual([[OURS, '2.05', 'NON', 'ours NON']])
    const missing = await ourClient('coap://224.0.1.187/no-such-resource', '-', 2500)
    expect(missing.answers).toEqual([])
  }, 20_000)

  it('IPv6: ff02::fd on eth0 reaches our server, which answers from its link-local address', async () => {
    const { answers } = await ourClient('coap://[ff02::fd]/name', 'eth0', 2500)
    expect(answers).toHaveLength(1)
    expect(answers[0]!.remote).toMatch(/^\[fe80::[0-9a-f:]+%eth0\]:5683$/)
    expect(answers[0]!.text).toBe('ours NON')
  }, 20_000)

  it("libcoap's coap-client multicasts a NON GET and gets our server's answer", async () => {
    const r = await lan.run(0, COAP_CLIENT, ['-N', '-m', 'get', '-B', '3', 'coap://224.0.1.187/name'], { timeoutMs: 10_000 })
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe('ours NON')
  }, 20_000)
})
