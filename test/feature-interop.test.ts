// Feature interop on loopback, between our CoapClient/CoapServer and libcoap's own coap-client and
// coap-server (deps/.work/bin):
//
//   observe over DTLS (PSK) and TCP   our client ↔ our server (every state in order; `break` sends
//                                     the deregistration), coap-client -s 5 → our resource, and our
//                                     client → coap-server's /time
//   1 MiB block-wise over UDP         coap-client -b 1024 GET and PUT (Block2/Block1) against our
//                                     server; our client PUT + GET of coap-server's /example_data
//   1 MiB over TCP                    our client ↔ our server: one message with the default
//                                     Max-Message-Size, BERT blocks (SZX 7) when both announce less
//
// Every wait is bounded; servers, clients, relays and child processes are ended by the cleanups
// even when a test fails.
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { CoapClient, CoapServer } from '../dist/index.js'
import type { CoapRequest, ServerResource } from '../dist/index.js'
import { expectSameBytes, pattern, waitFor } from './helpers/bytes'
import { COAP_CLIENT, startCoapServer } from './helpers/peers'
import { startRelay, type RawFrame } from './helpers/raw-peers'
import { Code, Opt, decodeBlock, decodeUint } from './helpers/rfc8323.mjs'

type AnyOptions = Record<string, unknown>
type AnySession = { proto?: string; pskIdentity?: string; remote?: string }

const HOST = '127.0.0.1'
const KiB = 1024
const MiB = 1024 * KiB
const PSK_KEY = 'feature-interop-psk'
const OUR_IDENTITY = 'our-observer'
const LIBCOAP_IDENTITY = 'libcoap-observer'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

function newClient(options: AnyOptions = {}): CoapClient {
  const client = new CoapClient({ timeout: 8000, ...options } as ConstructorParameters<typeof CoapClient>[0])
  cleanups.push(() => client.close())
  return client
}

function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libcoap-feature-'))
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

interface ClientRun {
  code: number | null
  stdout: string
  stderr: string
  /** ms from spawn to exit */
  elapsed: number
}

// coap-client as a child process that a cleanup ends (SIGKILL) if the test fails before it exits;
// `limitMs` kills it in any case.
function runCoapClient(args: string[], limitMs = 15_000): Promise<ClientRun> {
  const started = Date.now()
  const child = spawn(COAP_CLIENT, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const timer = setTimeout(() => child.kill('SIGKILL'), limitMs)
  const done = new Promise<ClientRun>((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    // 'close' (not 'exit'): all output has been read.
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, elapsed: Date.now() - started })
    })
  })
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await done.catch(() => undefined)
  })
  return done
}

// coap-client reports problems in its output, never through its exit code: 4.xx/5.xx answers on
// stderr, libcoap's warnings and errors as log lines ("Nov 23 18:33:21.474 WARN …") on stdout.
function expectNoClientError(r: ClientRun, what: string): void {
  expect(r.code, `${what}: exit code`).toBe(0)
  expect(r.stderr, `${what}: coap-client stderr`).toBe('')
  const problems = r.stdout.split('\n').filter((l) => /\d\d:\d\d:\d\d\.\d{3} (EMRG|ALRT|CRIT|ERR|WARN)\b/.test(l))
  expect(problems, `${what}: coap-client's warnings and errors`).toEqual([])
}

// ---------------------------------------------------------------------------------------------
// Observe
// ---------------------------------------------------------------------------------------------

interface Transport {
  name: string
  scheme: 'coap' | 'coaps' | 'coap+tcp'
  /** What req.session.proto says on our server. */
  proto: string
  /** coap-client's security flags. */
  clientArgs: string[]
}
const DTLS: Transport = { name: 'coaps (DTLS-PSK)', scheme: 'coaps', proto: 'dtls', clientArgs: ['-k', PSK_KEY, '-u', LIBCOAP_IDENTITY] }
const TCP: Transport = { name: 'coap+tcp', scheme: 'coap+tcp', proto: 'tcp', clientArgs: [] }
const UDP: Transport = { name: 'coap (UDP)', scheme: 'coap', proto: 'udp', clientArgs: [] }

interface SeenGet {
  /** The request's Observe option (0 register, 1 deregister), undefined for a plain GET. */
  observe: number | undefined
  proto?: string
  psk?: string
  remote?: string
}

