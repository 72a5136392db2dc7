/**
 * node-coap's `Agent`, `globalAgent` and `globalAgentIPv6`: where requests get their
 * `CoapClient` (libcoap sessions, one per origin, reused).
 * @module
 */
import { EventEmitter } from 'node:events'
import { CoapClient } from '../client'
import { show } from '../show'
import { OutgoingMessage, normalizeRequest, type ClientSource, type CoapRequestParams } from './outgoing-message'
import { OptionSet } from './options'
import { transmission } from './timing'

/**
 * What `new Agent()` takes (node-coap's `AgentOptions`).
 * @example
 * ```ts
 * import { Agent, type AgentOptions } from 'libcoap/compat'
 *
 * const options: AgentOptions = { type: 'udp6' }
 * const agent = new Agent(options)
 * agent.request({ hostname: '::1', pathname: '/ping' }).end()
 * ```
 */
export interface AgentOptions {
  /** `'udp4'` or `'udp6'`: accepted for compatibility; libcoap opens a session of the right family per origin. */
  type?: 'udp4' | 'udp6'
}

interface Entry {
  client: CoapClient
  active: number
  key: string
}

/**
 * Shares `CoapClient`s (and so libcoap sessions, one per origin) between requests (node-coap
 * `Agent`). Nothing is opened until the first request, and an agent never keeps Node alive
 * when no request is pending — in node-coap an agent's socket does until it auto-closes.
 * Requests with a `retrySend`, and requests made after {@link updateTiming}, get a client with
 * those transmission parameters; an idle client with outdated ones is closed.
 *
 * Differs from node-coap: the `socket` and `port` options are not supported (libcoap owns the
 * sockets; a `RangeError`), and exchanges are matched by libcoap, not by the agent.
 * @example
 * ```ts
 * import { Agent, request } from 'libcoap/compat'
 *
 * const agent = new Agent()
 * const req = request({ hostname: 'localhost', pathname: '/temperature', agent })
 * req.on('response', (res) => {
 *   console.log(res.code, res.payload.toString())
 *   agent.close()
 * })
 * req.end()
 * ```
 */
export class Agent extends EventEmitter {
  readonly #entries = new Map<string, Entry>()
  readonly #oneShot: boolean
  #closed = false

  /**
   * @param opts node-coap's agent options (only `type`, which changes nothing).
   * @param oneShot internal: the private agent of an `agent: false` request, closed after it.
   */
  constructor(opts: AgentOptions = {}, oneShot = false) {
    super()
    if (typeof opts !== 'object' || opts === null) throw new TypeError(`opts must be an object, got ${opts === null ? 'null' : typeof opts}`)
    for (const key of Object.keys(opts)) {
      if (key === 'socket' || key === 'port') throw new RangeError(`Agent option '${key}' is not supported: libcoap owns the sockets`)
      if (key !== 'type') throw new TypeError(`unknown Agent option '${key}'`)
    }
    if (opts.type !== undefined && opts.type !== 'udp4' && opts.type !== 'udp6') throw new RangeError(`type must be 'udp4' or 'udp6', got ${show(opts.type)}`)
    this.#oneShot = oneShot
  }

  /** Sends a request through this agent (same as `request({ ...params, agent: this })`). */
  request(params: string | URL | CoapRequestParams): OutgoingMessage {
    const options = new OptionSet()
    const req = normalizeRequest(params, options)
    return new OutgoingMessage(req, options, this as ClientSource)
  }

  /** Number of requests in flight (including running observations). */
  get pending(): number {
    let n = 0
    for (const e of this.#entries.values()) n += e.active
    return n
  }

  /**
   * Closes every client: pending requests fail with `ERR_COAP_CLOSED` (their `'error'`). The
   * agent can still be used afterwards; it opens new clients on demand. `done` is called once closed.
   */
  close(done?: (err?: Error) => void): this {
    if (done !== undefined && typeof done !== 'function') throw new TypeError(`done must be a function, got ${typeof done}`)
    const closing = [...this.#entries.values()].map((e) => e.client.close())
    this.#entries.clear()
    Promise.all(closing).then(() => {
      this.emit('close')
      done?.()
    }, (err: Error) => done?.(err))
    return this
  }

  /** @internal a client for one request, released when it settles */
  _lease(retrySend: number | undefined): { client: CoapClient; release(): void } {
    if (this.#closed) throw new RangeError('this one-request agent has been used already')
    const t = transmission()
    const key = `${t.generation}/${retrySend ?? ''}`
    let entry = this.#entries.get(key)
    if (entry === undefined) {
      for (const other of this.#entries.values()) if (other.active === 0) this.#drop(other)
      const values = retrySend === undefined ? t.values : { ...t.values, maxRetransmit: retrySend }
      entry = { client: new CoapClient({ parameters: values }), active: 0, key }
      this.#entries.set(key, entry)
    }
    const e = entry
    e.active++
    let released = false
    return {
      client: e.client,
      release: () => {
        if (released) return
        released = true
        e.active--
        if (e.active > 0) return
        if (this.#oneShot) {
          this.#closed = true
          this.#drop(e)
        } else if (transmission().generation !== t.generation) this.#drop(e)
      },
    }
  }

  #drop(entry: Entry): void {
    if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key)
    void entry.client.close()
  }
}

/**
 * The agent requests use by default (node-coap `globalAgent`).
 * @example
 * ```ts
 * import { globalAgent } from 'libcoap/compat'
 *
 * const req = globalAgent.request('coap://localhost/temperature') // same as request(url)
 * req.on('response', (res) => console.log(res.payload.toString()))
 * req.end()
 * ```
 */
export let globalAgent = new Agent({ type: 'udp4' })
/**
 * The default agent for IPv6 hosts (node-coap `globalAgentIPv6`).
 * @example
 * ```ts
 * import { Agent, globalAgentIPv6, request } from 'libcoap/compat'
 *
 * const req = request({ hostname: '::1', pathname: '/temperature' }) // IPv6 host: globalAgentIPv6
 * req.on('response', (res) => console.log(res.payload.toString()))
 * req.end()
 * console.log(globalAgentIPv6 instanceof Agent) // true
 * ```
 */
export let globalAgentIPv6 = new Agent({ type: 'udp6' })

/**
 * Replaces {@link globalAgent} (node-coap `setGlobalAgent`).
 * @example
 * ```ts
 * import { Agent, setGlobalAgent } from 'libcoap/compat'
 *
 * setGlobalAgent(new Agent({ type: 'udp4' }))
 * ```
 */
export function setGlobalAgent(agent: Agent): void {
  if (!(agent instanceof Agent)) throw new TypeError('agent must be an Agent')
  globalAgent = agent
}

/**
 * Replaces {@link globalAgentIPv6} (node-coap `setGlobalAgentV6`).
 * @example
 * ```ts
 * import { Agent, setGlobalAgentV6 } from 'libcoap/compat'
 *
 * setGlobalAgentV6(new Agent({ type: 'udp6' }))
 * ```
 */
export function setGlobalAgentV6(agent: Agent): void {
  if (!(agent instanceof Agent)) throw new TypeError('agent must be an Agent')
  globalAgentIPv6 = agent
}
