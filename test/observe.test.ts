// Observe (RFC 7641) through libcoap: server notify(), client async iteration, deregistration,
// and interop with libcoap's coap-server (/time) and coap-client (-s).
import { spawn, type ChildProcess } from 'node:child_process'
import * as dgram from 'node:dgram'
import { once } from 'node:events'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { CoapClient, CoapServer } from '../dist/index.js'
import { sleep, waitFor } from './helpers/bytes'
import { coapClient, startCoapServer } from './helpers/peers'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function observableServer(scheme = 'coap'): Promise<{ url: string; bump: () => boolean; state: () => number }> {
  const server = new CoapServer({ listen: `${scheme}://127.0.0.1:0`, ...(scheme.startsWith('coaps') ? { psk: { key: PSK } } : {}) })
  cleanups.push(() => server.close())
  let value = 0
  const resource = server.resource('/counter', { observable: true }).get(() => String(value))
  server.resource('/plain').get(() => 'not observable')
  const [ep] = await server.listen()
  return {
    url: `${scheme}://127.0.0.1:${ep.port}`,
    bump: () => {
      value++
      return resource.notify()
    },
    state: () => value,
  }
}

const PSK = 'observe-key'

function newClient(): CoapClient {
  const c = new CoapClient({ timeout: 5000, psk: { identity: 'observer', key: PSK } })
  cleanups.push(() => c.close())
  return c
}

describe.each(['coap', 'coaps', 'coap+tcp', 'coaps+tcp', 'coap+ws'])('observe over %s', (scheme) => {
  it('yields the current state, then every notification in order; break deregisters', async () => {
    const s = await observableServer(scheme)
    const client = newClient()
    const seen: string[] = []
    const ticker = setInterval(() => s.bump(), 30)
    try {
      for await (const n of client.observe(`${s.url}/counter`)) {
        expect(n.ok).toBe(true)
        expect(typeof n.option('Observe')[0]).toBe('number')
        seen.push(n.text())
        if (seen.length === 6) break
      }
    } finally {
      clearInterval(ticker)
    }
    const numbers = seen.map(Number)
    // The first answer is the state when the registration arrived (the ticker may have run once
    // while a TCP/WebSocket connection was being set up).
    expect(numbers[0]).toBeLessThanOrEqual(1)
    for (let i = 1; i < numbers.length; i++) expect(numbers[i]).toBeGreaterThan(numbers[i - 1])
    // The deregistration (GET with Observe=1) reaches the server: no observer is left.
    let left = true
    for (let i = 0; i < 50 && left; i++) {
      await sleep(20)
      left = s.bump()
    }
    expect(left).toBe(false)
  })

  it('an AbortSignal ends the observation with ERR_COAP_ABORTED and deregisters', async () => {
    const s = await observableServer(scheme)
    const client = newClient()
    const ac = new AbortController()
    const seen: string[] = []
    const run = (async () => {
      for await (const n of client.observe(`${s.url}/counter`, { signal: ac.signal })) {
        seen.push(n.text())
        if (seen.length === 2) ac.abort(new Error('enough'))
        else s.bump()
      }
    })()
    await expect(run).rejects.toMatchObject({ code: 'ERR_COAP_ABORTED' })
    expect(seen.length).toBe(2)
    let left = true
    for (let i = 0; i < 50 && left; i++) {
      await sleep(20)
      left = s.bump()
    }
    expect(left).toBe(false)
  })

  it('a resource that is not observable answers once and the iteration ends by itself', async () => {
    const s = await observableServer(scheme)
    const client = newClient()
    const all: string[] = []
    for await (const n of client.observe(`${s.url}/plain`)) all.push(n.text())
    expect(all).toEqual(['not observable'])
  })
})

// A GET handler that answers later (a Promise) serves registrations and notifications alike:
// the registration's answer carries Observe, and each notification is sent when its Promise
// settles, to every observer (deps/patches/0018 keeps libcoap notifying the others meanwhile).
describe.each([['piggybacked (answer within separateResponseAfter)', 5], ['separate (answer after it)', 700]])('async GET handler on an observable resource, %s', (_, delay) => {
  it('two observers get the registration answer with Observe and every later state, in order', async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    let value = 0
    const resource = server.resource('/slow', { observable: true }).get(async () => {
      const v = value
      await sleep(delay)
      return `v${v}`
    })
    const [ep] = await server.listen()
    const follow = async (): Promise<string[]> => {
      const seen: string[] = []
      for await (const n of newClient().observe(`coap://127.0.0.1:${ep.port}/slow`, { timeout: 5000 })) {
        expect(n.option('Observe'), `Observe option on '${n.text()}'`).toHaveLength(1)
        seen.push(n.text())
        if (n.text() === 'v3') break
      }
      return seen
    }
    const a = follow()
    const b = follow()
    await waitFor(() => resource.observers === 2, 5000, 'two observers registered')
    for (let i = 1; i <= 3; i++) {
      value = i
      resource.notify()
      await sleep(delay + 150)
    }
    for (const seen of await Promise.all([a, b])) {
      expect(seen[0]).toBe('v0')
      expect(seen[seen.length - 1]).toBe('v3')
      expect([...seen].sort()).toEqual(seen) // in order, none twice
    }
  }, 20_000)
})