// Our server with an observable /counter whose state is a number, over one transport.
async function observableServer(t: Transport) {
  const server = new CoapServer({
    listen: `${t.scheme}://${HOST}:0`,
    ...(t.scheme === 'coaps' ? { psk: { hint: 'feature-hint', keys: { [OUR_IDENTITY]: PSK_KEY, [LIBCOAP_IDENTITY]: PSK_KEY } } } : {}),
  } as ConstructorParameters<typeof CoapServer>[0])
  cleanups.push(() => server.close())
  let value = 0
  const gets: SeenGet[] = []
  const events: string[] = []
  let onRegister: (() => void) | undefined
  const resource: ServerResource = server.resource('/counter', { observable: true }).get((req: CoapRequest) => {
    const s = req.session as unknown as AnySession
    const observe = req.option('Observe')[0] as number | undefined
    gets.push({ observe, proto: s.proto, psk: s.pskIdentity, remote: s.remote })
    if (observe === 0 && onRegister) {
      const fn = onRegister
      onRegister = undefined
      setImmediate(fn)
    }
    return String(value)
  })
  server.on('observe', (r, s) => events.push(`+${r.path} ${(s as unknown as AnySession).proto}`))
  server.on('unobserve', (r, s) => events.push(`-${r.path} ${(s as unknown as AnySession).proto}`))
  const [ep] = await server.listen()
  return {
    server,
    resource,
    gets,
    events,
    url: (p = '/counter') => `${t.scheme}://${HOST}:${ep.port}${p}`,
    /** Changes the state and tells libcoap; false when nobody observes. */
    bump: (): boolean => {
      value++
      return resource.notify()
    },
    state: () => value,
    /** Runs `fn` (once) right after the next registration has been handled. */
    onRegister: (fn: () => void) => (onRegister = fn),
  }
}

