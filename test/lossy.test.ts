// An impaired path: a UDP relay in the test (helpers/impaired-relay.ts) drops, duplicates,
// reorders and delays datagrams in both directions (seeded, so runs repeat) — what netem would do
// on a link, for kernels without netem (test/faults.test.ts probes for it). Every CON exchange
// and every block-wise transfer must complete exactly or fail with ERR_COAP_TIMEOUT — nothing
// silently lost, nothing hanging, no non-idempotent handler run twice.
import * as dgram from 'node:dgram'
import { afterEach, describe, expect, it } from 'vitest'
import { CoapClient, CoapError, CoapServer } from '../dist/index.js'
import { pattern, sleep } from './helpers/bytes'
import { impairedRelay, type ImpairedRelay, type Impairment } from './helpers/impaired-relay'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function relay(serverPort: number, how: Impairment, seed: number): Promise<ImpairedRelay> {
  const r = await impairedRelay(serverPort, how, seed)
  cleanups.push(() => r.close())
  return r
}

describe('30 % loss both ways', () => {
  it('CON requests and block-wise transfers complete exactly or time out', { timeout: 90_000 }, async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    let puts = 0
    const stored = new Map<string, Buffer>()
    server.resource('/blob').get((req) => stored.get(req.query[0] ?? '') ?? pattern(3000, 5)).put((req) => {
      puts++
      stored.set(req.query[0] ?? '', req.payload)
      return { code: '2.04' }
    })
    const [ep] = await server.listen()
    const path = await relay(ep.port, { loss: 0.3 }, 12345)
    const client = new CoapClient({ timeout: 40_000, parameters: { ackTimeout: 1, ackRandomFactor: 1, maxRetransmit: 6 } })
    cleanups.push(() => client.close())
    const base = `coap://127.0.0.1:${path.port}/blob`

    const outcomes: string[] = []
    const settle = async (what: string, p: Promise<void>): Promise<void> => {
      try {
        await p
        outcomes.push(`${what}: ok`)
      } catch (err) {
        expect(err, `${what} failed with something other than a timeout`).toBeInstanceOf(CoapError)
        expect((err as CoapError).code).toBe('ERR_COAP_TIMEOUT')
        outcomes.push(`${what}: timeout`)
      }
    }
    // A 3000-byte GET (3 blocks), then uploads of 2500 bytes (3 blocks) read back byte for byte.
    await settle('get', (async () => {
      const res = await client.get(base)
      expect(res.payload.equals(pattern(3000, 5))).toBe(true)
    })())
    for (let i = 0; i < 3; i++) {
      const body = pattern(2500, 100 + i)
      await settle(`put ${i}`, (async () => {
        const put = await client.put(`${base}?k${i}`, body)
        // libcoap's server may give up on a Block1 upload whose blocks it lost track of and say
        // so with 4.08 (Request Entity Incomplete): reported, not silently lost.
        expect(['2.04', '4.08']).toContain(put.code)
        if (put.code === '2.04') expect((await client.get(`${base}?k${i}`)).payload.equals(body)).toBe(true)
      })())
    }
    expect(outcomes).toHaveLength(4)
    expect(path.counts.dropped, 'the relay really dropped datagrams').toBeGreaterThan(2)
    // libcoap's deduplication: retransmitted blocks never ran the handler for more bodies than
    // were sent.
    expect(puts).toBeLessThanOrEqual(3)
    expect(outcomes.filter((o) => o.endsWith('ok')).length).toBeGreaterThanOrEqual(2)
  })
})

