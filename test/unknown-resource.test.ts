// libcoap's unknown resource (coap_resource_unknown_init2): one resource for every path no other
// resource has, in lib/core and in CoapServer, over real UDP on loopback.
import { afterEach, describe, expect, it } from 'vitest'
import { CoapClient, CoapServer } from '../dist/index.js'
import { Context, Resource } from '../dist/core/index.js'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

async function serve(setup: (s: CoapServer) => void): Promise<{ url: (p: string) => string; client: CoapClient }> {
  const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
  cleanups.push(() => server.close())
  setup(server)
  const [ep] = await server.listen()
  const client = new CoapClient({ timeout: 3000 })
  cleanups.push(() => client.close())
  return { url: (p) => `coap://127.0.0.1:${ep.port}${p}`, client }
}

describe('CoapServer.unknownResource()', () => {
  it('takes every path no resource has, with the request path and query; named resources and discovery go first', async () => {
    const seen: Array<[string, string, string[], string[]]> = []
    const files = new Map<string, Buffer>()
    const { url, client } = await serve((s) => {
      s.resource('/known').get(() => 'known')
      s.unknownResource()
        .get((req) => {
          seen.push([req.method, req.path, req.query, req.options.map((o) => o.name)])
          return files.get(req.path) ?? { code: '4.04' }
        })
        .put((req) => (files.set(req.path, req.payload), { code: '2.01' }))
    })
    expect((await client.get(url('/known'))).text()).toBe('known')
    expect((await client.get(url('/a/b?x=1&y'))).code).toBe('4.04')
    expect((await client.put(url('/a/b'), 'stored'))).toMatchObject({ code: '2.01' })
    expect((await client.get(url('/a/b'))).text()).toBe('stored')
    expect((await client.get(url('/'))).code).toBe('4.04')
    expect((await client.get(url('/caf%C3%A9'))).code).toBe('4.04')
    // libcoap still answers discovery itself, listing the named resources only.
    expect((await client.get(url('/.well-known/core'))).text()).toBe('</known>')
    // No DELETE handler: libcoap's rule for DELETE of an unknown resource (2.02).
    expect((await client.delete(url('/nothing'))).code).toBe('2.02')
    expect(seen.map(([m, p, q]) => [m, p, q])).toEqual([
      ['GET', '/a/b', ['x=1', 'y']], ['GET', '/a/b', []], ['GET', '/', []], ['GET', '/café', []],
    ])
    // Uri-Path is in req.path, not among the options.
    for (const [, , , names] of seen) expect(names).not.toContain('Uri-Path')
  })

  it('an observe registration there is a plain request (libcoap cannot observe it)', async () => {
    const { url, client } = await serve((s) => void s.unknownResource().get((req) => `at ${req.path}`))
    const got: string[] = []
    for await (const n of client.observe(url('/sensor'))) got.push(`${n.text()} ${n.option('Observe').length}`)
    expect(got).toEqual(['at /sensor 0'])
  })

  it('is created once; attributes only then; never observable', async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    const r = server.unknownResource({ rt: 'any' })
    expect(r.isUnknown).toBe(true)
    expect(r.path).toBe('*')
    expect(server.unknownResource()).toBe(r)
    expect(() => server.unknownResource({ title: 'x' })).toThrow(RangeError)
    expect(() => Resource.unknown({ observable: true } as never)).toThrow(/cannot be observable/)
    expect(() => new Resource('*')).toThrow(RangeError) // only through unknown()
  })
})

describe('lib/core: Resource.unknown()', () => {
  it('a Context serves it next to a named resource', async () => {
    const ctx = new Context()
    cleanups.push(() => ctx.close())
    ctx.addResource(new Resource('/named').handle('GET', () => 'named'))
    ctx.addResource(Resource.unknown().handle('GET', (req) => `unknown ${req.path}`).handle('POST', (req) => ({ code: '2.04', payload: req.text() })))
    expect(() => ctx.addResource(Resource.unknown())).toThrow(RangeError)
    const ep = ctx.addEndpoint({ proto: 'udp', host: '127.0.0.1', port: 0 })
    const client = new CoapClient({ timeout: 3000 })
    cleanups.push(() => client.close())
    const u = (p: string): string => `coap://127.0.0.1:${ep.port}${p}`
    expect((await client.get(u('/named'))).text()).toBe('named')
    expect((await client.get(u('/x/y'))).text()).toBe('unknown /x/y')
    expect((await client.post(u('/z'), 'echo'))).toMatchObject({ code: '2.04' })
    // A method it has no handler for falls through to libcoap's rule for unknown paths.
    expect((await client.put(u('/z'), 'no PUT handler')).code).toBe('4.04')
  })
})