describe.each([DTLS, TCP])('observe over $name', (t) => {
  it('our client sees every new state of our resource in order; break deregisters', async () => {
    const s = await observableServer(t)
    const client = newClient({ psk: { identity: OUR_IDENTITY, key: PSK_KEY } })
    const seen: string[] = []
    const observeNumbers: number[] = []
    // Bounds the whole observation: a lost notification ends it with ERR_COAP_ABORTED.
    const signal = AbortSignal.timeout(5000)
    for await (const n of client.observe(s.url(), { signal, timeout: 5000 })) {
      expect(n.code).toBe('2.05')
      seen.push(n.text())
      observeNumbers.push(n.option('Observe')[0] as number)
      if (seen.length === 5) break
      // The next state only once the client has seen this one: none may be skipped.
      expect(s.bump(), 'notify() finds the observer').toBe(true)
    }
    expect(seen).toEqual(['0', '1', '2', '3', '4'])
    for (let i = 1; i < observeNumbers.length; i++) expect(observeNumbers[i], `Observe numbers ${observeNumbers}`).toBeGreaterThan(observeNumbers[i - 1])

    // `break` sent a GET with Observe=1 (the client is still open, so this is no session teardown)
    // and libcoap dropped the subscription: notify() finds nobody.
    await waitFor(() => s.gets.some((g) => g.observe === 1), 2000, 'the deregistration GET (Observe=1)')
    expect(s.resource.notify(), 'notify() after the deregistration').toBe(false)
    expect(s.gets.filter((g) => g.observe === 1), 'one deregistration').toHaveLength(1)
    // (libcoap re-runs the stored registration GET, Observe=0, for each notification.)
    expect(s.gets.filter((g) => g.observe === 0), 'registration + one GET per notification').toHaveLength(5)
    expect(new Set(s.gets.map((g) => g.proto))).toEqual(new Set([t.proto]))
    if (t.scheme === 'coaps') expect(new Set(s.gets.map((g) => g.psk))).toEqual(new Set([OUR_IDENTITY]))

    // The session is still usable afterwards.
    const plain = await client.get(s.url())
    expect(plain.text()).toBe('4')
    expect(plain.option('Observe')).toEqual([])
  })

  it('coap-client -s 5 observes our resource and sees each notification in order, then deregisters', async () => {
    const s = await observableServer(t)
    let ticker: NodeJS.Timeout | undefined
    cleanups.push(() => clearInterval(ticker))
    // Notifications start once coap-client's registration is in.
    // They stop when its deregistration arrives, so it can have seen (nearly) the last state.
    s.onRegister(() => {
      ticker = setInterval(() => {
        if (s.gets.some((g) => g.observe === 1)) clearInterval(ticker)
        else s.bump()
      }, 250)
    })
    const r = await runCoapClient([...t.clientArgs, '-B', '10', '-s', '5', '-v', '7', s.url()])
    clearInterval(ticker)
    const lastState = s.state()
    const log = `${r.stdout}\n${r.stderr}`
    expect(r.code, log.slice(-3000)).toBe(0)
    expect(r.elapsed, 'coap-client observed for its -s 5 seconds').toBeGreaterThan(4500)
    expect(r.elapsed).toBeLessThan(9000)

    // coap-client logs every PDU at -v 7: "v:1 t:NON c:2.05 i:… {} [ Observe:3, … ] :: '1'" (UDP,
    // DTLS) or "v:Reliable c:2.05 {} [ Observe:3, … ] :: '1'" (TCP).
    const received = [...log.matchAll(/v:\S+ (?:t:\S+ )?c:2\.05 [^\n]*?\[ ([^\]\n]*)\] :: '(\d+)'/g)]
      .map((m) => ({ observe: /(?:^|, )Observe:(\d*)/.exec(m[1])?.[1], value: Number(m[2]) }))
    const notifications = received.filter((m) => m.observe !== undefined)
    const values = notifications.map((m) => m.value)
    // The first answer carries the state at registration (0), then one notification per change.
    expect(values.length, `values coap-client saw: ${values}`).toBeGreaterThanOrEqual(10)
    expect(values, 'every state, in order, none skipped').toEqual(Array.from({ length: values.length }, (_, i) => i))
    expect(values[values.length - 1], 'coap-client saw (nearly) the last state').toBeGreaterThanOrEqual(lastState - 1)
    const numbers = notifications.map((m) => Number(m.observe))
    for (let i = 1; i < numbers.length; i++) expect(numbers[i], `Observe numbers ${numbers}`).toBeGreaterThan(numbers[i - 1])

    // At the end of -s, coap-client deregisters (GET with Observe=1), and our handler saw it.
    expect(log).toMatch(/c:GET [^\n]*\[ [^\]\n]*Observe:1\b/)
    expect(s.gets.filter((g) => g.observe === 1), 'one deregistration').toHaveLength(1)
    // Each notification re-ran the stored registration GET (Observe=0): one per state coap-client saw.
    expect(s.gets.filter((g) => g.observe === 0).length).toBeGreaterThanOrEqual(values.length)
    expect(new Set(s.gets.filter((g) => g.observe === 0).map((g) => g.remote)).size, 'one observer').toBe(1)
    expect(new Set(s.gets.map((g) => g.proto))).toEqual(new Set([t.proto]))
    if (t.scheme === 'coaps') expect(new Set(s.gets.map((g) => g.psk))).toEqual(new Set([LIBCOAP_IDENTITY]))
    expect(s.resource.notify(), 'nobody observes after coap-client left').toBe(false)
  })

  it("our client observes coap-server's /time: a notification each second, break deregisters", async () => {
    // -v 7: coap-server logs the subscriptions it creates and removes, and every PDU.
    const server = await startCoapServer(['-k', PSK_KEY, '-h', 'coap-server-hint', '-v', '7'])
    cleanups.push(() => server.stop())
    const url = t.scheme === 'coaps' ? `coaps://${HOST}:${server.port + 1}/time` : `coap+tcp://${HOST}:${server.port}/time`
    const client = newClient({ psk: { identity: OUR_IDENTITY, key: PSK_KEY } })
    const seen: Array<{ at: number; text: string; observe: number }> = []
    const started = Date.now()
    const signal = AbortSignal.timeout(6000)
    for await (const n of client.observe(url, { signal, timeout: 5000 })) {
      expect(n.code).toBe('2.05')
      seen.push({ at: Date.now() - started, text: n.text(), observe: n.option('Observe')[0] as number })
      if (seen.length === 3) break
    }
    for (const n of seen) expect(n.text).toMatch(/^[A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2}$/)
    expect(new Set(seen.map((n) => n.text)).size, 'three different times').toBe(3)
    expect(seen[1].observe).toBeGreaterThan(seen[0].observe)
    expect(seen[2].observe).toBeGreaterThan(seen[1].observe)
    // coap-server notifies on each new second.
    expect(seen[2].at - seen[1].at).toBeGreaterThan(700)
    expect(seen[2].at - seen[1].at).toBeLessThan(2000)

    // coap-server made one subscription and removed it on our deregistration (same token).
    const created = [...server.output().matchAll(/c:GET [^\n]*\{([0-9a-f]*)\} \[ Observe:,[^\n]*Uri-Path:time/g)]
    expect(created.length, server.output().slice(-3000)).toBeGreaterThanOrEqual(1)
    const token = created[0][1]
    expect(server.output().match(/create new subscription/g)).toHaveLength(1)
    await waitFor(() => server.output().includes(`removed subscription`), 2000, 'coap-server to remove the subscription')
    expect(server.output()).toMatch(new RegExp(`c:GET [^\\n]*\\{${token}\\} \\[ Observe:1,[^\\n]*Uri-Path:time`))
    expect(server.output()).toMatch(new RegExp(`removed subscription \\S+ with token '${token}'`))
  })
})