describe('duplication, reordering, delay and 10 % loss both ways', () => {
  const IMPAIRED: Impairment = { loss: 0.1, duplicate: 0.2, reorder: 0.2, delay: 20, jitter: 15 }

  it('a non-idempotent POST handler runs once per request; block-wise bodies arrive exactly', { timeout: 90_000 }, async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    const seen: string[] = []
    const stored = new Map<string, Buffer>()
    server.resource('/orders').post((req) => {
      seen.push(req.payload.toString())
      return { code: '2.01', payload: `order ${seen.length}` }
    })
    server.resource('/blob').get(() => pattern(8000, 9)).put((req) => {
      stored.set(req.query[0] ?? '', req.payload)
      return { code: '2.04' }
    })
    const [ep] = await server.listen()
    const path = await relay(ep.port, IMPAIRED, 777)
    const client = new CoapClient({ timeout: 40_000, parameters: { ackTimeout: 1, ackRandomFactor: 1, maxRetransmit: 6 } })
    cleanups.push(() => client.close())

    const posted: string[] = []
    for (let i = 0; i < 30; i++) {
      try {
        const res = await client.post(`coap://127.0.0.1:${path.port}/orders`, `#${i}`)
        expect(res.code).toBe('2.01')
        posted.push(`#${i}`)
      } catch (err) {
        expect((err as CoapError).code).toBe('ERR_COAP_TIMEOUT')
      }
    }
    // Duplicated and retransmitted requests reached the server; libcoap answered the copies from
    // its cache: each order ran once, and a request that timed out ran at most once.
    expect(new Set(seen).size, `handler runs ${JSON.stringify(seen)}`).toBe(seen.length)
    for (const p of posted) expect(seen).toContain(p)
    expect(posted.length).toBeGreaterThanOrEqual(25)

    const got = await client.get(`coap://127.0.0.1:${path.port}/blob`)
    expect(got.payload.equals(pattern(8000, 9)), 'an 8-block GET reassembled exactly').toBe(true)
    const body = pattern(6000, 21)
    const put = await client.put(`coap://127.0.0.1:${path.port}/blob?up`, body)
    expect(['2.04', '4.08']).toContain(put.code)
    if (put.code === '2.04') expect(stored.get('up')?.equals(body), 'a 6-block PUT reassembled exactly').toBe(true)
    expect(path.counts.duplicated).toBeGreaterThan(5)
    expect(path.counts.reordered).toBeGreaterThan(5)
  })

  it('observe converges to the last state', { timeout: 60_000 }, async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    let value = 0
    // CON notifications: over a lossy path only they are retransmitted until the client has them.
    const res = server.resource('/state', { observable: true, notifications: 'con' }).get(() => String(value))
    const [ep] = await server.listen()
    const path = await relay(ep.port, IMPAIRED, 4242)
    const client = new CoapClient({ timeout: 20_000, parameters: { ackTimeout: 1, ackRandomFactor: 1, maxRetransmit: 6 } })
    cleanups.push(() => client.close())
    const seen: number[] = []
    const controller = new AbortController()
    const following = (async () => {
      try {
        for await (const n of client.observe(`coap://127.0.0.1:${path.port}/state`, { signal: controller.signal })) seen.push(Number(n.text()))
      } catch (err) {
        if ((err as CoapError).code !== 'ERR_COAP_ABORTED') throw err
      }
    })()
    for (let i = 1; i <= 40; i++) {
      await sleep(25)
      value = i
      res.notify()
    }
    // Bounded wait for the last state to arrive.
    for (let t = 0; t < 200 && seen[seen.length - 1] !== 40; t++) await sleep(50)
    controller.abort()
    await following
    expect(seen[seen.length - 1], `notifications seen: ${seen.join(',')}`).toBe(40)
    // RFC 7641 §3.4: reordered notifications are not delivered out of order.
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1])
  })
})

// libcoap 4.3.5 processed every copy of a request again; deps/patches/0017 answers a copy with
// the response already sent (RFC 7252 §4.5), within EXCHANGE_LIFETIME, for CON and NON alike.
describe('duplicate requests', () => {
  it.each([['CON', 0x40], ['NON', 0x50]])('a %s request sent again 1.2 s later gets the same answer and runs its handler once', async (_, first) => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    let runs = 0
    server.resource('/counter').post(() => `run ${++runs}`)
    const [ep] = await server.listen()
    const sock = dgram.createSocket('udp4')
    cleanups.push(() => sock.close())
    const answers: Buffer[] = []
    sock.on('message', (m) => answers.push(m))
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve))
    // POST /counter, MID 0x1234, token 'ab', payload 'x'
    const post = Buffer.from([first | 2, 0x02, 0x12, 0x34, 0x61, 0x62, 0xb7, ...Buffer.from('counter'), 0xff, 0x78])
    sock.send(post, ep.port, '127.0.0.1')
    for (let i = 0; i < 100 && answers.length < 1; i++) await sleep(10)
    await sleep(1200)
    sock.send(post, ep.port, '127.0.0.1')
    for (let i = 0; i < 100 && answers.length < 2; i++) await sleep(10)
    expect(answers).toHaveLength(2)
    expect(answers[1].equals(answers[0]), 'the copy was answered with the same bytes').toBe(true)
    expect(answers[0].subarray(answers[0].indexOf(0xff) + 1).toString()).toBe('run 1')
    expect(runs).toBe(1)
    // A new message ID is a new request.
    const next = Buffer.from(post)
    next[3] = 0x35
    sock.send(next, ep.port, '127.0.0.1')
    for (let i = 0; i < 100 && answers.length < 3; i++) await sleep(10)
    expect(runs).toBe(2)
  })
})
