// Resource discovery (RFC 6690): libcoap answers /.well-known/core from our resources and their
// attributes; client.discover() and parseLinkFormat() read it.
import { afterEach, describe, expect, it } from 'vitest'
import { CoapBadResponseError, CoapClient, CoapServer, parseLinkFormat } from '../dist/index.js'
import { coapClient, startCoapServer } from './helpers/peers'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function server(): Promise<string> {
  const s = new CoapServer({ listen: 'coap://127.0.0.1:0' })
  cleanups.push(() => s.close())
  s.resource('/sensors/temp', { rt: 'temperature-c', if: 'sensor', ct: 0, sz: 8, observable: true, title: 'Room "A"' }).get(() => '21')
  s.resource('/alarm', { rt: 'alarm', ct: [0, 50] }).get(() => 'OFF')
  const [ep] = await s.listen()
  return `coap://127.0.0.1:${ep.port}`
}

describe('discovery', () => {
  it('lists every resource with rt, if, ct, sz, title and obs; discover() parses it', async () => {
    const base = await server()
    const client = new CoapClient({ timeout: 5000 })
    cleanups.push(() => client.close())
    const links = await client.discover(base)
    const temp = links.find((l) => l.href === '/sensors/temp')
    expect(temp).toEqual({ href: '/sensors/temp', rt: 'temperature-c', if: 'sensor', ct: '0', sz: 8, title: 'Room "A"', obs: true })
    expect(links.find((l) => l.href === '/alarm')).toEqual({ href: '/alarm', rt: 'alarm', ct: '0 50' })
  })

  it('filters by query as libcoap does (?rt=alarm)', async () => {
    const base = await server()
    const client = new CoapClient({ timeout: 5000 })
    cleanups.push(() => client.close())
    expect((await client.discover(`${base}?rt=alarm`)).map((l) => l.href)).toEqual(['/alarm'])
    expect(await client.discover(`${base}?rt=nothing-like-this`)).toEqual([])
  })

  it('coap-client reads our /.well-known/core; discover() reads coap-server\'s', async () => {
    const base = await server()
    const res = await coapClient(['-B', '3', '-o', '-', `${base}/.well-known/core`])
    expect(parseLinkFormat(res.stdout.trim()).map((l) => l.href).sort()).toEqual(['/alarm', '/sensors/temp'])
    const peer = await startCoapServer()
    cleanups.push(() => peer.stop())
    const client = new CoapClient({ timeout: 5000 })
    cleanups.push(() => client.close())
    const links = await client.discover(peer.url('/'))
    expect(links.map((l) => l.href)).toEqual(expect.arrayContaining(['/', '/time', '/async', '/example_data']))
    expect(links.find((l) => l.href === '/time')?.obs).toBe(true)
  })
})

describe('parseLinkFormat', () => {
  it('parses quoted values with escapes, flags, numbers, and spaces around commas', () => {
    expect(parseLinkFormat('</a>;rt="x y";obs, </b/c>;sz=12;title="say \\"hi\\"";ct=40')).toEqual([
      { href: '/a', rt: 'x y', obs: true },
      { href: '/b/c', sz: 12, title: 'say "hi"', ct: '40' },
    ])
    expect(parseLinkFormat('')).toEqual([])
  })

  it.each([
    ['no angle bracket', '/a;rt=x'],
    ['unterminated target', '</a;rt=x'],
    ['unterminated quote', '</a>;rt="x'],
    ['garbage between links', '</a> </b>'],
  ])('rejects %s with a CoapBadResponseError (ERR_COAP_BAD_RESPONSE)', (_name, text) => {
    expect(() => parseLinkFormat(text)).toThrow(CoapBadResponseError)
    expect(() => parseLinkFormat(text)).toThrow(expect.objectContaining({ code: 'ERR_COAP_BAD_RESPONSE' }))
  })

  it('rejects a non-string with a TypeError', () => {
    expect(() => parseLinkFormat(42 as unknown as string)).toThrow(TypeError)
  })
})
