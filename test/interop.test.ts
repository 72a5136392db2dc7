// Interop with libcoap's own example programs over UDP on loopback:
//   (a) our CoapClient → coap-server
//   (b) coap-client → our CoapServer
import { afterEach, describe, expect, it } from 'vitest'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { CoapClient, CoapServer } from '../dist/index.js'
import type { CoapRequest } from '../dist/index.js'
import { coapClient, startCoapServer, COAP_SERVER_BANNER } from './helpers/peers'
import { expectSameBytes, pattern, sleep } from './helpers/bytes'

// libcoap's PDU dumps at -v 7 ("v:1 t:CON c:GET i:1234 {token} [ options ] :: payload").
function pduLines(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.startsWith('v:1 '))
}


const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

function newClient(): CoapClient {
  const client = new CoapClient({ timeout: 10_000 })
  cleanups.push(() => client.close())
  return client
}

function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libcoap-interop-'))
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

describe('our client → libcoap coap-server', () => {
  async function peer() {
    const server = await startCoapServer()
    cleanups.push(() => server.stop())
    return server
  }

  it('GET / returns the banner as text/plain, piggybacked', async () => {
    const server = await peer()
    const res = await newClient().get(server.url('/'))
    expect(res.code).toBe('2.05')
    expect(res.ok).toBe(true)
    expect(res.type).toBe('ACK')
    expect(res.contentFormat).toBe(0)
    expect(res.text()).toMatch(COAP_SERVER_BANNER)
  })

  it('GET /time gives the time with Max-Age 1; ?ticks and FETCH "ticks" give seconds', async () => {
    const server = await peer()
    const client = newClient()
    const res = await client.get(server.url('/time'))
    expect(res.code).toBe('2.05')
    expect(res.text()).toMatch(/^[A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2}$/)
    expect(res.option('Max-Age')).toEqual([1])
    expect(res.contentFormat).toBe(0)
    const ticks = await client.get(server.url('/time?ticks'))
    expect(ticks.code).toBe('2.05')
    expect(ticks.text()).toMatch(/^\d+$/)
    const fetched = await client.fetch(server.url('/time'), 'ticks')
    expect(fetched.code).toBe('2.05')
    expect(fetched.text()).toMatch(/^\d+$/)
    expect(Math.abs(Number(fetched.text()) - Number(ticks.text()))).toBeLessThanOrEqual(2)
  })

  it('PUT then GET /example_data returns what was put, with its Content-Format', async () => {
    const server = await peer()
    const client = newClient()
    const initial = await client.get(server.url('/example_data'))
    expect(initial.code).toBe('2.05')
    expect(initial.payload.length).toBe(1500) // block-wise from coap-server (1500 > one PDU)
    expect(initial.text().startsWith('a123456789b123456789c123456789')).toBe(true)

    const put = await client.put(server.url('/example_data'), '{"from":"our client"}', { contentFormat: 'application/json' })
    expect(put.ok).toBe(true)
    expect(['2.01', '2.04']).toContain(put.code)
    const get = await client.get(server.url('/example_data'))
    expect(get.code).toBe('2.05')
    expect(get.text()).toBe('{"from":"our client"}')
    expect(get.contentFormat).toBe(50)
  })

  it('100 KiB PUT and GET of /example_data, block-wise both ways', async () => {
    const server = await peer()
    const client = newClient()
    const body = pattern(100 * 1024, 7)
    const put = await client.put(server.url('/example_data'), body, { contentFormat: 'application/octet-stream' })
    expect(put.ok).toBe(true)
    const get = await client.get(server.url('/example_data'))
    expect(get.code).toBe('2.05')
    expectSameBytes(get.payload, body, 'GET /example_data after 100 KiB PUT')
  })

  it('GET /async?1 arrives as a separate CON response after about a second', async () => {
    const server = await peer()
    const started = Date.now()
    const res = await newClient().get(server.url('/async?1'))
    const elapsed = Date.now() - started
    expect(res.code).toBe('2.05')
    expect(res.type).toBe('CON')
    expect(res.text()).toBe('done')
    expect(elapsed).toBeGreaterThanOrEqual(900)
    expect(elapsed).toBeLessThan(5000)
  })

  it('an unknown path gives 4.04', async () => {
    const server = await peer()
    const res = await newClient().get(server.url('/no-such-resource'))
    expect(res.code).toBe('4.04')
    expect(res.ok).toBe(false)
  })

  it('a NON request gets a NON response', async () => {
    const server = await peer()
    const res = await newClient().get(server.url('/'), { confirmable: false })
    expect(res.code).toBe('2.05')
    expect(res.type).toBe('NON')
    expect(res.text()).toMatch(COAP_SERVER_BANNER)
  })

  it('/.well-known/core lists the resources in link format', async () => {
    const server = await peer()
    const res = await newClient().get(server.url('/.well-known/core'))
    expect(res.code).toBe('2.05')
    expect(res.contentFormat).toBe(40)
    for (const r of ['</time>', '</async>', '</example_data>']) expect(res.text()).toContain(r)
  })
})

