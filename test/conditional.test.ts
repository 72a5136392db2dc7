// Conditional requests on ServerResource (ETag → 2.03 Valid, If-Match / If-None-Match → 4.12),
// notify(value) and the notification message types of observable resources, and
// server.registerOption() for custom critical options — between our client and server and with
// libcoap's coap-client / coap-server, on loopback.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CoapClient, CoapServer } from '../dist/index.js'
import type { CoapRequest, CoapResponse, ServerResource } from '../dist/index.js'
import { sleep } from './helpers/bytes'
import { coapClient, startCoapServer } from './helpers/peers'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

function newClient(): CoapClient {
  const client = new CoapClient({ timeout: 5000 })
  cleanups.push(() => client.close())
  return client
}

async function newServer(): Promise<{ server: CoapServer; url: (p: string) => string }> {
  const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
  cleanups.push(() => server.close())
  const errors: unknown[] = []
  server.on('error', (err) => errors.push(err))
  cleanups.push(() => expect(errors, 'server error events').toEqual([]))
  const [ep] = await server.listen()
  return { server, url: (p) => `coap://127.0.0.1:${ep.port}${p}` }
}

// libcoap's PDU dumps at -v 7 ("v:1 t:CON c:GET i:1234 {token} [ options ] :: payload").
function pduLines(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.startsWith('v:1 '))
}

const tag = (n: number) => Buffer.from([0xe0, n])

/**
 * /doc: a document with a version-numbered ETag. GET answers it (4.04 once deleted), PUT replaces
 * it (new ETag), DELETE removes it (2.02). Counts how often each handler ran.
 */
async function documentServer(): Promise<{
  server: CoapServer
  url: (p: string) => string
  doc: ServerResource
  runs: { GET: number; PUT: number; DELETE: number }
  state: () => { text: string | undefined; version: number }
}> {
  const { server, url } = await newServer()
  let text: string | undefined = 'first'
  let version = 1
  const runs = { GET: 0, PUT: 0, DELETE: 0 }
  const doc = server
    .resource('/doc')
    .get(() => {
      runs.GET++
      return text === undefined ? { code: '4.04' } : { payload: text, options: { ETag: tag(version) } }
    })
    .put((req) => {
      runs.PUT++
      const created = text === undefined
      text = req.text()
      version++
      return { code: created ? '2.01' : '2.04', options: { ETag: tag(version) } }
    })
    .delete(() => {
      runs.DELETE++
      text = undefined
      return { code: '2.02' }
    })
  return { server, url, doc, runs, state: () => ({ text, version }) }
}

