// reusePort (SO_REUSEPORT, deps/patches/0010): several servers on one UDP port, peers spread
// over them by the kernel, each peer always reaching the same one.
import { afterEach, describe, expect, it } from 'vitest'
import { CoapClient, CoapServer } from '../dist/index.js'
import { freePort } from './helpers/peers'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

describe('reusePort', () => {
  it('two servers share a port; 40 clients reach both, each client always the same one', async () => {
    const port = await freePort('udp')
    for (const name of ['A', 'B']) {
      const s = new CoapServer({ listen: `coap://127.0.0.1:${port}`, reusePort: true })
      cleanups.push(() => s.close())
      s.resource('/who').get(() => name)
      await s.listen()
    }
    const seen = new Map<string, number>()
    for (let i = 0; i < 40; i++) {
      const client = new CoapClient({ timeout: 3000 })
      cleanups.push(() => client.close())
      const first = (await client.get(`coap://127.0.0.1:${port}/who`)).text()
      for (let j = 0; j < 3; j++) expect((await client.get(`coap://127.0.0.1:${port}/who`)).text()).toBe(first)
      seen.set(first, (seen.get(first) ?? 0) + 1)
    }
    // 40 source ports hashed over two sockets: both get some (all on one: about 1 in 2^39).
    expect(seen.get('A')).toBeGreaterThan(0)
    expect(seen.get('B')).toBeGreaterThan(0)
  })

  it('is validated', () => {
    expect(() => new CoapServer({ reusePort: 'yes' as never })).toThrow(TypeError)
  })
})
