// Hand-made CoAP-over-TCP peers (RFC 8323) for tests, on 127.0.0.1 only. Each runs in its own
// worker thread (raw-peer-worker.mjs), so it keeps answering even while libcoap blocks the test's
// thread (libcoap's client waits for the peer's CSM inside coap_send()).
//
//   startRawServer(config)   a scripted server: sends a CSM (or not), answers the first N
//                            requests of each connection, then stays silent / sends an Abort /
//                            resets the connection; answers Pings only when asked to
//   startRelay(targetPort)   a transparent TCP relay that reports every message in both
//                            directions (to see message sizes, block options, signaling)
//
// Every message the worker parses is reported as a RawFrame; `waitFor` polls (bounded).
import * as path from 'node:path'
import { Worker } from 'node:worker_threads'

export interface RawFrame {
  conn: number
  /** Relay only: 'c2s' (client → server) or 's2c'. */
  dir?: 'c2s' | 's2c'
  code: number
  token: string
  /** [number, hex value] (values over 16 bytes as "(N bytes)"). */
  options: Array<[number, string]>
  payloadLength: number
  /** Hex, for payloads up to 256 bytes. */
  payload?: string
  /** Bytes on the wire, header included. */
  size: number
  /** Date.now() in the test's thread when the report arrived. */
  at: number
}

export interface FrameSpec {
  code: number
  token?: string
  options?: Array<[number, string]>
  payload?: string
}

export interface RawServerConfig {
  /** CSM sent right after accepting (options as [number, hex]); null/undefined sends none. */
  csm?: { options: Array<[number, string]> } | null
  /** Answer Pings with Pongs (default false: a peer that ignores keepalives). */
  pong?: boolean
  /** Requests answered on each connection before `after` applies (default 0). */
  answerCount?: number
  /** The answer: code (default 2.05), UTF-8 payload, optional Content-Format. */
  answer?: { code: number; payload?: string; contentFormat?: number }
  /** What happens to the requests after those: 'silent' (default) | 'abort' | 'reset'. */
  after?: 'silent' | 'abort' | 'reset'
  abort?: { diagnostic?: string; badCsmOption?: number; closeAfterMs?: number }
}

interface Peer {
  port: number
  frames: RawFrame[]
  connections: number
  closes: Array<{ conn: number; dir?: string; hadError?: boolean; at: number }>
  events: Array<Record<string, unknown>>
  waitFor(cond: () => boolean, ms: number, what: string): Promise<void>
  /** Resolves once every report the worker made before now has arrived (bounded: 2 s). */
  flush(): Promise<void>
  send(conn: number, frame: FrameSpec): void
  destroy(conn: number): void
  stop(): Promise<void>
}

const WORKER = path.resolve(__dirname, 'raw-peer-worker.mjs')
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

async function start(data: Record<string, unknown>): Promise<Peer> {
  const worker = new Worker(WORKER, { workerData: data })
  const frames: RawFrame[] = []
  const closes: Peer['closes'] = []
  const events: Array<Record<string, unknown>> = []
  let connections = 0
  let stopped = false
  let onStopped: (() => void) | undefined
  const flushes = new Map<number, () => void>()
  let flushId = 0
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('raw peer worker did not start listening within 5 s')), 5000)
    worker.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    worker.on('message', (m: Record<string, unknown>) => {
      const at = Date.now()
      switch (m.type) {
        case 'listening':
          clearTimeout(timer)
          resolve(m.port as number)
          break
        case 'frame':
          frames.push({ ...(m as unknown as RawFrame), at })
          break
        case 'connection':
          connections++
          events.push({ ...m, at })
          break
        case 'close':
          closes.push({ conn: m.conn as number, dir: m.dir as string | undefined, hadError: m.hadError as boolean | undefined, at })
          events.push({ ...m, at })
          break
        case 'flushed':
          flushes.get(m.id as number)?.()
          flushes.delete(m.id as number)
          break
        case 'stopped':
          stopped = true
          onStopped?.()
          break
        default:
          events.push({ ...m, at })
      }
    })
  })
  worker.on('error', () => {})
  return {
    port,
    frames,
    get connections() {
      return connections
    },
    closes,
    events,
    async waitFor(cond, ms, what) {
      const until = Date.now() + ms
      while (!cond()) {
        if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
        await sleep(10)
      }
    },
    async flush() {
      const id = flushId++
      const done = new Promise<void>((resolve) => flushes.set(id, resolve))
      worker.postMessage({ type: 'flush', id })
      await Promise.race([done, sleep(2000)])
    },
    send: (conn, frame) => worker.postMessage({ type: 'send', conn, frame }),
    destroy: (conn) => worker.postMessage({ type: 'destroy', conn }),
    async stop() {
      if (!stopped) {
        const done = new Promise<void>((resolve) => (onStopped = resolve))
        worker.postMessage({ type: 'stop' })
        await Promise.race([done, sleep(2000)])
      }
      await worker.terminate()
    },
  }
}

export function startRawServer(config: RawServerConfig): Promise<Peer> {
  return start({ mode: 'server', host: '127.0.0.1', ...config })
}

export function startRelay(target: number): Promise<Peer> {
  return start({ mode: 'relay', host: '127.0.0.1', target })
}

export type RawPeer = Peer
