// RFC 7252 §4.8 transmission parameters through libcoap's session setters.
import * as dgram from 'node:dgram'
import { afterEach, describe, expect, it } from 'vitest'
import { CoapClient, CoapServer } from '../dist/index.js'
import { sleep } from './helpers/bytes'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function silentPeer(): Promise<{ port: number; received: () => number }> {
  const sock = dgram.createSocket('udp4')
  let n = 0
  sock.on('message', () => n++)
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve))
  cleanups.push(() => sock.close())
  return { port: (sock.address() as { port: number }).port, received: () => n }
}

describe('transmission parameters', () => {
  it('maxRetransmit and ackTimeout decide when libcoap gives up (ERR_COAP_TIMEOUT without a JS timeout)', async () => {
    const peer = await silentPeer()
    const client = new CoapClient({ timeout: 0, parameters: { ackTimeout: 1, ackRandomFactor: 1, maxRetransmit: 1 } })
    cleanups.push(() => client.close())
    const started = Date.now()
    await expect(client.get(`coap://127.0.0.1:${peer.port}/x`)).rejects.toMatchObject({ code: 'ERR_COAP_TIMEOUT', message: expect.stringMatching(/gave up retransmitting/) })
    const elapsed = Date.now() - started
    // 1 s, then 2 s after the one retransmission: about 3 s, far below the default ~45 s.
    expect(elapsed).toBeGreaterThan(2500)
    expect(elapsed).toBeLessThan(4500)
    expect(peer.received()).toBe(2)
  })

  it('nstart lets several requests to one server be in flight at once', async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    let inFlight = 0
    let most = 0
    server.resource('/slow').get(async () => {
      inFlight++
      most = Math.max(most, inFlight)
      await sleep(150)
      inFlight--
      return 'ok'
    })
    const [ep] = await server.listen()
    const client = new CoapClient({ timeout: 10_000, parameters: { nstart: 4 } })
    cleanups.push(() => client.close())
    await Promise.all(Array.from({ length: 8 }, () => client.get(`coap://127.0.0.1:${ep.port}/slow`)))
    expect(most).toBeGreaterThanOrEqual(2)
  })

  it.each([
    [{ ackTimeout: 0.5 }, RangeError, /ackTimeout must be 1–60/],
    [{ maxRetransmit: 1.5 }, RangeError, /maxRetransmit must be an integer/],
    [{ nstart: '2' }, TypeError, /nstart must be a number/],
    [{ burst: 1 }, TypeError, /unknown parameter 'burst'/],
  ])('rejects %o', (parameters, cls, msg) => {
    expect(() => new CoapClient({ parameters } as never)).toThrow(cls)
    expect(() => new CoapClient({ parameters } as never)).toThrow(msg)
  })
})