describe('conditional requests, our client → our server', () => {
  it('before any ETag, ETag / If-Match options are left to the handlers (no 2.03, no 4.12)', async () => {
    const { server, url } = await newServer()
    const seen: CoapRequest[] = []
    const plain = server.resource('/plain').get((req) => {
      seen.push(req)
      return 'body'
    }).put((req) => {
      seen.push(req)
    })
    const client = newClient()
    const get = await client.get(url('/plain'), { options: { ETag: tag(1) } })
    expect(get.code).toBe('2.05')
    expect(get.text()).toBe('body')
    const put = await client.put(url('/plain'), 'x', { options: { 'If-Match': tag(9) } })
    expect(put.code).toBe('2.04')
    const empty = await client.put(url('/plain'), 'y', { options: { 'If-Match': Buffer.alloc(0) } })
    expect(empty.code).toBe('2.04')
    expect(seen).toHaveLength(3)
    expect(seen[1].option('If-Match')).toEqual([tag(9)])
    expect(seen[2].option('If-Match')).toEqual([Buffer.alloc(0)])
    expect(plain.usesEtags).toBe(false)
    expect(plain.etag).toBeUndefined()
  })

  it('a GET with the current ETag gets 2.03 Valid with that ETag and no payload; other ETags get 2.05', async () => {
    const { url, doc } = await documentServer()
    const client = newClient()
    const first = await client.get(url('/doc'))
    expect(first.code).toBe('2.05')
    expect(first.text()).toBe('first')
    expect(first.option('ETag')).toEqual([tag(1)])
    expect(doc.etag).toEqual(tag(1))
    expect(doc.usesEtags).toBe(true)

    const valid = await client.get(url('/doc'), { options: { ETag: tag(1) } })
    expect(valid.code).toBe('2.03')
    expect(valid.option('ETag')).toEqual([tag(1)])
    expect(valid.payload.length).toBe(0)

    const stale = await client.get(url('/doc'), { options: { ETag: tag(7) } })
    expect(stale.code).toBe('2.05')
    expect(stale.text()).toBe('first')
    expect(stale.option('ETag')).toEqual([tag(1)])

    // Several ETags (RFC 7252 §5.10.6: repeatable), one of them current.
    const several = await client.get(url('/doc'), { options: { ETag: [tag(5), tag(1), tag(6)] } })
    expect(several.code).toBe('2.03')
    expect(several.option('ETag')).toEqual([tag(1)])
  })

  it('numeric result codes (205, 204, 202) count like their dotted forms for ETags', async () => {
    const { server, url } = await newServer()
    let version = 1
    const r = server.resource('/n')
      .get(() => ({ code: 205, payload: 'v', options: { ETag: tag(version) } }))
      .put(() => ({ code: 204, options: { ETag: tag(++version) } }))
      .delete(() => ({ code: 202 }))
    const client = newClient()
    expect((await client.get(url('/n'))).code).toBe('2.05')
    expect(r.etag).toEqual(tag(1))
    expect((await client.get(url('/n'), { options: { ETag: tag(1) } })).code).toBe('2.03')
    expect((await client.put(url('/n'), 'x')).code).toBe('2.04')
    expect(r.etag).toEqual(tag(2))
    expect((await client.delete(url('/n'))).code).toBe('2.02')
    expect(r.etag).toBeUndefined()
  })

  it('If-Match: another ETag gets 4.12 without running the handler; the current one runs it and its ETag takes over', async () => {
    const { url, doc, runs, state } = await documentServer()
    const client = newClient()
    await client.get(url('/doc'))
    expect(doc.etag).toEqual(tag(1))

    const refused = await client.put(url('/doc'), 'lost update', { options: { 'If-Match': tag(9) } })
    expect(refused.code).toBe('4.12')
    expect(runs.PUT).toBe(0)
    expect(state().text).toBe('first')

    const ok = await client.put(url('/doc'), 'second', { options: { 'If-Match': tag(1) } })
    expect(ok.code).toBe('2.04')
    expect(ok.option('ETag')).toEqual([tag(2)])
    expect(runs.PUT).toBe(1)
    expect(doc.etag).toEqual(tag(2))

    // The old ETag is now stale; a list containing the current one passes.
    expect((await client.put(url('/doc'), 'stale', { options: { 'If-Match': tag(1) } })).code).toBe('4.12')
    expect(runs.PUT).toBe(1)
    expect((await client.put(url('/doc'), 'third', { options: { 'If-Match': [tag(8), tag(2)] } })).code).toBe('2.04')
    expect(runs.PUT).toBe(2)
    expect(state().text).toBe('third')
    // A GET with the PUT's ETag validates without any GET having returned it.
    expect((await client.get(url('/doc'), { options: { ETag: tag(3) } })).code).toBe('2.03')
  })

  it('an empty If-Match needs a current representation; a 2.02 DELETE clears the ETag', async () => {
    const { url, doc, runs } = await documentServer()
    const client = newClient()
    await client.get(url('/doc'))
    expect((await client.put(url('/doc'), 'any', { options: { 'If-Match': Buffer.alloc(0) } })).code).toBe('2.04')
    expect(runs.PUT).toBe(1)

    expect((await client.delete(url('/doc'))).code).toBe('2.02')
    expect(doc.etag).toBeUndefined()
    expect(doc.usesEtags).toBe(true)
    const refused = await client.put(url('/doc'), 'again', { options: { 'If-Match': Buffer.alloc(0) } })
    expect(refused.code).toBe('4.12')
    expect(runs.PUT).toBe(1)
    // …and a specific ETag cannot match a representation that is not there.
    expect((await client.put(url('/doc'), 'again', { options: { 'If-Match': tag(2) } })).code).toBe('4.12')
    expect(runs.PUT).toBe(1)
  })

  it('If-None-Match gets 4.12 while an ETag exists, and goes through after a 2.02 DELETE', async () => {
    const { url, doc, runs, state } = await documentServer()
    const client = newClient()
    await client.get(url('/doc'))
    const refused = await client.put(url('/doc'), 'overwrite', { options: { 'If-None-Match': Buffer.alloc(0) } })
    expect(refused.code).toBe('4.12')
    expect(runs.PUT).toBe(0)

    expect((await client.delete(url('/doc'))).code).toBe('2.02')
    expect(doc.etag).toBeUndefined()
    const created = await client.put(url('/doc'), 'recreated', { options: { 'If-None-Match': Buffer.alloc(0) } })
    expect(created.code).toBe('2.01')
    expect(runs.PUT).toBe(1)
    expect(state().text).toBe('recreated')
    expect(doc.etag).toEqual(created.option('ETag')[0])
  })

  it('setting resource.etag turns preconditions on; the setter checks its value', async () => {
    const { server, url } = await newServer()
    let puts = 0
    const res = server.resource('/manual').get(() => 'body').put(() => {
      puts++
    })
    const client = newClient()
    expect((await client.put(url('/manual'), 'a', { options: { 'If-Match': tag(1) } })).code).toBe('2.04')
    expect(puts).toBe(1)

    res.etag = tag(4)
    expect(res.usesEtags).toBe(true)
    expect((await client.put(url('/manual'), 'b', { options: { 'If-Match': tag(1) } })).code).toBe('4.12')
    expect(puts).toBe(1)
    expect((await client.put(url('/manual'), 'c', { options: { 'If-Match': tag(4) } })).code).toBe('2.04')
    expect(puts).toBe(2)
    // A GET carrying the ETag set by hand is answered 2.03 without running the GET handler.
    const valid = await client.get(url('/manual'), { options: { ETag: tag(4) } })
    expect(valid.code).toBe('2.03')
    expect(valid.option('ETag')).toEqual([tag(4)])
    expect(valid.payload.length).toBe(0)
    expect((await client.get(url('/manual'), { options: { ETag: tag(5) } })).text()).toBe('body')

    expect(() => { res.etag = 'abc' as never }).toThrow(TypeError)
    expect(() => { res.etag = Buffer.alloc(0) }).toThrow(RangeError)
    expect(() => { res.etag = Buffer.alloc(9) }).toThrow(RangeError)
    expect(res.etag).toEqual(tag(4))
    res.etag = undefined
    expect(res.etag).toBeUndefined()
    expect((await client.put(url('/manual'), 'd', { options: { 'If-Match': tag(4) } })).code).toBe('4.12')
  })

  it('an async handler\'s ETag counts; a 4.xx answer with an ETag does not become current', async () => {
    const { server, url } = await newServer()
    let fail = true
    const res = server.resource('/async').get(async () => {
      await sleep(10)
      return fail ? { code: '4.00', options: { ETag: tag(1) } } : { payload: 'late', options: { ETag: tag(2) } }
    })
    const client = newClient()
    expect((await client.get(url('/async'))).code).toBe('4.00')
    expect(res.etag).toBeUndefined()
    fail = false
    expect((await client.get(url('/async'))).text()).toBe('late')
    expect(res.etag).toEqual(tag(2))
    const valid = await client.get(url('/async'), { options: { ETag: tag(2) } })
    expect(valid.code).toBe('2.03')
    expect(valid.payload.length).toBe(0)
  })
})

