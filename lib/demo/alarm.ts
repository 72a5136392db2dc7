/**
 * The CoAP lab's alarm server as a reusable function: `/alarm` (GET state, PUT sets it),
 * `/time` (current time) and `/slow` (answered as a separate response after `slowMs`).
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { CoapServer } from '../server'
import type { ServerPki, ServerPsk } from '../security'

/** The demo's DTLS pre-shared key: identity `demo`, key `demo-secret` (a demo, not a secret). */
export const DEMO_PSK = { hint: 'libcoap-demo', identity: 'demo', key: 'demo-secret' } as const

/** Settings of {@link createAlarmServer}. */
export interface AlarmServerOptions {
  /** Listen URLs (default `coap://[::]:5683` and `coaps://[::]:5684`). */
  listen?: string | string[]
  /** Delay of `/slow` in ms (default 2000). */
  slowMs?: number
  /** Pre-shared keys for secure listen URLs (default, when `pki` is not given either: {@link DEMO_PSK}). */
  psk?: ServerPsk
  /** Certificates for secure listen URLs. */
  pki?: ServerPki
}

/** Builds (but does not start) the demo server. */
export function createAlarmServer(options: AlarmServerOptions = {}): CoapServer {
  const server = new CoapServer({
    listen: options.listen ?? ['coap://[::]:5683', 'coaps://[::]:5684'],
    psk: options.psk ?? (options.pki === undefined ? { hint: DEMO_PSK.hint, keys: { [DEMO_PSK.identity]: DEMO_PSK.key } } : undefined),
    pki: options.pki,
  })
  const slowMs = options.slowMs ?? 2000
  let alarm = 'OFF'
  server
    .resource('/alarm', { rt: 'alarm', title: 'Alarm state' })
    .get(() => alarm)
    .put((req) => {
      alarm = req.text()
      return { code: '2.04' }
    })
  server.resource('/time', { rt: 'time', title: 'Server time' }).get(() => new Date().toISOString())
  server.resource('/slow', { title: 'Separate response' }).get(async () => {
    await sleep(slowMs)
    return `done after ${slowMs} ms`
  })
  return server
}
