/**
 * `libcoap/compat`: the node-coap (`coap` on npm) API on top of libcoap, for porting apps by
 * changing one line: `require('coap')` → `require('libcoap/compat')`. What differs is listed in
 * the README ("Migrating from node-coap") and on each export.
 * @module libcoap/compat
 */
import { isIP } from 'node:net'
import { Agent, globalAgent, globalAgentIPv6 } from './agent'
import type { CoapRequestParams, OutgoingMessage } from './outgoing-message'
import { Server, type CoapServerOptions, type RequestListener } from './server'

export { Agent, globalAgent, globalAgentIPv6, setGlobalAgent, setGlobalAgentV6 } from './agent'
export type { AgentOptions } from './agent'
export { IncomingMessage } from './incoming-message'
export type { RemoteInfo } from './incoming-message'
export { OutgoingMessage } from './outgoing-message'
export type { CoapRequestParams } from './outgoing-message'
export { ObserveReadStream } from './observe-stream'
export { ObserveWriteStream, ServerResponse } from './server-response'
export { Server } from './server'
export type { CoapServerOptions, RequestListener } from './server'
export { registerOption, ignoreOption, registerFormat } from './options'
export type { Option, OptionValue } from './options'
export { parameters, updateTiming, defaultTiming } from './timing'
export type { Parameters, ParametersUpdate } from './timing'
export { CoapError, CoapTimeoutError, CoapConnectionError, CoapResetError, CoapClosedError } from '../errors'

/**
 * Makes a request (node-coap `request`): `params` is a URL string (`'coap://host:port/path?q'`,
 * also `coaps://` and the TCP/WebSocket schemes, which need a client configured in `libcoap`
 * proper) or an object of {@link CoapRequestParams}. Returns the {@link OutgoingMessage}: call
 * `end()` to send it. Argument mistakes throw `TypeError`/`RangeError` (an unusable URL a
 * `CoapInvalidUriError`) at once; transport failures arrive as `'timeout'`/`'error'` events.
 * @example
 * ```ts
 * import { request } from 'libcoap/compat' // was: require('coap')
 *
 * const req = request('coap://localhost/hello')
 * req.on('response', (res) => res.pipe(process.stdout))
 * req.end()
 * ```
 */
export function request(params: string | URL | CoapRequestParams): OutgoingMessage {
  let agent: Agent
  let rest: string | URL | CoapRequestParams = params
  if (typeof params === 'object' && params !== null && !(params instanceof URL)) {
    const { agent: chosen, ...others } = params
    rest = others
    if (chosen === false) agent = new Agent({}, true)
    else if (chosen === undefined) agent = isIPv6Target(params.hostname ?? params.host) ? globalAgentIPv6 : globalAgent
    else if (chosen instanceof Agent) agent = chosen
    else throw new TypeError('agent must be an Agent, false or undefined')
  } else {
    agent = typeof params === 'string' && /^[a-z+]+:\/\/\[/i.test(params) ? globalAgentIPv6 : globalAgent
  }
  return agent.request(rest)
}

function isIPv6Target(host: unknown): boolean {
  return typeof host === 'string' && isIP(host.replace(/^\[|\]$/g, '')) === 6
}

/**
 * Creates a server (node-coap `createServer`); `listener` is added to `'request'`. Call
 * `listen()` to start it. See {@link CoapServerOptions} for the `paths` it answers.
 * @example
 * ```ts
 * import { createServer } from 'libcoap/compat'
 *
 * const server = createServer({ paths: ['/Matteo'] }, (req, res) => res.end('Hello ' + req.url.split('/')[1]))
 * server.listen(() => console.log('listening on', server.address()?.port))
 * ```
 */
export function createServer(options?: CoapServerOptions | RequestListener, listener?: RequestListener): Server {
  if (typeof options === 'function') return new Server({}, options)
  return new Server(options ?? {}, listener)
}