describe('conditional requests, coap-client → our server', () => {
  it('-O 4 (ETag) gets 2.03; -O 1 (If-Match) gets 4.12 or runs the PUT; -O 5 (If-None-Match) gets 4.12', async () => {
    const { url, runs } = await documentServer()
    const first = await coapClient(['-B', '3', '-o', '-', url('/doc')])
    expect(first.stderr).toBe('')
    expect(first.stdout).toBe('first')

    const valid = await coapClient(['-B', '3', '-v', '7', '-O', '4,0xe001', url('/doc')])
    expect(valid.stderr).toBe('')
    expect(pduLines(valid.stdout).some((l) => /^v:1 t:ACK c:2\.03 .*\[ ETag:0xe001 \]$/.test(l)), valid.stdout).toBe(true)

    const stale = await coapClient(['-B', '3', '-m', 'put', '-e', 'lost', '-O', '1,0xe009', url('/doc')])
    expect(stale.stderr).toMatch(/^4\.12/)
    expect(runs.PUT).toBe(0)

    const put = await coapClient(['-B', '3', '-m', 'put', '-e', 'second', '-v', '7', '-O', '1,0xe001', url('/doc')])
    expect(put.stderr).toBe('')
    expect(pduLines(put.stdout).some((l) => /^v:1 t:ACK c:2\.04 .*ETag:0xe002/.test(l)), put.stdout).toBe(true)
    expect(runs.PUT).toBe(1)

    const none = await coapClient(['-B', '3', '-m', 'put', '-e', 'third', '-O', '5,', url('/doc')])
    expect(none.stderr).toMatch(/^4\.12/)
    expect(runs.PUT).toBe(1)
    const now = await coapClient(['-B', '3', '-o', '-', url('/doc')])
    expect(now.stdout).toBe('second')
  })
})

