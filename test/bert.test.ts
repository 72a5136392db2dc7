// BERT (RFC 8323 §6): over TCP, a peer that announces a small Max-Message-Size gets bodies in
// BERT blocks (multiples of 1024 bytes) rather than one message or 1 KiB blocks.
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { CoapClient, CoapServer } from '../dist/index.js'
import { pattern } from './helpers/bytes'
import { coapClient } from './helpers/peers'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function server(maxMessageSize: number): Promise<{ port: number; got: () => Buffer | undefined }> {
  const s = new CoapServer({ listen: 'coap+tcp://127.0.0.1:0', maxMessageSize })
  cleanups.push(() => s.close())
  let got: Buffer | undefined
  s.resource('/blob')
    .put((req) => {
      got = req.payload
      return { code: '2.04', payload: `got ${req.payload.length}` }
    })
    .get(() => pattern(100 * 1024, 9))
  const [ep] = await s.listen()
  return { port: ep.port, got: () => got }
}

describe('BERT over TCP', () => {
  it('coap-client uploads 100 KiB to our server (Max-Message-Size 4200) in BERT blocks of 4096', async () => {
    const { port, got } = await server(4200)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bert-'))
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
    const body = pattern(100 * 1024, 3)
    fs.writeFileSync(path.join(dir, 'body'), body)
    const res = await coapClient(['-B', '5', '-v', '7', '-m', 'put', '-f', path.join(dir, 'body'), `coap+tcp://127.0.0.1:${port}/blob`])
    expect(res.stdout).toMatch(/Max-Message-Size:4200/)
    expect(res.stdout).toMatch(/Block1:0\/M\/BERT\(4096\)/)
    expect(res.stdout).toMatch(/c:2\.04 .*'got 102400'/)
    expect(got()?.equals(body)).toBe(true)
  })

  it('our client with Max-Message-Size 4200 still receives a 100 KiB body whole, and a big server accepts one message', async () => {
    const { port, got } = await server(8 * 1024 * 1024)
    const client = new CoapClient({ maxMessageSize: 4200, timeout: 10_000 })
    cleanups.push(() => client.close())
    const res = await client.get(`coap+tcp://127.0.0.1:${port}/blob`)
    expect(res.payload.equals(pattern(100 * 1024, 9))).toBe(true)
    const up = pattern(300 * 1024, 4)
    expect((await client.put(`coap+tcp://127.0.0.1:${port}/blob`, up)).text()).toBe(`got ${up.length}`)
    expect(got()?.equals(up)).toBe(true)
  })
})
