// diagnostics_channel channels and the libcoap log hook, with real traffic on loopback.
import { afterEach, describe, expect, it } from 'vitest'
import diagnosticsChannel from 'node:diagnostics_channel'
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'
import { CoapClient, CoapServer, channels, onLog, setLogLevel } from '../dist/index.js'
import type { LogLevelName } from '../dist/index.js'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

// Session details are snapshot when published: a released session no longer knows its side.
function subscribe(name: string, into: unknown[]): void {
  const fn = (message: any): void => void into.push(message.session ? { ...message, side: message.session.side } : message)
  diagnosticsChannel.subscribe(name, fn)
  cleanups.push(() => diagnosticsChannel.unsubscribe(name, fn))
}

async function server(listen: string[], psk = false): Promise<{ server: CoapServer; ports: number[] }> {
  const s = new CoapServer({ listen, ...(psk ? { psk: { key: 'secret-key' } } : {}) })
  cleanups.push(() => s.close())
  s.resource('/hello').get(() => 'hi')
  const eps = await s.listen()
  return { server: s, ports: eps.map((e) => e.port) }
}

function client(options?: ConstructorParameters<typeof CoapClient>[0]): CoapClient {
  const c = new CoapClient(options)
  cleanups.push(() => c.close())
  return c
}

const waitUntil = async (cond: () => boolean, ms = 2000): Promise<void> => {
  for (const end = Date.now() + ms; !cond() && Date.now() < end;) await new Promise((r) => setTimeout(r, 10))
}

describe('diagnostics_channel', () => {
  it('names the channels like undici does', () => {
    expect(Object.values(channels).map((c) => c.name).sort()).toEqual([
      'libcoap:request:create', 'libcoap:request:error', 'libcoap:request:response',
      'libcoap:session:close', 'libcoap:session:create', 'libcoap:session:handshake',
    ])
  })

  it('publishes create then response with the same request object, for 2.xx and 4.xx', async () => {
    const created: any[] = []
    const answered: any[] = []
    subscribe('libcoap:request:create', created)
    subscribe('libcoap:request:response', answered)
    const { ports: [port] } = await server(['coap://127.0.0.1:0'])
    const c = client()
    await c.put(`coap://127.0.0.1:${port}/hello`, 'abc', { confirmable: false, timeout: 500 }).catch(() => undefined)
    await c.get(`coap://127.0.0.1:${port}/hello`)
    await c.get(`coap://127.0.0.1:${port}/missing`)
    expect(created.map((m) => [m.request.method, m.request.url, m.request.confirmable, m.request.payloadLength])).toEqual([
      ['PUT', `coap://127.0.0.1:${port}/hello`, false, 3],
      ['GET', `coap://127.0.0.1:${port}/hello`, true, 0],
      ['GET', `coap://127.0.0.1:${port}/missing`, true, 0],
    ])
    // The NON PUT is answered 4.05 (no PUT handler) as NON.
    expect(answered.map((m) => m.response.code)).toEqual(['4.05', '2.05', '4.04'])
    expect(answered.map((m) => m.request)).toEqual(created.map((m) => m.request))
    expect(answered[1].request).toBe(created[1].request)
  })

  it('publishes error with the CoapError of a failed request', async () => {
    const failed: any[] = []
    subscribe('libcoap:request:error', failed)
    const c = client({ timeout: 300 })
    const silent = await import('node:dgram').then((d) => d.createSocket('udp4'))
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()))
    cleanups.push(() => silent.close())
    const url = `coap://127.0.0.1:${silent.address().port}/x`
    await expect(c.get(url)).rejects.toMatchObject({ code: 'ERR_COAP_TIMEOUT' })
    // Refused before a session exists: still a request that was created and failed.
    await expect(c.get('coap://127.0.0.1:0/x')).rejects.toThrow(RangeError)
    expect(failed.map((m) => [m.request.url, m.error.code ?? m.error.name])).toEqual([[url, 'ERR_COAP_TIMEOUT'], ['coap://127.0.0.1:0/x', 'RangeError']])
  })

  it('publishes session create, handshake and close on both sides of DTLS, and a failed handshake', async () => {
    const created: any[] = []
    const handshakes: any[] = []
    const closed: any[] = []
    subscribe('libcoap:session:create', created)
    subscribe('libcoap:session:handshake', handshakes)
    subscribe('libcoap:session:close', closed)
    const { server: srv, ports: [port] } = await server(['coaps://127.0.0.1:0'], true)
    const good = client({ psk: { identity: 'me', key: 'secret-key' } })
    expect((await good.get(`coaps://127.0.0.1:${port}/hello`)).text()).toBe('hi')
    await waitUntil(() => handshakes.length >= 2)
    expect(created.map((m) => m.side).sort()).toEqual(['client', 'server'])
    expect(handshakes.map((m) => [m.side, m.error])).toEqual(expect.arrayContaining([['client', undefined], ['server', undefined]]))
    expect(handshakes).toHaveLength(2)

    const bad = client({ psk: { identity: 'me', key: 'wrong-key' }, timeout: 1500 })
    await expect(bad.get(`coaps://127.0.0.1:${port}/hello`)).rejects.toMatchObject({ code: 'ERR_COAP_DTLS_HANDSHAKE' })
    const failure = handshakes.find((m) => m.error !== undefined && m.side === 'client')
    expect(failure?.error.code).toBe('ERR_COAP_DTLS_HANDSHAKE')

    await good.close()
    await bad.close()
    expect(closed.filter((m) => m.side === 'client')).toHaveLength(2)
    await srv.close()
    // Every server session announced is closed too, also those freed with the server.
    expect(closed.filter((m) => m.side === 'server').length).toBe(created.filter((m) => m.side === 'server').length)
  })
})