describe('observe interop with libcoap', () => {
  it("our client observes coap-server's /time and gets notifications every second", async () => {
    const server = await startCoapServer()
    cleanups.push(() => server.stop())
    const client = newClient()
    const times: number[] = []
    const started = Date.now()
    for await (const n of client.observe(server.url('/time'), { timeout: 5000 })) {
      expect(n.ok).toBe(true)
      times.push(Date.now() - started)
      if (times.length === 3) break
    }
    // coap-server notifies on each new second: the 2nd comes at the next tick, the 3rd a second later.
    expect(times[2] - times[1]).toBeGreaterThan(700)
    expect(times[2]).toBeLessThan(6000)
  })

  it('coap-client -s observes our resource and sees our notifications', async () => {
    const s = await observableServer()
    const ticker = setInterval(() => s.bump(), 300)
    cleanups.push(() => clearInterval(ticker))
    const res = await coapClient(['-B', '3', '-s', '2', '-v', '6', `${s.url}/counter`], { timeoutMs: 10_000 })
    // One line per message received: "... c:2.05 ... [ Observe:N, ... ] :: 'value'".
    const values = [...res.stdout.matchAll(/c:2\.05 .*Observe:\d+.*:: '(\d+)'/g)].map((m) => Number(m[1]))
    expect(values.length).toBeGreaterThanOrEqual(3)
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThan(values[i - 1])
  })
})

describe('notify() errors', () => {
  it('a resource created without observable: true refuses notify()', async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    const r = server.resource('/x').get(() => 'x')
    expect(() => r.notify()).toThrow(RangeError)
  })
})

describe("'observe'/'unobserve' events and the observer count", () => {
  it('count follows registrations, deregistrations and observers that went away', async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    let value = 0
    const resource = server.resource('/c', { observable: true }).get(() => String(value))
    const events: string[] = []
    server.on('observe', (r, s) => events.push(`+${r.path} ${s.remote}`))
    server.on('unobserve', (r, s) => events.push(`-${r.path} ${s.remote}`))
    const [ep] = await server.listen()
    const url = `coap://127.0.0.1:${ep.port}/c`
    const ticker = setInterval(() => {
      value++
      resource.notify()
    }, 30)
    cleanups.push(() => clearInterval(ticker))

    const a = newClient()
    const first = a.observe(url)
    await first.next()
    expect(resource.observers).toBe(1)
    const b = new CoapClient({ timeout: 5000 })
    const second = b.observe(url)
    await second.next()
    expect(resource.observers).toBe(2)
    await first.return(undefined) // deregisters
    // b goes away without deregistering: libcoap drops it when a notification bounces.
    await b.close()
    for (let i = 0; i < 100 && resource.observers > 0; i++) await sleep(20)
    expect(resource.observers).toBe(0)
    expect(events.filter((e) => e.startsWith('+'))).toHaveLength(2)
    expect(events.filter((e) => e.startsWith('-'))).toHaveLength(2)
  })
})

