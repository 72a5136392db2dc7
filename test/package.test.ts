import { execFileSync } from 'node:child_process'
import * as path from 'node:path'
import { describe, expect, it } from 'vitest'

const root = path.resolve(__dirname, '..')
const addon = path.join(root, 'build/Release/libcoap.node')

describe('package and build chain', () => {
  it('loads through the CommonJS and ESM entry points with the same exports', () => {
    const script = `
      const cjs = require('libcoap'); const core = require('libcoap/core');
      import('libcoap').then(async (esm) => {
        const ecore = await import('libcoap/core')
        console.log(JSON.stringify({
          cjs: typeof cjs.CoapClient, esm: typeof esm.CoapClient, sameClass: esm.CoapClient === cjs.CoapClient,
          core: typeof core.Context, ecore: typeof ecore.Context,
        }))
      })`
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' }))
    expect(out).toEqual({ cjs: 'function', esm: 'function', sameClass: true, core: 'function', ecore: 'function' })
  })

  it('runs the pinned libcoap with the OpenSSL that Node carries', async () => {
    const { versions } = await import('../dist/index.js')
    const v = versions()
    expect(v.libcoap).toBe('libcoap 4.3.5')
    expect(v.dtlsBackend).toBe('openssl')
    // Node's own OpenSSL: process.versions.openssl is e.g. '3.0.15+quic'.
    const [maj, min] = process.versions.openssl.split('.').map((x) => parseInt(x, 10))
    expect(v.tlsLibraryVersion! >>> 20).toBe((maj << 8) | min)
  })

  it('hides libcoap symbols and links no libssl', () => {
    const dyn = execFileSync('nm', ['-D', '--defined-only', addon], { encoding: 'utf8' })
    expect(dyn).not.toMatch(/\bcoap_\w+/)
    expect(dyn).toMatch(/napi_register_module_v1/)
    const ldd = execFileSync('ldd', [addon], { encoding: 'utf8' })
    expect(ldd).not.toMatch(/libssl|libcrypto/)
  })
})