describe('libcoap coap-client → our server', () => {
  async function ourServer(host = '127.0.0.1') {
    // separateResponseAfter 0: the slow handler below is answered separately at once.
    const server = new CoapServer({ listen: `coap://${host.includes(':') ? `[${host}]` : host}:0`, separateResponseAfter: 0 })
    cleanups.push(() => server.close())
    const seen: CoapRequest[] = []
    const errors: unknown[] = []
    server.on('error', (err) => errors.push(err))
    let state = 'OFF'
    server
      .resource('/alarm')
      .get((req) => {
        seen.push(req)
        return state
      })
      .put((req) => {
        seen.push(req)
        state = req.text()
      })
    server.resource('/slow').get(async (req) => {
      seen.push(req)
      await sleep(300)
      return 'slow answer'
    })
    const [ep] = await server.listen()
    const hostPart = host.includes(':') ? `[${host}]` : host
    return { server, seen, errors, url: (p: string) => `coap://${hostPart}:${ep.port}${p}` }
  }

  it('GET returns the handler text', async () => {
    const { url, seen } = await ourServer()
    const res = await coapClient(['-B', '5', '-o', '-', url('/alarm')])
    expect(res.stderr).toBe('')
    expect(res.stdout).toBe('OFF')
    expect(seen).toHaveLength(1)
    expect(seen[0].method).toBe('GET')
    expect(seen[0].type).toBe('CON')
    expect(seen[0].remote.address).toBe('127.0.0.1')
  })

  it('GET over IPv6', async () => {
    const { url } = await ourServer('::1')
    const res = await coapClient(['-B', '5', '-o', '-', url('/alarm')])
    expect(res.stderr).toBe('')
    expect(res.stdout).toBe('OFF')
  })

  it('-m put -e ON, then GET returns ON', async () => {
    const { url, seen } = await ourServer()
    const put = await coapClient(['-B', '5', '-m', 'put', '-e', 'ON', url('/alarm')])
    expect(put.stderr).toBe('')
    expect(seen[0]?.method).toBe('PUT')
    expect(seen[0]?.text()).toBe('ON')
    const get = await coapClient(['-B', '5', '-o', '-', url('/alarm')])
    expect(get.stderr).toBe('')
    expect(get.stdout).toBe('ON')
  })

  it('query items from coap-client reach the handler', async () => {
    const { url, seen } = await ourServer()
    const res = await coapClient(['-B', '5', '-o', '-', url('/alarm?a=1&b=two')])
    expect(res.stdout).toBe('OFF')
    expect(seen[0]?.query).toEqual(['a=1', 'b=two'])
  })

  it('a NON request (-N) is answered with NON', async () => {
    const { url, seen } = await ourServer()
    const dir = tmpDir()
    const out = path.join(dir, 'out')
    const res = await coapClient(['-B', '5', '-N', '-v', '7', '-o', out, url('/alarm')])
    expect(res.stderr).toBe('')
    expect(fs.readFileSync(out, 'utf8')).toBe('OFF')
    expect(seen[0]?.type).toBe('NON')
    const lines = pduLines(res.stdout)
    expect(lines.some((l) => /^v:1 t:NON c:GET /.test(l))).toBe(true)
    expect(lines.some((l) => /^v:1 t:NON c:2\.05 .*:: 'OFF'$/.test(l))).toBe(true)
  })

  it('a slow async handler gives an empty ACK, then a CON response with the payload', async () => {
    const { url } = await ourServer()
    const dir = tmpDir()
    const out = path.join(dir, 'out')
    const res = await coapClient(['-B', '5', '-v', '7', '-o', out, url('/slow')])
    expect(res.stderr).toBe('')
    expect(fs.readFileSync(out, 'utf8')).toBe('slow answer')
    const lines = pduLines(res.stdout)
    const emptyAck = lines.findIndex((l) => /^v:1 t:ACK c:0\.00 /.test(l))
    const separate = lines.findIndex((l) => /^v:1 t:CON c:2\.05 .*:: 'slow answer'$/.test(l))
    expect(emptyAck, lines.join('\n')).toBeGreaterThanOrEqual(0)
    expect(separate, lines.join('\n')).toBeGreaterThan(emptyAck)
  })

  it('an unknown path gives 4.04', async () => {
    const { url } = await ourServer()
    const res = await coapClient(['-B', '5', url('/nothing-here')])
    expect(res.stderr).toContain('4.04')
    expect(res.stdout).toBe('')
  })

  it('a method without a handler gives 4.05', async () => {
    const { url, seen } = await ourServer()
    const res = await coapClient(['-B', '5', '-m', 'delete', url('/alarm')])
    expect(res.stderr).toContain('4.05')
    const post = await coapClient(['-B', '5', '-m', 'post', '-e', 'x', url('/slow')])
    expect(post.stderr).toContain('4.05')
    expect(seen).toHaveLength(0)
  })

  it('a 100 KiB GET is transferred block-wise (-b 512) byte for byte', async () => {
    const { server, url } = await ourServer()
    const body = pattern(100 * 1024, 11)
    server.resource('/big').get(() => body)
    const dir = tmpDir()
    const out = path.join(dir, 'big.out')
    const res = await coapClient(['-B', '10', '-b', '512', '-v', '7', '-o', out, url('/big')], { timeoutMs: 20_000 })
    expect(res.stderr).toBe('')
    expectSameBytes(fs.readFileSync(out), body, 'coap-client GET /big')
    // Every 512-byte block 0..199 came back in a 2.05.
    const blocks = new Set<number>()
    for (const l of pduLines(res.stdout)) {
      const m = /^v:1 t:ACK c:2\.05 .*Block2:(\d+)\/[M_]\/512/.exec(l)
      if (m) blocks.add(Number(m[1]))
    }
    expect(blocks.size).toBe(200)
    expect(Math.max(...blocks)).toBe(199)
  })

  it('a 100 KiB PUT with -f file arrives whole (Block1)', async () => {
    const { server, url } = await ourServer()
    const body = pattern(100 * 1024, 13)
    let got: Buffer | undefined
    server.resource('/upload').put((req) => {
      got = Buffer.from(req.payload)
    })
    const dir = tmpDir()
    const file = path.join(dir, 'upload.bin')
    fs.writeFileSync(file, body)
    const res = await coapClient(['-B', '10', '-m', 'put', '-v', '7', '-f', file, url('/upload')], { timeoutMs: 20_000 })
    expect(res.stderr).toBe('')
    expectSameBytes(got, body, 'our server received')
    const lines = pduLines(res.stdout)
    expect(lines.some((l) => /^v:1 t:CON c:PUT .*Block1:0\/M\//.test(l))).toBe(true)
    expect(lines.some((l) => /^v:1 t:ACK c:2\.31 /.test(l))).toBe(true)
    expect(lines.some((l) => /^v:1 t:ACK c:2\.04 /.test(l))).toBe(true)
  })

  it('a JSON POST (-t 50) is parsed by the handler, and the JSON answer carries Content-Format 50', async () => {
    const { server, url } = await ourServer()
    let format: number | undefined
    server.resource('/json').post((req) => {
      format = req.contentFormat
      const body = req.json() as { n: number }
      return { payload: JSON.stringify({ doubled: body.n * 2 }), contentFormat: 'application/json' }
    })
    const dir = tmpDir()
    const out = path.join(dir, 'out')
    const res = await coapClient(['-B', '5', '-m', 'post', '-t', '50', '-e', '{"n":21}', '-v', '7', '-o', out, url('/json')])
    expect(res.stderr).toBe('')
    expect(format).toBe(50)
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual({ doubled: 42 })
    expect(pduLines(res.stdout).some((l) => /^v:1 t:ACK c:2\.01 .*Content-Format:application\/json/.test(l))).toBe(true)
  })
})