describe('onLog', () => {
  afterEach(() => {
    onLog(null)
    setLogLevel('err')
  })

  it('gets libcoap lines at the level set, outside libcoap, and stops on null', async () => {
    const lines: Array<[LogLevelName, string]> = []
    let reentered = 0
    const c = client()
    setLogLevel('debug')
    onLog((level, message) => {
      lines.push([level, message])
      // Calling into the package from the hook is safe: it never runs inside libcoap.
      if (lines.length === 1) reentered = c.context.closed ? -1 : 1
    })
    const { ports: [port] } = await server(['coap://127.0.0.1:0'])
    await c.get(`coap://127.0.0.1:${port}/hello`)
    await waitUntil(() => lines.some(([, m]) => m.includes('2.05')))
    expect(reentered).toBe(1)
    expect(lines.every(([level]) => ['emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug'].includes(level))).toBe(true)
    // Packet dumps reach the hook too, one line each, without trailing newlines.
    expect(lines.some(([, m]) => /^v:1 t:CON c:GET .*Uri-Path:hello/.test(m))).toBe(true)
    expect(lines.some(([, m]) => /^v:1 t:ACK c:2\.05 .*'hi'$/.test(m))).toBe(true)
    expect(lines.every(([, m]) => !m.endsWith('\n'))).toBe(true)

    onLog(null)
    await new Promise((r) => setTimeout(r, 20))
    const before = lines.length
    await c.get(`coap://127.0.0.1:${port}/hello`)
    await new Promise((r) => setTimeout(r, 50))
    expect(lines.length).toBe(before)
  })

  it('at the default level gets nothing from a good exchange', async () => {
    const lines: string[] = []
    onLog((_, m) => lines.push(m))
    const { ports: [port] } = await server(['coap://127.0.0.1:0'])
    await client().get(`coap://127.0.0.1:${port}/hello`)
    await new Promise((r) => setTimeout(r, 50))
    expect(lines).toEqual([])
  })

  it('rejects what is not a function or null', () => {
    expect(() => onLog('console' as never)).toThrow(TypeError)
    expect(() => onLog(undefined as never)).toThrow(/handler must be a function or null, got undefined/)
  })

  it('does not keep Node alive, and a throwing hook fails like a throwing listener', () => {
    const dist = path.resolve(__dirname, '../dist/index.js')
    const idle = spawnSync(process.execPath, ['-e', `
      const l = require(${JSON.stringify(dist)}); l.setLogLevel('debug'); l.onLog(() => {})
      const c = new l.CoapClient(); c.ping('coap://127.0.0.1:9', { timeout: 200 }).catch(() => console.log('done'))`], { timeout: 10_000, encoding: 'utf8' })
    expect(idle.status).toBe(0)
    expect(idle.stdout).toContain('done')
    const throwing = spawnSync(process.execPath, ['-e', `
      const l = require(${JSON.stringify(dist)}); l.setLogLevel('debug'); l.onLog(() => { throw new Error('hook bug') })
      const c = new l.CoapClient(); c.ping('coap://127.0.0.1:9', { timeout: 200 }).catch(() => {})`], { timeout: 10_000, encoding: 'utf8' })
    expect(throwing.status).not.toBe(0)
    expect(throwing.signal).toBeNull()
    expect(throwing.stderr).toContain('hook bug')
  })
})