// The observer count and events come from libcoap's observe_added/observe_deleted hooks; 4.3.5
// called observe_added for UDP sessions only (deps/patches/0008 makes it every transport).
describe.each([UDP, DTLS, TCP])("observer count and 'observe'/'unobserve' events over $name", (t) => {
  it('resource.observers is 1 while our client observes and 0 after break; both events fire', async () => {
    const s = await observableServer(t)
    const client = newClient({ psk: { identity: OUR_IDENTITY, key: PSK_KEY } })
    const observation = client.observe(s.url(), { timeout: 5000 })
    cleanups.push(() => observation.return(undefined))
    const first = await observation.next()
    expect(first.done).toBe(false)
    expect(s.resource.notify(), 'libcoap has the subscription').toBe(true)
    expect(s.resource.observers, 'resource.observers while observed').toBe(1)
    expect(s.events).toEqual([`+/counter ${t.proto}`])
    await observation.return(undefined)
    await waitFor(() => s.gets.some((g) => g.observe === 1), 2000, 'the deregistration GET')
    await waitFor(() => s.resource.observers === 0, 2000, 'resource.observers to drop to 0')
    expect(s.events).toEqual([`+/counter ${t.proto}`, `-/counter ${t.proto}`])
  })
})

// ---------------------------------------------------------------------------------------------
// 1 MiB block-wise over UDP
// ---------------------------------------------------------------------------------------------