describe('notify(value)', () => {
  it('observers and new registrations get the value, not the GET handler; plain GETs run the handler; notify() goes back to it', async () => {
    const { server, url } = await newServer()
    let handlerRuns = 0
    const res = server.resource('/temp', { observable: true }).get(() => `handler ${++handlerRuns}`)
    const client = newClient()
    const first = client.observe(url('/temp'))[Symbol.asyncIterator]()
    const next = async (it: AsyncIterator<CoapResponse>): Promise<CoapResponse> => {
      const r = await it.next()
      expect(r.done).toBe(false)
      return r.value as CoapResponse
    }
    cleanups.push(() => first.return?.())
    expect((await next(first)).text()).toBe('handler 1')

    expect(res.notify('pushed 1')).toBe(true)
    const n1 = await next(first)
    expect(n1.text()).toBe('pushed 1')
    expect(n1.contentFormat).toBe(0)
    expect(handlerRuns).toBe(1)

    // A new registration gets the pushed value as its first answer.
    const second = client.observe(url('/temp'))[Symbol.asyncIterator]()
    cleanups.push(() => second.return?.())
    expect((await next(second)).text()).toBe('pushed 1')
    expect(handlerRuns).toBe(1)
    // A GET without Observe still goes to the handler.
    expect((await client.get(url('/temp'))).text()).toBe('handler 2')

    res.notify({ payload: '{"t":21.5}', contentFormat: 'application/json', options: { 'Max-Age': 30 } })
    for (const it of [first, second]) {
      const n = await next(it)
      expect(n.json()).toEqual({ t: 21.5 })
      expect(n.contentFormat).toBe(50)
      expect(n.option('Max-Age')).toEqual([30])
    }
    res.notify(Buffer.from([1, 2, 3]))
    for (const it of [first, second]) expect([...(await next(it)).payload]).toEqual([1, 2, 3])
    expect(handlerRuns).toBe(2)

    // Back to the handler, once per observer.
    res.notify()
    const texts = [(await next(first)).text(), (await next(second)).text()].sort()
    expect(texts).toEqual(['handler 3', 'handler 4'])
    expect(handlerRuns).toBe(4)
    const third = client.observe(url('/temp'))[Symbol.asyncIterator]()
    cleanups.push(() => third.return?.())
    expect((await next(third)).text()).toBe('handler 5')
  })

  it('checks its argument and the resource; returns false with no observers', async () => {
    const { server } = await newServer()
    const obs = server.resource('/obs', { observable: true }).get(() => 'x')
    const plain = server.resource('/plain').get(() => 'x')
    expect(obs.notify('nobody listens')).toBe(false)
    expect(() => plain.notify('x')).toThrow(RangeError)
    expect(() => obs.notify(42 as never)).toThrow(TypeError)
    expect(() => server.resource('/bad', { observable: true, notifications: 'sometimes' as never })).toThrow(RangeError)
  })

  it.each([
    ['con', (types: string[]) => expect(types).toEqual(Array(8).fill('CON'))],
    ['non-always', (types: string[]) => expect(types).toEqual(Array(8).fill('NON'))],
    // libcoap makes every so many NON notifications a CON (RFC 7641 §4.5), here within 8.
    ['non', (types: string[]) => {
      expect(types.filter((t) => t === 'NON').length).toBeGreaterThanOrEqual(5)
      expect(types).toContain('CON')
    }],
  ] as const)('notifications: %s gives those message types over UDP', async (notifications, check) => {
    const { server, url } = await newServer()
    const res = server.resource('/r', { observable: true, notifications }).get(() => 'handler')
    const it = newClient().observe(url('/r'))[Symbol.asyncIterator]()
    cleanups.push(() => it.return?.())
    const first = await it.next()
    expect((first.value as CoapResponse).type).toBe('ACK')
    const types: string[] = []
    for (let i = 0; i < 8; i++) {
      res.notify(`n${i}`)
      const n = (await it.next()).value as CoapResponse
      expect(n.text()).toBe(`n${i}`)
      types.push(n.type)
    }
    check(types)
  })

  it('coap-client -s sees the pushed values as CON notifications (notifications: "con")', async () => {
    const { server, url } = await newServer()
    const res = server.resource('/pushed', { observable: true, notifications: 'con' }).get(() => 'initial')
    let timer: NodeJS.Timeout | undefined
    cleanups.push(() => clearInterval(timer))
    server.once('observe', () => {
      let k = 0
      timer = setInterval(() => {
        res.notify(`pushed${++k}`)
        if (k === 3) clearInterval(timer)
      }, 100)
    })
    const out = await coapClient(['-B', '4', '-s', '1', '-v', '7', url('/pushed')], { timeoutMs: 8000 })
    expect(out.stderr).toBe('')
    const lines = pduLines(out.stdout)
    expect(lines.some((l) => /^v:1 t:ACK c:2\.05 .*Observe:.*:: 'initial'$/.test(l)), lines.join('\n')).toBe(true)
    for (const k of [1, 2, 3]) {
      expect(lines.some((l) => new RegExp(`^v:1 t:CON c:2\\.05 .*Observe:\\d+.*:: 'pushed${k}'$`).test(l)), lines.join('\n')).toBe(true)
    }
  })
})

