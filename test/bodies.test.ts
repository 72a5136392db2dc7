// Bodies: the body-size limit (maxBodySize, 4.13 + Size1, ERR_COAP_TOO_LARGE), block-wise
// progress (onProgress) and zero-copy bodies (native.heldBuffers() back to 0 once closed), between
// our client and server and against libcoap's coap-client / coap-server, on loopback.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import * as dgram from 'node:dgram'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { CoapClient, CoapError, CoapServer, CoapTooLargeError } from '../dist/index.js'
import type { CoapRequest, TransferProgress } from '../dist/index.js'
import { native } from '../dist/native.js'
import { expectSameBytes, pattern, sleep, waitFor } from './helpers/bytes'
import { coapClient, startCoapServer } from './helpers/peers'

const DEFAULT_LIMIT = 8 * 1024 * 1024

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
  // Zero-copy: whatever a test sent or answered, libcoap must have let go of every Buffer, once.
  expect(native.heldBuffers(), 'Buffers still held by libcoap after everything was closed').toBe(0)
})

function newClient(options: ConstructorParameters<typeof CoapClient>[0] = {}): CoapClient {
  const client = new CoapClient({ timeout: 10_000, ...options })
  cleanups.push(() => client.close())
  return client
}

/** Our server on UDP and TCP (127.0.0.1, free ports). */
async function newServer(options: { maxBodySize?: number } = {}): Promise<{ server: CoapServer; udp: (p: string) => string; tcp: (p: string) => string }> {
  const server = new CoapServer({ listen: ['coap://127.0.0.1:0', 'coap+tcp://127.0.0.1:0'], ...options })
  cleanups.push(() => server.close())
  const errors: unknown[] = []
  server.on('error', (err) => errors.push(err))
  // A handler error would turn into 5.00: show it instead of a puzzling code mismatch.
  cleanups.push(() => expect(errors, 'server error events').toEqual([]))
  const [u, t] = await server.listen()
  return { server, udp: (p) => `coap://127.0.0.1:${u.port}${p}`, tcp: (p) => `coap+tcp://127.0.0.1:${t.port}${p}` }
}

/** A UDP socket that takes datagrams and never answers. */
async function silentPeer(): Promise<{ url: (p: string) => string; received: () => number }> {
  const sock = dgram.createSocket('udp4')
  let count = 0
  sock.on('message', () => count++)
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject)
    sock.bind(0, '127.0.0.1', () => resolve())
  })
  cleanups.push(() => new Promise<void>((resolve) => sock.close(() => resolve())))
  return { url: (p) => `coap://127.0.0.1:${sock.address().port}${p}`, received: () => count }
}

function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libcoap-bodies-'))
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection, but the promise resolved')
}

async function expectTooLarge(promise: Promise<unknown>): Promise<void> {
  const err = await rejection(promise)
  expect(err).toBeInstanceOf(CoapTooLargeError)
  expect(err).toBeInstanceOf(CoapError)
  expect((err as CoapError).code).toBe('ERR_COAP_TOO_LARGE')
}

// libcoap's PDU dumps at -v 7 ("v:1 t:CON c:PUT i:1234 {token} [ options ] :: payload").
function pduLines(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.startsWith('v:1 ') || l.startsWith('v:Reliable '))
}

function expectProgress(reports: TransferProgress[], direction: 'upload' | 'download', length: number, blockSize = 1024): void {
  expect(reports.length, JSON.stringify(reports)).toBe(Math.ceil(length / blockSize))
  for (const [i, r] of reports.entries()) {
    expect(r.direction).toBe(direction)
    expect(r.total).toBe(length)
    if (i > 0) expect(r.bytes, JSON.stringify(reports)).toBeGreaterThan(reports[i - 1].bytes)
    expect(r.bytes).toBeLessThanOrEqual(length)
  }
  expect(reports.at(-1)!.bytes).toBe(length)
}

