/**
 * `server`: the demo server of lib/demo (`/alarm`, `/time`, `/slow`) on the `-l` listen URLs,
 * with the security flags or the demo PSK, until SIGINT/SIGTERM.
 * @module
 */
import { once } from 'node:events'
import { createAlarmServer, DEMO_PSK } from '../demo/alarm'
import type { Endpoint } from '../core/context'
import type { Command } from './args'
import { serverCredentials } from './credentials'
import { ExitCode, type ExitCodeValue } from './exit-codes'
import { printJson, writeStderr, writeStdout } from './output'

/** Listen URLs without `-l`. */
export const DEFAULT_LISTEN = ['coap://[::]:5683', 'coaps://[::]:5684']

const SCHEMES: Record<string, string> = { udp: 'coap', dtls: 'coaps', tcp: 'coap+tcp', tls: 'coaps+tcp', ws: 'coap+ws', wss: 'coaps+ws' }

/** The URL an endpoint listens on, with its real port. */
export function endpointUrl(ep: Endpoint): string {
  return `${SCHEMES[ep.proto]}://${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}`
}

/** Runs the demo server until `stop` fires. */
export async function runServer(cmd: Command, stop: AbortSignal): Promise<ExitCodeValue> {
  const listen = cmd.flags.listen ?? DEFAULT_LISTEN
  const credentials = serverCredentials(cmd.flags)
  const server = createAlarmServer({ listen, ...credentials })
  try {
    server.on('error', (err, req) => writeStderr(`handler error${req ? ` at ${req.method} ${req.path}` : ''}: ${err instanceof Error ? err.message : String(err)}`))
    const endpoints = await server.listen()
    const urls = endpoints.map(endpointUrl)
    const demoPsk = credentials === undefined
    if (cmd.flags.json) {
      printJson({ listening: urls, resources: ['/alarm', '/time', '/slow'], psk: demoPsk ? { identity: DEMO_PSK.identity, key: DEMO_PSK.key } : null })
    } else {
      writeStdout(urls.map((u) => `listening on ${u}\n`).join(''))
      if (demoPsk && endpoints.some((e) => e.proto === 'dtls' || e.proto === 'tls' || e.proto === 'wss')) {
        writeStdout(`demo PSK: identity '${DEMO_PSK.identity}', key '${DEMO_PSK.key}'\n`)
      }
      writeStdout('resources: /alarm (GET, PUT), /time (GET), /slow (GET, separate response); Ctrl-C stops\n')
    }
    if (!stop.aborted) await once(stop, 'abort')
    return ExitCode.OK
  } finally {
    await server.close()
  }
}