describe('1 MiB block-wise over UDP with libcoap', () => {
  async function bigServer() {
    const server = new CoapServer({ listen: `coap://${HOST}:0` })
    cleanups.push(() => server.close())
    const download = pattern(MiB, 21)
    const uploads: Buffer[] = []
    server.resource('/big')
      .get(() => download)
      .put((req) => {
        uploads.push(Buffer.from(req.payload))
        return { code: '2.04', payload: `got ${req.payload.length}` }
      })
    const [ep] = await server.listen()
    return { download, uploads, url: `coap://${HOST}:${ep.port}/big` }
  }

  it('coap-client -b 1024 GETs 1 MiB from our server byte for byte, in 1024 Block2 blocks', async () => {
    const s = await bigServer()
    const out = path.join(tmpDir(), 'big.out')
    // -v 6: coap-client logs each PDU it receives.
    const r = await runCoapClient(['-B', '10', '-b', '1024', '-m', 'get', '-v', '6', '-o', out, s.url])
    expectNoClientError(r, 'GET 1 MiB')
    expect(r.elapsed, 'a few seconds at most on loopback').toBeLessThan(5000)
    expectSameBytes(fs.readFileSync(out), s.download, 'what coap-client wrote with -o')
    const blocks = [...r.stdout.matchAll(/c:2\.05 [^\n]*Block2:(\d+)\/([M_])\/1024/g)].map((m) => ({ num: Number(m[1]), more: m[2] === 'M' }))
    expect(new Set(blocks.map((b) => b.num)).size, 'distinct Block2 numbers').toBe(1024)
    expect(Math.max(...blocks.map((b) => b.num))).toBe(1023)
    expect(blocks.filter((b) => !b.more).map((b) => b.num), 'only the last block has M=0').toEqual([1023])
  })

  it('coap-client -m put -f -b 1024 uploads 1 MiB (Block1); our handler gets the exact bytes once', async () => {
    const s = await bigServer()
    const file = path.join(tmpDir(), 'up.bin')
    const body = pattern(MiB, 22)
    fs.writeFileSync(file, body)
    // -v 7: coap-client also logs the PDUs it sends.
    const r = await runCoapClient(['-B', '10', '-b', '1024', '-m', 'put', '-f', file, '-v', '7', s.url])
    expectNoClientError(r, 'PUT 1 MiB')
    expect(r.elapsed, 'a few seconds at most on loopback').toBeLessThan(5000)
    expect(s.uploads, 'the PUT handler ran once, for the whole body').toHaveLength(1)
    expectSameBytes(s.uploads[0], body, 'what our handler received')
    const sent = new Set([...r.stdout.matchAll(/c:PUT [^\n]*Block1:(\d+)\/[M_]\/1024\b/g)].map((m) => Number(m[1])))
    expect(sent.size, 'distinct Block1 numbers sent').toBe(1024)
    expect(Math.max(...sent)).toBe(1023)
    expect((r.stdout.match(/c:2\.31 /g) ?? []).length, '2.31 Continue for every block but the last').toBeGreaterThanOrEqual(1023)
    expect(r.stdout).toMatch(/c:2\.04 [^\n]*:: 'got 1048576'/)
  })

  it("our client PUTs 1 MiB to coap-server's /example_data and GETs it back byte for byte", async () => {
    const server = await startCoapServer()
    cleanups.push(() => server.stop())
    const client = newClient({ timeout: 10_000 })
    const body = pattern(MiB, 23)
    let started = Date.now()
    const put = await client.put(server.url('/example_data'), body, { contentFormat: 'application/octet-stream' })
    expect(['2.01', '2.04'], `PUT: ${put.code} ${put.text()}`).toContain(put.code)
    expect(Date.now() - started, 'PUT took a few seconds at most').toBeLessThan(5000)
    started = Date.now()
    const get = await client.get(server.url('/example_data'))
    expect(Date.now() - started, 'GET took a few seconds at most').toBeLessThan(5000)
    expect(get.code).toBe('2.05')
    expect(get.contentFormat).toBe(42)
    expectSameBytes(get.payload, body, 'GET /example_data after the 1 MiB PUT')
    expect(server.output(), 'coap-server logged no error').not.toMatch(/\b(ERR|CRIT|EMRG)\b/)
  })
})

// ---------------------------------------------------------------------------------------------
// 1 MiB over TCP, our client ↔ our server (through a relay that parses every message)
// ---------------------------------------------------------------------------------------------