describe('registerOption', () => {
  it('an unregistered critical option gets 4.02 from libcoap; after registerOption the handler sees it', async () => {
    const { server, url } = await newServer()
    const seen: CoapRequest[] = []
    server.resource('/opt').get((req) => {
      seen.push(req)
      return 'ok'
    })
    const client = newClient()
    const bad = await client.get(url('/opt'), { options: { 65001: 'x' } })
    expect(bad.code).toBe('4.02')
    expect(seen).toHaveLength(0)
    // Elective (even) options need no registration.
    expect((await client.get(url('/opt'), { options: { 65000: 'e' } })).code).toBe('2.05')
    expect(seen[0].option(65000)).toEqual([Buffer.from('e')])

    expect(server.registerOption(65001)).toBe(server)
    const ok = await client.get(url('/opt'), { options: { 65001: Buffer.from([0, 0xff]) } })
    expect(ok.code).toBe('2.05')
    expect(seen).toHaveLength(2)
    expect(seen[1].option(65001)).toEqual([Buffer.from([0, 0xff])])
  })

  it('checks the option number', async () => {
    const { server } = await newServer()
    for (const bad of [0, -1, 65536, 1.5, Number.NaN]) expect(() => server.registerOption(bad), String(bad)).toThrow(RangeError)
    expect(() => server.registerOption('65001' as never)).toThrow(TypeError)
  })

  it('coap-client -O 65001,x gets 4.02 before and the handler\'s answer after registerOption', async () => {
    const { server, url } = await newServer()
    const seen: CoapRequest[] = []
    server.resource('/opt').get((req) => {
      seen.push(req)
      return JSON.stringify(req.option(65001).map(String))
    })
    // coap-client does not accept the 4.02 (it echoes the option it does not know itself) and
    // waits for -B; its PDU dump shows the answer.
    const bad = await coapClient(['-B', '1', '-v', '7', '-O', '65001,x', url('/opt')])
    const lines = pduLines(bad.stdout)
    expect(lines.some((l) => /^v:1 t:CON c:GET .*65001:\\x78/.test(l)), lines.join('\n')).toBe(true)
    expect(lines.some((l) => /^v:1 t:ACK c:4\.02 /.test(l)), lines.join('\n')).toBe(true)
    expect(seen).toHaveLength(0)

    server.registerOption(65001)
    const ok = await coapClient(['-B', '3', '-o', '-', '-O', '65001,x', url('/opt')])
    expect(ok.stderr).toBe('')
    expect(ok.stdout).toBe('["x"]')
    expect(seen).toHaveLength(1)
  })
})

describe('our client → coap-server', () => {
  let peer: Awaited<ReturnType<typeof startCoapServer>>
  beforeAll(async () => {
    peer = await startCoapServer()
  })
  afterAll(async () => {
    await peer?.stop()
  })

  it('a custom critical option coap-server does not know gets 4.02', async () => {
    const res = await newClient().get(peer.url('/'), { options: { 65001: 'x' } })
    expect(res.code).toBe('4.02')
    expect((await newClient().get(peer.url('/'), { options: { 65000: 'x' } })).code).toBe('2.05')
  })
})