describe('re-registration (RFC 7641 §3.3.1)', () => {
  async function startServer(scheme: string, port: number, name: string): Promise<{ child: ChildProcess; port: number }> {
    const child = spawn(process.execPath, [path.join(__dirname, 'fixtures/observe-server.js'), scheme, String(port), name])
    cleanups.push(() => child.kill('SIGKILL'))
    const [line] = await Promise.race([
      once(child.stdout!, 'data') as Promise<[Buffer]>,
      sleep(10_000).then(() => { throw new Error('observe-server did not start') }),
    ])
    return { child, port: Number(String(line)) }
  }

  it.each(['coap', 'coap+tcp'])('over %s, a server that crashed and came back is observed again', async (scheme) => {
    let server = await startServer(scheme, 0, 'A')
    const client = newClient()
    const seen: string[] = []
    for await (const res of client.observe(`${scheme}://127.0.0.1:${server.port}/o`)) {
      seen.push(res.text())
      if (seen.length === 2) {
        // No goodbye: over UDP the client notices only when Max-Age (1 s) passes without news,
        // over TCP when the connection drops.
        server.child.kill('SIGKILL')
        await once(server.child, 'exit')
        server = await startServer(scheme, server.port, 'B')
      }
      if (res.text() === 'B-2') break
      if (seen.length > 30) throw new Error(`never re-registered: ${seen.join(' ')}`)
    }
    expect(seen.slice(0, 2)).toEqual(['A-0', 'A-1'])
    expect(seen.slice(-3)).toEqual(['B-0', 'B-1', 'B-2'])
  }, 20_000)

  it('gives up with the error after a few failed attempts when the server stays away', async () => {
    const server = await startServer('coap+tcp', 0, 'A')
    const client = newClient()
    const started = Date.now()
    let error: unknown
    try {
      for await (const res of client.observe(`coap+tcp://127.0.0.1:${server.port}/o`)) {
        if (res.text() === 'A-0') server.child.kill('SIGKILL')
      }
    } catch (err) {
      error = err
    }
    expect(error).toMatchObject({ code: 'ERR_COAP_CONNECTION' })
    // Three attempts: at once, then 1 s and 2 s later.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2900)
  }, 20_000)
})

describe('observeStream(): the EventEmitter form', () => {
  it("emits 'data' per notification, and destroy() deregisters", async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    let value = 0
    const resource = server.resource('/counter', { observable: true }).get(() => String(value))
    const [ep] = await server.listen()
    const stream = newClient().observeStream(`coap://127.0.0.1:${ep.port}/counter`)
    const seen: string[] = []
    await new Promise<void>((resolve, reject) => {
      stream.on('error', reject)
      stream.on('data', (res: { text(): string }) => {
        seen.push(res.text())
        if (seen.length < 3) {
          value++
          resource.notify()
        } else {
          stream.destroy()
          resolve()
        }
      })
    })
    expect(seen).toEqual(['0', '1', '2'])
    await waitFor(() => resource.observers === 0, 3000, 'the deregistration')
    expect(resource.notify()).toBe(false)
  })
})

// The server side of patch 0019: libcoap took its pending CON notification off the send queue
// when the observer sent a NON message that happened to carry the same MID. The notification
// was never retransmitted, con_active stayed up, and once COAP_OBS_MAX_NON NON notifications had
// gone out that observer got nothing more, for good.
describe('a NON message with the MID of a pending CON notification', () => {
  it('leaves the notification to be retransmitted, and notifications go on', { timeout: 15_000 }, async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0', parameters: { ackTimeout: 1, ackRandomFactor: 1 } })
    cleanups.push(() => server.close())
    let n = 0
    const res = server.resource('/n', { observable: true }).get(() => String(n))
    const [ep] = await server.listen()
    const timer = setInterval(() => {
      n++
      res.notify()
    }, 40)
    cleanups.push(() => clearInterval(timer))
    const sock = dgram.createSocket('udp4')
    cleanups.push(() => new Promise<void>((resolve) => sock.close(() => resolve())))
    const send = (b: Buffer): void => sock.send(b, ep.port, '127.0.0.1')
    let injected: number | undefined // the MID of the CON notification we answered with a NON
    const conMids: number[] = []
    let after = 0 // notifications received after that CON's retransmission
    sock.on('message', (m) => {
      const type = (m[0]! >> 4) & 3
      const mid = m.readUInt16BE(2)
      const token = m.subarray(4, 4 + (m[0]! & 0x0f))
      if (token.length !== 1 || token[0] !== 0x01 || m[1] !== 0x45) return // not a notification of ours
      if (type === 0) conMids.push(mid)
      if (injected !== undefined && conMids.filter((x) => x === injected).length > 1) after++
      if (type !== 0) return
      if (injected === undefined) {
        injected = mid
        // A NON GET (token 0x02, Uri-Path "n") with the same MID; the CON itself is not ACKed.
        send(Buffer.from([0x51, 0x01, m[2]!, m[3]!, 0x02, 0xb1, 0x6e]))
        return
      }
      send(Buffer.from([0x60, 0x00, m[2]!, m[3]!])) // ACK
    })
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()))
    // CON GET /n with Observe 0, token 0x01.
    send(Buffer.from([0x41, 0x01, 0x10, 0x00, 0x01, 0x60, 0x51, 0x6e]))
    await waitFor(() => after >= 10, 8000, 'notifications after the retransmitted CON notification')
    expect(conMids.filter((x) => x === injected).length, 'the CON notification was retransmitted').toBeGreaterThanOrEqual(2)
  })
})
