// The native fast path: resource.setRepresentation() answers GET without entering JS.
import { afterEach, describe, expect, it } from 'vitest'
import { CoapClient, CoapServer } from '../dist/index.js'
import { native } from '../dist/native.js'
import { expectSameBytes, pattern } from './helpers/bytes'
import { coapClient } from './helpers/peers'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
  expect(native.heldBuffers()).toBe(0)
})

async function setup(): Promise<{ server: CoapServer; client: CoapClient; url: (p: string) => string; port: number }> {
  const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
  cleanups.push(() => server.close())
  const [ep] = await server.listen()
  const client = new CoapClient({ timeout: 5000 })
  cleanups.push(() => client.close())
  return { server, client, url: (p) => `coap://127.0.0.1:${ep.port}${p}`, port: ep.port }
}

describe('setRepresentation()', () => {
  it('answers GET with the stored body, code and options, without calling into JS', async () => {
    const { server, client, url } = await setup()
    let calls = 0
    server.on('error', () => calls++)
    const r = server.resource('/fw').setRepresentation({ payload: '{"v":1}', contentFormat: 'application/json', options: { 'Max-Age': 30 } })
    r.put(() => {
      calls++
    })
    for (let i = 0; i < 20; i++) {
      const res = await client.get(url('/fw'))
      expect(res.code).toBe('2.05')
      expect(res.text()).toBe('{"v":1}')
      expect(res.contentFormat).toBe(50)
      expect(res.option('Max-Age')).toEqual([30])
    }
    expect(calls).toBe(0)
  })

  it('a representation with an ETag answers a GET carrying it with 2.03 and no body', async () => {
    const { server, client, url } = await setup()
    server.resource('/doc').setRepresentation({ payload: 'contents', options: { ETag: Buffer.from([1, 2, 3]) } })
    const full = await client.get(url('/doc'))
    expect(full.code).toBe('2.05')
    expect(full.option('ETag')).toEqual([Buffer.from([1, 2, 3])])
    const valid = await client.get(url('/doc'), { options: { ETag: [Buffer.from([9]), Buffer.from([1, 2, 3])] } })
    expect(valid.code).toBe('2.03')
    expect(valid.payload.length).toBe(0)
    expect(valid.option('ETag')).toEqual([Buffer.from([1, 2, 3])])
    expect((await client.get(url('/doc'), { options: { ETag: Buffer.from([7]) } })).code).toBe('2.05')
  })

  it('is replaced by the next call (observers are notified) and by a GET handler', async () => {
    const { server, client, url } = await setup()
    const r = server.resource('/state', { observable: true }).setRepresentation('one')
    const seen: string[] = []
    for await (const n of client.observe(url('/state'))) {
      seen.push(n.text())
      if (seen.length === 1) r.setRepresentation('two')
      else if (seen.length === 2) r.setRepresentation({ payload: 'three', code: '2.05' })
      else break
    }
    expect(seen).toEqual(['one', 'two', 'three'])
    r.get(() => 'from the handler')
    expect((await client.get(url('/state'))).text()).toBe('from the handler')
    r.setRepresentation('four')
    expect((await client.get(url('/state'))).text()).toBe('four')
  })

  it('serves a 200 KiB body block-wise; a transfer in progress keeps the body it started with', async () => {
    const { server, client, url } = await setup()
    const first = pattern(200 * 1024, 1)
    const r = server.resource('/big').setRepresentation(first)
    let replaced = false
    const res = await client.get(url('/big'), {
      onProgress: ({ bytes }) => {
        if (!replaced && bytes > 50_000) {
          replaced = true
          r.setRepresentation(pattern(150 * 1024, 2))
        }
      },
    })
    expect(replaced).toBe(true)
    expectSameBytes(res.payload, first, 'the transfer in progress')
    expectSameBytes((await client.get(url('/big'))).payload, pattern(150 * 1024, 2), 'the replacement')
  })

  it('set before the server listens; libcoap coap-client reads it', async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    server.resource('/early').setRepresentation('ready')
    const [ep] = await server.listen()
    const out = await coapClient(['-m', 'get', `coap://127.0.0.1:${ep.port}/early`])
    expect(out.stdout.trim()).toBe('ready')
  })

  it('bad values throw at the call', async () => {
    const { server } = await setup()
    const r = server.resource('/x')
    expect(() => r.setRepresentation(42 as never)).toThrow(TypeError)
    expect(() => r.setRepresentation({ code: '0.01' })).toThrow(RangeError)
    expect(() => r.setRepresentation({ payload: {} as never })).toThrow(TypeError)
  })
})