describe('maxBodySize settings', () => {
  it('defaults to 8 MiB on clients, servers and contexts; the option and the setter change it', async () => {
    const client = newClient()
    expect(client.context.maxBodySize).toBe(DEFAULT_LIMIT)
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    expect(server.context.maxBodySize).toBe(DEFAULT_LIMIT)
    expect(newClient({ maxBodySize: 1 }).context.maxBodySize).toBe(1)
    const limited = new CoapServer({ listen: 'coap://127.0.0.1:0', maxBodySize: 2 ** 30 })
    cleanups.push(() => limited.close())
    expect(limited.context.maxBodySize).toBe(2 ** 30)
    client.context.maxBodySize = 1234
    expect(client.context.maxBodySize).toBe(1234)
  })

  it('rejects bad values with RangeError / TypeError everywhere, leaving the old value', () => {
    const client = newClient()
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 30 + 1]) {
      expect(() => new CoapClient({ maxBodySize: bad }), String(bad)).toThrow(RangeError)
      expect(() => new CoapServer({ listen: 'coap://127.0.0.1:0', maxBodySize: bad }), String(bad)).toThrow(RangeError)
      expect(() => { client.context.maxBodySize = bad }, String(bad)).toThrow(RangeError)
    }
    for (const bad of ['1024', null, {}, true] as unknown[]) {
      expect(() => new CoapClient({ maxBodySize: bad as number }), String(bad)).toThrow(TypeError)
      expect(() => new CoapServer({ listen: 'coap://127.0.0.1:0', maxBodySize: bad as number }), String(bad)).toThrow(TypeError)
      expect(() => { client.context.maxBodySize = bad as number }, String(bad)).toThrow(TypeError)
    }
    expect(client.context.maxBodySize).toBe(DEFAULT_LIMIT)
  })
})

