import { describe, it, expect } from 'vitest'
import { COAP_CLIENT, COAP_SERVER, coapClient, freePort, startCoapServer } from './helpers/peers'
import * as fs from 'node:fs'

describe('libcoap peer helpers', () => {
  it('finds the built tools and free ports', async () => {
    expect(fs.existsSync(COAP_CLIENT)).toBe(true)
    expect(fs.existsSync(COAP_SERVER)).toBe(true)
    const udp = await freePort()
    const tcp = await freePort('tcp')
    expect(udp).toBeGreaterThan(0)
    expect(tcp).toBeGreaterThan(0)
  })

  it('coap-client talks to coap-server: GET /, PUT and GET /example_data', async () => {
    const server = await startCoapServer()
    try {
      expect(server.url('/x')).toBe(`coap://127.0.0.1:${server.port}/x`)

      const index = await coapClient(['-B', '5', '-m', 'get', server.url('/')])
      expect(index.code).toBe(0)
      expect(index.stdout).toContain('This is a test server made with libcoap')

      const put = await coapClient(['-B', '5', '-m', 'put', '-e', 'hello from vitest', server.url('/example_data')])
      expect(put.code).toBe(0)
      expect(put.stderr).toBe('')

      // Without -o, coap-client appends one newline after the payload; `-o -` gives it exactly.
      const get = await coapClient(['-B', '5', '-m', 'get', server.url('/example_data')])
      expect(get.stdout).toBe('hello from vitest\n')
      const exact = await coapClient(['-B', '5', '-o', '-', server.url('/example_data')])
      expect(exact.stdout).toBe('hello from vitest')

      // Over TCP on the same port, and a 4.04 is reported on stderr (exit code stays 0).
      const tcp = await coapClient(['-B', '5', `coap+tcp://127.0.0.1:${server.port}/example_data`])
      expect(tcp.stdout).toBe('hello from vitest\n')
      const missing = await coapClient(['-B', '5', server.url('/no-such-resource')])
      expect(missing.stderr).toContain('4.04')
    } finally {
      await server.stop()
    }
    // Stopped: nothing answers any more.
    const after = await coapClient(['-B', '1', server.url('/')], { timeoutMs: 5000 })
    expect(after.stdout).not.toContain('libcoap (see')
  })

  it('kills a coap-client that runs past its timeout', async () => {
    const port = await freePort()
    const started = Date.now()
    const res = await coapClient(['-B', '30', `coap://127.0.0.1:${port}/`], { timeoutMs: 500 })
    expect(res.code).toBeNull()
    expect(Date.now() - started).toBeLessThan(5000)
  })
})
