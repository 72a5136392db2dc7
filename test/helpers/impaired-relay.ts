// A UDP relay on loopback that impairs the path between one client and a server the way netem
// would on a link: loss, duplication, reordering and delay, each per datagram and per direction,
// from a seeded PRNG so that a run can be repeated. Used where the kernel offers no netem.
import * as dgram from 'node:dgram'

export interface Impairment {
  /** Probability a datagram is dropped. */
  loss?: number
  /** Probability a datagram is sent twice. */
  duplicate?: number
  /** Probability a datagram is held back and sent after the next one (or after 50 ms). */
  reorder?: number
  /** Base delay in ms, plus up to `jitter` ms more (jitter alone reorders too). */
  delay?: number
  jitter?: number
}

export interface ImpairedRelay {
  /** Where the client sends. */
  port: number
  counts: { relayed: number; dropped: number; duplicated: number; reordered: number }
  close(): void
}

export async function impairedRelay(serverPort: number, how: Impairment, seed: number): Promise<ImpairedRelay> {
  let x = seed >>> 0 || 1
  const random = (): number => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 2 ** 32
  }
  const front = dgram.createSocket('udp4')
  const back = dgram.createSocket('udp4')
  const counts = { relayed: 0, dropped: 0, duplicated: 0, reordered: 0 }
  const timers = new Set<NodeJS.Timeout>()
  let client: { address: string; port: number } | undefined
  let closed = false
  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t)
      if (!closed) fn()
    }, ms)
    timers.add(t)
  }
  // Per direction: a datagram held back for reordering goes out right after the next one.
  const pipe = (send: (msg: Buffer) => void): ((msg: Buffer) => void) => {
    let held: Buffer | undefined
    const out = (msg: Buffer): void => {
      const wait = (how.delay ?? 0) + random() * (how.jitter ?? 0)
      if (wait > 0) later(wait, () => send(msg))
      else send(msg)
      counts.relayed++
    }
    return (msg) => {
      if (random() < (how.loss ?? 0)) {
        counts.dropped++
        return
      }
      const copies = random() < (how.duplicate ?? 0) ? 2 : 1
      if (copies === 2) counts.duplicated++
      if (held === undefined && random() < (how.reorder ?? 0)) {
        counts.reordered++
        held = msg
        later(50, () => {
          if (held === msg) {
            held = undefined
            out(msg)
          }
        })
        return
      }
      for (let i = 0; i < copies; i++) out(msg)
      if (held !== undefined) {
        const h = held
        held = undefined
        out(h)
      }
    }
  }
  const toServer = pipe((msg) => back.send(msg, serverPort, '127.0.0.1'))
  const toClient = pipe((msg) => client && front.send(msg, client.port, client.address))
  front.on('message', (msg, rinfo) => {
    client = { address: rinfo.address, port: rinfo.port }
    toServer(msg)
  })
  back.on('message', (msg) => toClient(msg))
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve))
  await new Promise<void>((resolve) => back.bind(0, '127.0.0.1', resolve))
  return {
    port: front.address().port,
    counts,
    close() {
      closed = true
      for (const t of timers) clearTimeout(t)
      front.close()
      back.close()
    },
  }
}