describe('body-size limit, our client ↔ our server', () => {
  it('server: a Block1 upload over the limit gets 4.13 with Size1 = the limit, at the first block, without the handler', async () => {
    const { server, udp } = await newServer({ maxBodySize: 4096 })
    const seen: CoapRequest[] = []
    server.resource('/up').put((req) => {
      seen.push(req)
      return { code: '2.04', payload: String(req.payload.length) }
    })
    const client = newClient()

    for (const size of [4097, 64 * 1024]) {
      const reports: TransferProgress[] = []
      const res = await client.put(udp('/up'), pattern(size, size), { onProgress: (p) => reports.push(p) })
      expect(res.code, `${size} bytes`).toBe('4.13')
      expect(res.option('Size1')).toEqual([4096])
      expect(res.payload.length).toBe(0)
      // Refused on the first block (the client announces Size1): no block was acknowledged.
      expect(reports, `${size} bytes`).toEqual([])
    }
    expect(seen).toHaveLength(0)

    // At the limit the body arrives whole, and the session is still fine after the refusals.
    const body = pattern(4096, 1)
    const ok = await client.put(udp('/up'), body)
    expect(ok.code).toBe('2.04')
    expect(ok.text()).toBe('4096')
    expect(seen).toHaveLength(1)
    expectSameBytes(seen[0].payload, body, 'upload at the limit')
  })

  it('server: the default limit is 8 MiB — 8 MiB + 1 over UDP is refused at once with Size1 8388608', async () => {
    const { server, udp } = await newServer()
    let runs = 0
    server.resource('/up').put(() => {
      runs++
    })
    const client = newClient({ maxBodySize: 16 * 1024 * 1024 })
    const started = Date.now()
    const res = await client.put(udp('/up'), Buffer.alloc(DEFAULT_LIMIT + 1, 0x55))
    expect(res.code).toBe('4.13')
    expect(res.option('Size1')).toEqual([DEFAULT_LIMIT])
    expect(runs).toBe(0)
    // 8193 blocks would take far longer than this: it stopped at the first one.
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('server: a single-message body (TCP) over the limit gets 4.13 with Size1 before the handler runs', async () => {
    const { server, tcp } = await newServer({ maxBodySize: 4096 })
    const sizes: number[] = []
    server.resource('/up').put((req) => {
      sizes.push(req.payload.length)
    })
    const client = newClient()
    const reports: TransferProgress[] = []
    const res = await client.put(tcp('/up'), pattern(4097, 2), { onProgress: (p) => reports.push(p) })
    expect(reports).toEqual([]) // one message, not block-wise
    expect(res.code).toBe('4.13')
    expect(res.option('Size1')).toEqual([4096])
    expect(sizes).toEqual([])
    const ok = await client.put(tcp('/up'), pattern(4096, 3))
    expect(ok.code).toBe('2.04')
    expect(sizes).toEqual([4096])
  })

  it('server: with the default limit over TCP, 8 MiB is accepted in one message and 8 MiB + 1 gets 4.13', async () => {
    const { server, tcp } = await newServer()
    const sizes: number[] = []
    server.resource('/up').put((req) => {
      sizes.push(req.payload.length)
    })
    const client = newClient({ maxBodySize: 16 * 1024 * 1024 })
    const big = Buffer.alloc(DEFAULT_LIMIT + 1, 0x2a)
    const ok = await client.put(tcp('/up'), big.subarray(1))
    expect(ok.code).toBe('2.04')
    expect(sizes).toEqual([DEFAULT_LIMIT])
    const res = await client.put(tcp('/up'), big)
    expect(res.code).toBe('4.13')
    expect(res.option('Size1')).toEqual([DEFAULT_LIMIT])
    expect(sizes).toEqual([DEFAULT_LIMIT])
  })

  it('client: a request body over its limit rejects with CoapTooLargeError and nothing is sent', async () => {
    const peer = await silentPeer()
    const client = newClient({ maxBodySize: 1000 })
    const started = Date.now()
    await expectTooLarge(client.put(peer.url('/x'), Buffer.alloc(1001)))
    await expectTooLarge(client.post(peer.url('/x'), new Uint8Array(5000)))
    await expectTooLarge(client.request({ url: peer.url('/x'), method: 'FETCH', payload: Buffer.alloc(1001) }))
    // The limit counts bytes: 10 characters, 20 bytes of UTF-8.
    client.context.maxBodySize = 19
    await expectTooLarge(client.put(peer.url('/x'), 'éééééééééé'))
    expect(Date.now() - started).toBeLessThan(1000) // not a timeout
    await sleep(100)
    expect(peer.received()).toBe(0)

    // At the limit the request does go out (the peer never answers: abort it).
    const ac = new AbortController()
    const pending = client.put(peer.url('/x'), Buffer.alloc(19), { signal: ac.signal })
    await waitFor(() => peer.received() > 0, 2000, 'the request at the limit to be sent')
    ac.abort()
    expect((await rejection(pending)) as CoapError).toMatchObject({ code: 'ERR_COAP_ABORTED' })
  })

  it('client: a block-wise response over its limit rejects with ERR_COAP_TOO_LARGE; at the limit it arrives whole', async () => {
    const { server, udp } = await newServer()
    const body = pattern(20_000, 4)
    server.resource('/big').get(() => body)
    server.resource('/small').get(() => 'small')
    const client = newClient({ maxBodySize: 20_000 })
    const whole = await client.get(udp('/big'))
    expect(whole.code).toBe('2.05')
    expectSameBytes(whole.payload, body, 'GET at the limit')

    client.context.maxBodySize = 19_999
    await expectTooLarge(client.get(udp('/big')))
    client.context.maxBodySize = 3000
    await expectTooLarge(client.get(udp('/big'), { onProgress: () => undefined }))
    // The client goes on working on the same session.
    expect((await client.get(udp('/small'))).text()).toBe('small')
    client.context.maxBodySize = 20_000
    expectSameBytes((await client.get(udp('/big'))).payload, body, 'GET after raising the limit again')
  })
})

describe('progress (onProgress)', () => {
  it('an upload reports each acknowledged block; total is the body length, the last report has bytes === total', async () => {
    const { server, udp } = await newServer()
    let got: Buffer | undefined
    server.resource('/up').put((req) => {
      got = Buffer.from(req.payload)
    })
    const body = pattern(10 * 1024 + 5, 5)
    const reports: TransferProgress[] = []
    const res = await newClient().put(udp('/up'), body, { onProgress: (p) => reports.push(p) })
    expect(res.code).toBe('2.04')
    expectSameBytes(got, body, 'upload')
    expectProgress(reports, 'upload', body.length)
  })

  it('a download reports each block; total comes from Size2, the last report has bytes === the body length', async () => {
    const { server, udp } = await newServer()
    const body = pattern(10 * 1024 + 5, 6)
    server.resource('/big').get(() => body)
    const reports: TransferProgress[] = []
    const res = await newClient().get(udp('/big'), { onProgress: (p) => reports.push(p) })
    expectSameBytes(res.payload, body, 'download')
    expectProgress(reports, 'download', body.length)
  })

  it('a POST reports its upload, then the download of its answer', async () => {
    const { server, udp } = await newServer()
    server.resource('/echo').post((req) => ({ code: '2.04', payload: Buffer.concat([req.payload, req.payload]) }))
    const body = pattern(3000, 7)
    const reports: TransferProgress[] = []
    const res = await newClient().post(udp('/echo'), body, { onProgress: (p) => reports.push(p) })
    expect(res.code).toBe('2.04')
    expectSameBytes(res.payload, Buffer.concat([body, body]), 'echo')
    expectProgress(reports.filter((r) => r.direction === 'upload'), 'upload', body.length)
    expectProgress(reports.filter((r) => r.direction === 'download'), 'download', 2 * body.length)
    // The answer's first block acknowledges the last upload block: the upload is complete
    // (bytes === total) before the download starts, not reported as done after it.
    const directions = reports.map((r) => r.direction)
    const order = reports.map((r) => `${r.direction} ${r.bytes}`).join(', ')
    expect(directions.lastIndexOf('upload'), order).toBeLessThan(directions.indexOf('download'))
  })

  it('bodies that fit one message report nothing (small UDP bodies, large TCP bodies)', async () => {
    const { server, udp, tcp } = await newServer()
    const big = pattern(50_000, 8)
    server.resource('/r').put((req) => ({ code: '2.04', payload: req.payload })).get(() => big)
    const reports: TransferProgress[] = []
    const onProgress = (p: TransferProgress) => reports.push(p)
    const client = newClient()
    expect((await client.put(udp('/r'), pattern(500, 9), { onProgress })).payload.length).toBe(500)
    expectSameBytes((await client.put(tcp('/r'), big, { onProgress })).payload, big, 'TCP echo')
    expectSameBytes((await client.get(tcp('/r'), { onProgress })).payload, big, 'TCP GET')
    expect(reports).toEqual([])
    // …while the same body over UDP is block-wise and does report.
    await client.get(udp('/r'), { onProgress })
    expect(reports.length).toBe(Math.ceil(big.length / 1024))
  })

  it('a throwing onProgress does not break the request; its errors reach the context "error" event', async () => {
    const { server, udp } = await newServer()
    let got: Buffer | undefined
    server.resource('/up').put((req) => {
      got = Buffer.from(req.payload)
      return { code: '2.04', payload: req.payload }
    })
    const client = newClient()
    const errors: unknown[] = []
    client.context.on('error', (err) => errors.push(err))
    let calls = 0
    const body = pattern(5000, 10)
    const res = await client.put(udp('/up'), body, {
      onProgress: () => {
        calls++
        throw new Error(`progress failure ${calls}`)
      },
    })
    expect(res.code).toBe('2.04')
    expectSameBytes(got, body, 'upload despite the throwing onProgress')
    expectSameBytes(res.payload, body, 'download despite the throwing onProgress')
    expect(calls).toBe(10) // 5 upload blocks, 5 download blocks
    await waitFor(() => errors.length === calls, 1000, 'every onProgress error to be reported')
    expect((errors[0] as Error).message).toBe('progress failure 1')
  })

  it('without an "error" listener, onProgress errors become process warnings', async () => {
    const { server, udp } = await newServer()
    server.resource('/big').get(() => pattern(3000, 11))
    const warnings: Error[] = []
    const onWarning = (w: Error) => warnings.push(w)
    process.on('warning', onWarning)
    cleanups.push(() => process.off('warning', onWarning))
    const thrown = new Error('onProgress blew up')
    const res = await newClient().get(udp('/big'), {
      onProgress: () => {
        throw thrown
      },
    })
    expect(res.payload.length).toBe(3000)
    await waitFor(() => warnings.filter((w) => w === thrown).length === 3, 1000, 'three process warnings')
  })

  it('onProgress must be a function', async () => {
    const client = newClient()
    await expect(client.get('coap://127.0.0.1:9/x', { onProgress: 42 as never })).rejects.toThrow(TypeError)
  })
})

describe('zero-copy bodies (native.heldBuffers)', () => {
  it('many large transfers both ways, over UDP and TCP, arrive intact and leave nothing held once closed', async () => {
    const { server, udp, tcp } = await newServer()
    const stored = new Map<string, Buffer>()
    server.resource('/store').put((req) => {
      stored.set(req.query[0], req.payload)
      return { code: '2.04' }
    }).get((req) => stored.get(req.query[0]) ?? { code: '4.04' })
    const client = newClient()
    let lowest = 0
    let highest = 0
    const sampler = setInterval(() => {
      const n = native.heldBuffers()
      lowest = Math.min(lowest, n)
      highest = Math.max(highest, n)
    }, 1)
    cleanups.push(() => clearInterval(sampler))
    const bodies = Array.from({ length: 12 }, (_, i) => pattern(40_000 + i * 997, 100 + i))
    await Promise.all(bodies.map(async (body, i) => {
      const url = (i % 3 === 2 ? tcp : udp)('/store')
      expect((await client.put(`${url}?k${i}`, body)).code).toBe('2.04')
      expectSameBytes((await client.get(`${url}?k${i}`)).payload, body, `body ${i} back`)
    }))
    for (const [i, body] of bodies.entries()) expectSameBytes(stored.get(`k${i}`), body, `stored body ${i}`)
    clearInterval(sampler)
    expect(lowest).toBe(0) // never released twice (the count would go negative)
    expect(highest).toBeGreaterThan(0) // the bodies were held, not copied
    expect(native.heldBuffers()).toBeGreaterThanOrEqual(0)
    await client.close()
    await server.close()
    expect(native.heldBuffers()).toBe(0)
  })

  it('views with an offset into a larger ArrayBuffer are sent as exactly their bytes, both ways', async () => {
    const { server, udp } = await newServer()
    const backing = pattern(60_000, 12)
    const answer = new Uint8Array(backing.buffer, backing.byteOffset + 12_345, 20_000)
    let got: Buffer | undefined
    server.resource('/view').get(() => answer).put((req) => {
      got = Buffer.from(req.payload)
    })
    const client = newClient()
    const res = await client.get(udp('/view'))
    expectSameBytes(res.payload, backing.subarray(12_345, 32_345), 'response from a Uint8Array view')
    const upload = backing.subarray(777, 777 + 30_000)
    expect((await client.put(udp('/view'), upload)).code).toBe('2.04')
    expectSameBytes(got, backing.subarray(777, 30_777), 'upload from a Buffer slice')
  })

  it('a body of a request that timed out, was aborted or was pending at close is released by close()', async () => {
    const peer = await silentPeer()
    const client = newClient()
    const before = native.heldBuffers()
    const timedOut = rejection(client.put(peer.url('/a'), Buffer.alloc(32_000, 1), { timeout: 200 }))
    const ac = new AbortController()
    const aborted = rejection(client.put(peer.url('/b'), Buffer.alloc(32_000, 2), { signal: ac.signal }))
    const pending = rejection(client.put(peer.url('/c'), Buffer.alloc(32_000, 3)))
    await waitFor(() => native.heldBuffers() === before + 3, 2000, 'three held bodies')
    ac.abort()
    expect(await timedOut).toMatchObject({ code: 'ERR_COAP_TIMEOUT' })
    expect(await aborted).toMatchObject({ code: 'ERR_COAP_ABORTED' })
    await client.close()
    expect(await pending).toMatchObject({ code: 'ERR_COAP_CLOSED' })
    expect(native.heldBuffers()).toBe(0)
  })

  it('a refused body (client limit) is never held; a 4.13 answer leaves nothing held', async () => {
    const { server, udp } = await newServer({ maxBodySize: 2048 })
    server.resource('/up').put(() => undefined)
    const client = newClient({ maxBodySize: 10_000 })
    await expectTooLarge(client.put(udp('/up'), Buffer.alloc(10_001)))
    expect(native.heldBuffers()).toBe(0)
    expect((await client.put(udp('/up'), Buffer.alloc(10_000))).code).toBe('4.13')
    await client.close()
    await server.close()
    expect(native.heldBuffers()).toBe(0)
  })
})

describe('interop: coap-client → our server', () => {
  it('coap-client -f -b 1024 of a body over our limit gets 4.13 with Size1 after its first block', async () => {
    const { server, udp } = await newServer({ maxBodySize: 4096 })
    const seen: Buffer[] = []
    server.resource('/up').put((req) => {
      seen.push(Buffer.from(req.payload))
    })
    const dir = tmpDir()
    const file = path.join(dir, 'big.bin')
    fs.writeFileSync(file, pattern(10_000, 20))
    const res = await coapClient(['-B', '5', '-m', 'put', '-f', file, '-b', '1024', '-v', '7', udp('/up')])
    expect(res.code).toBe(0) // coap-client exits 0 on 4.xx; its stderr tells
    expect(res.stderr).toMatch(/^4\.13/)
    const lines = pduLines(res.stdout)
    const puts = lines.filter((l) => /^v:1 t:CON c:PUT .*Block1:/.test(l) && !/binary data length 10000$/.test(l))
    expect(puts.length, lines.join('\n')).toBeGreaterThanOrEqual(1)
    expect(puts[0]).toMatch(/Block1:0\/M\/1024.*Size1:10000/)
    expect(lines.some((l) => /^v:1 t:CON c:PUT .*Block1:[1-9]/.test(l)), lines.join('\n')).toBe(false)
    expect(lines.some((l) => /^v:1 t:ACK c:4\.13 .*\[ Size1:4096 \]/.test(l)), lines.join('\n')).toBe(true)
    expect(seen).toHaveLength(0)

    // Within the limit the same tool's upload arrives whole.
    const small = pattern(4096, 21)
    fs.writeFileSync(file, small)
    const ok = await coapClient(['-B', '5', '-m', 'put', '-f', file, '-b', '1024', udp('/up')])
    expect(ok.stderr).toBe('')
    expect(seen).toHaveLength(1)
    expectSameBytes(seen[0], small, 'coap-client upload at the limit')
  })

  it('coap-client over coap+tcp: a one-message body over our limit gets 4.13 with Size1', async () => {
    const { server, tcp } = await newServer({ maxBodySize: 4096 })
    let runs = 0
    server.resource('/up').put(() => {
      runs++
    })
    const dir = tmpDir()
    const file = path.join(dir, 'big.bin')
    fs.writeFileSync(file, pattern(10_000, 22))
    const res = await coapClient(['-B', '5', '-m', 'put', '-f', file, '-v', '7', tcp('/up')])
    const lines = pduLines(res.stdout)
    expect(lines.some((l) => /^v:Reliable c:PUT .*binary data length 10000$/.test(l)), lines.join('\n')).toBe(true)
    expect(res.stderr).toMatch(/^4\.13/)
    expect(lines.some((l) => /^v:Reliable c:4\.13 .*Size1:4096/.test(l)), lines.join('\n')).toBe(true)
    expect(runs).toBe(0)
  })
})

describe('interop: our client → coap-server', () => {
  let peer: Awaited<ReturnType<typeof startCoapServer>>
  beforeAll(async () => {
    peer = await startCoapServer()
  })
  afterAll(async () => {
    await peer?.stop()
  })

  it('progress of a block-wise PUT and GET of /example_data (total from coap-server\'s Size2)', async () => {
    const client = newClient()
    const body = pattern(30_000, 30)
    const up: TransferProgress[] = []
    const put = await client.put(peer.url('/example_data'), body, { contentFormat: 'application/octet-stream', onProgress: (p) => up.push(p) })
    expect(['2.01', '2.04']).toContain(put.code)
    expectProgress(up, 'upload', body.length)
    const down: TransferProgress[] = []
    const get = await client.get(peer.url('/example_data'), { onProgress: (p) => down.push(p) })
    expectSameBytes(get.payload, body, 'GET /example_data')
    expectProgress(down, 'download', body.length)
  })

  it('a client with a small maxBodySize GETting a large /example_data gets ERR_COAP_TOO_LARGE', async () => {
    const client = newClient()
    const body = pattern(30_000, 31)
    const put = await client.put(peer.url('/example_data'), body, { contentFormat: 'application/octet-stream' })
    expect(put.ok).toBe(true)
    const small = newClient({ maxBodySize: 10_000 })
    await expectTooLarge(small.get(peer.url('/example_data')))
    // The same client still talks to coap-server, and with the limit raised gets the body.
    expect((await small.get(peer.url('/'))).code).toBe('2.05')
    small.context.maxBodySize = 30_000
    expectSameBytes((await small.get(peer.url('/example_data'))).payload, body, 'GET with the limit raised')
    // Our own limit also stops an upload to coap-server before anything is sent.
    small.context.maxBodySize = 100
    await expectTooLarge(small.put(peer.url('/example_data'), body))
    expectSameBytes((await client.get(peer.url('/example_data'))).payload, body, '/example_data unchanged')
  })
})

describe('blockSize (SZX)', () => {
  it("a client's blockSize cuts its upload and asks for its download in blocks of that size", async () => {
    const { server, udp } = await newServer({ maxBodySize: 1 << 20 })
    const body = pattern(3000, 7)
    let got: Buffer | undefined
    server.resource('/blocks').put((req) => {
      got = req.payload
    }).get(() => body)
    const client = newClient({ blockSize: 64 })
    const up: TransferProgress[] = []
    expect((await client.put(udp('/blocks'), body, { onProgress: (p) => up.push(p) })).code).toBe('2.04')
    expectSameBytes(got, body, 'upload')
    expectProgress(up, 'upload', body.length, 64)
    const down: TransferProgress[] = []
    const res = await client.get(udp('/blocks'), { onProgress: (p) => down.push(p) })
    expectSameBytes(res.payload, body, 'download')
    expect(down.length).toBe(Math.ceil(body.length / 64))
  })

  it("a server's blockSize cuts its responses; libcoap's coap-client receives them whole", async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0', blockSize: 128 })
    cleanups.push(() => server.close())
    // Larger than one message: a body that fits one is sent whole whatever the block size.
    const body = pattern(3000, 9)
    server.resource('/small-blocks').get(() => body)
    const [ep] = await server.listen()
    const down: TransferProgress[] = []
    const res = await newClient().get(`coap://127.0.0.1:${ep.port}/small-blocks`, { onProgress: (p) => down.push(p) })
    expectSameBytes(res.payload, body, 'our client')
    expect(down.length).toBe(Math.ceil(body.length / 128))
    const out = await coapClient(['-v', '7', '-m', 'get', `coap://127.0.0.1:${ep.port}/small-blocks`])
    expect(pduLines(out.stdout).some((l) => /Block2:7\/M\/128/.test(l))).toBe(true)
  })

  it('only the RFC 7959 sizes are accepted', () => {
    for (const bad of [0, 8, 100, 2048]) expect(() => new CoapClient({ blockSize: bad })).toThrow(RangeError)
    expect(() => new CoapServer({ blockSize: '64' as never })).toThrow(TypeError)
  })
})