describe('1 MiB over TCP between our client and our server', () => {
  async function relayed(maxMessageSize?: number) {
    const limit = maxMessageSize === undefined ? {} : { maxMessageSize }
    const server = new CoapServer({ listen: `coap+tcp://${HOST}:0`, ...limit })
    cleanups.push(() => server.close())
    const download = pattern(MiB, 31)
    const uploads: Buffer[] = []
    server.resource('/big')
      .get(() => download)
      .put((req) => {
        uploads.push(Buffer.from(req.payload))
        return { code: '2.04' }
      })
    const [ep] = await server.listen()
    const relay = await startRelay(ep.port)
    cleanups.push(() => relay.stop())
    const client = newClient({ timeout: 10_000, ...limit })
    return { client, relay, download, uploads, url: `coap+tcp://${HOST}:${relay.port}/big` }
  }

  const blockOf = (f: RawFrame, n: number) => {
    const o = f.options.find(([num]) => num === n)
    return o ? decodeBlock(Buffer.from(o[1], 'hex')) : undefined
  }
  const csm = (frames: RawFrame[], dir: 'c2s' | 's2c') => frames.find((f) => f.dir === dir && f.code === Code.CSM)
  const csmMax = (f: RawFrame | undefined) => {
    const o = f?.options.find(([n]) => n === Opt.MAX_MESSAGE_SIZE)
    return o ? decodeUint(Buffer.from(o[1], 'hex')) : undefined
  }

  it('default Max-Message-Size (8 MiB + 256): 1 MiB both ways byte for byte, one message each', async () => {
    const s = await relayed()
    const body = pattern(MiB, 32)
    let started = Date.now()
    expect((await s.client.put(s.url, body)).code).toBe('2.04')
    expect(Date.now() - started).toBeLessThan(5000)
    expect(s.uploads).toHaveLength(1)
    expectSameBytes(s.uploads[0], body, 'what our server received')
    started = Date.now()
    const get = await s.client.get(s.url)
    expect(Date.now() - started).toBeLessThan(5000)
    expectSameBytes(get.payload, s.download, 'what our client received')
    await s.relay.flush()
    const frames = s.relay.frames
    expect(csmMax(csm(frames, 'c2s'))).toBe(8 * MiB + 256)
    expect(csmMax(csm(frames, 's2c'))).toBe(8 * MiB + 256)
    const puts = frames.filter((f) => f.dir === 'c2s' && f.code === Code.PUT)
    const contents = frames.filter((f) => f.dir === 's2c' && f.code === Code.CONTENT)
    expect(puts.map((f) => f.payloadLength), 'the PUT went as one message').toEqual([MiB])
    expect(contents.map((f) => f.payloadLength), 'the 2.05 came as one message').toEqual([MiB])
    expect(blockOf(puts[0], Opt.BLOCK1)).toBeUndefined()
    expect(blockOf(contents[0], Opt.BLOCK2)).toBeUndefined()
  })

  it('both announce Max-Message-Size 16896: 1 MiB both ways in BERT blocks (SZX 7) of several KiB', async () => {
    const MAX = 16 * KiB + 512
    const s = await relayed(MAX)
    const body = pattern(MiB, 33)
    let started = Date.now()
    expect((await s.client.put(s.url, body)).code).toBe('2.04')
    expect(Date.now() - started).toBeLessThan(5000)
    expect(s.uploads, 'the PUT handler ran once, for the whole body').toHaveLength(1)
    expectSameBytes(s.uploads[0], body, 'what our server received')
    started = Date.now()
    const get = await s.client.get(s.url)
    expect(Date.now() - started).toBeLessThan(5000)
    expect(get.code).toBe('2.05')
    expectSameBytes(get.payload, s.download, 'what our client received')
    await s.relay.flush()
    const frames = s.relay.frames
    expect(s.relay.events.filter((e) => e.type === 'parse-error'), 'the relay parsed every message').toEqual([])

    // Both CSMs: Max-Message-Size 16896 and Block-Wise-Transfer (what lets the peer use BERT).
    for (const dir of ['c2s', 's2c'] as const) {
      const m = csm(frames, dir)
      expect(csmMax(m), `${dir} CSM Max-Message-Size`).toBe(MAX)
      expect(m!.options.some(([n]) => n === Opt.BLOCK_WISE_TRANSFER), `${dir} CSM Block-Wise-Transfer`).toBe(true)
    }
    expect(Math.max(...frames.map((f) => f.size)), 'no message exceeds the peer limit').toBeLessThanOrEqual(MAX)

    // Each direction: a chain of BERT blocks whose numbers count 1 KiB units, covering 1 MiB.
    const chain = (messages: RawFrame[], option: number, what: string) => {
      expect(messages.length, `${what}: messages`).toBeGreaterThan(1)
      let offset = 0
      messages.forEach((f, i) => {
        const b = blockOf(f, option)!
        expect(b, `${what} #${i}: block option`).toBeDefined()
        expect(b.szx, `${what} #${i}: SZX 7 (BERT)`).toBe(7)
        expect(b.num * 1024, `${what} #${i}: block number × 1024 = offset`).toBe(offset)
        expect(b.more, `${what} #${i}: M set on all but the last`).toBe(i < messages.length - 1)
        if (b.more) {
          expect(f.payloadLength % 1024, `${what} #${i}: payload a multiple of 1 KiB`).toBe(0)
          expect(f.payloadLength, `${what} #${i}: several 1 KiB blocks in one message`).toBeGreaterThan(1024)
        }
        offset += f.payloadLength
      })
      expect(offset, `${what}: bytes in all blocks`).toBe(MiB)
    }
    const puts = frames.filter((f) => f.dir === 'c2s' && f.code === Code.PUT)
    chain(puts, Opt.BLOCK1, 'PUT Block1')
    const putAnswers = frames.filter((f) => f.dir === 's2c' && (f.code === 0x5f || f.code === Code.CHANGED))
    expect(putAnswers.map((f) => f.code), 'a 2.31 Continue for every block but the last, then 2.04').toEqual([
      ...Array.from({ length: puts.length - 1 }, () => 0x5f),
      Code.CHANGED,
    ])
    chain(frames.filter((f) => f.dir === 's2c' && f.code === Code.CONTENT), Opt.BLOCK2, 'GET Block2')
  })
})
