// What SECURITY.md promises about the build: OSCORE is compiled out (4.3.5's OSCORE code has
// known over-reads), so a request protected with OSCORE is refused like any unknown critical
// option, and the server keeps serving.
import { afterEach, describe, expect, it } from 'vitest'
import * as dgram from 'node:dgram'
import { CoapClient, CoapServer, capabilities } from '../dist/index.js'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

/** Sends one datagram to 127.0.0.1:port and resolves with the first answer (bounded). */
function exchange(port: number, message: Buffer, ms = 3000): Promise<Buffer> {
  const sock = dgram.createSocket('udp4')
  return new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.close()
      reject(new Error(`no answer within ${ms} ms`))
    }, ms)
    sock.once('message', (msg) => {
      clearTimeout(timer)
      sock.close()
      resolve(msg)
    })
    sock.send(message, port, '127.0.0.1')
  })
}

describe('OSCORE compiled out (SECURITY.md)', () => {
  it('capabilities() says so', () => {
    expect(capabilities().oscore).toBe(false)
  })

  it('a CON GET carrying an OSCORE option gets 4.02 Bad Option, and the server still serves', async () => {
    const server = new CoapServer({ listen: 'coap://127.0.0.1:0' })
    cleanups.push(() => server.close())
    server.resource('/hello').get(() => 'hi')
    const [ep] = await server.listen()
    // CON GET, MID 0x1234, token 0xab, then options in number order: OSCORE (9, critical, one
    // flags byte) and Uri-Path (11) "hello".
    const request = Buffer.from([0x41, 0x01, 0x12, 0x34, 0xab, 0x91, 0x09, 0x25, ...Buffer.from('hello')])
    const answer = await exchange(ep.port, request)
    expect(answer[0] >> 6, 'version').toBe(1)
    expect((answer[0] >> 4) & 3, 'type: ACK').toBe(2)
    expect(answer[1], 'code 4.02').toBe((4 << 5) | 2)
    expect(answer.readUInt16BE(2), 'message id').toBe(0x1234)
    const client = new CoapClient({ timeout: 5000 })
    cleanups.push(() => client.close())
    const res = await client.get(`coap://127.0.0.1:${ep.port}/hello`)
    expect([res.code, res.text()]).toEqual(['2.05', 'hi'])
  })
})
