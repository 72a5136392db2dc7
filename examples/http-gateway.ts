/**
 * A small HTTP→CoAP gateway (a cross-proxy in the sense of RFC 8075) with `node:http`: HTTP
 * requests are forwarded to CoAP servers with one shared `CoapClient`, and the CoAP answers are
 * turned back into HTTP responses. An example, not a framework: no caching, no observe, no
 * credentials for coaps://.
 *
 *   node dist/examples/http-gateway.js [--port 8080] [--host 127.0.0.1] [--timeout 5000] [--max-body 1048576]
 *
 *   curl http://localhost:8080/coap/[::1]:5683/alarm                     # GET coap://[::1]:5683/alarm
 *   curl -X PUT -H 'Content-Type: text/plain' -d ON http://localhost:8080/coap/[::1]/alarm
 *   curl 'http://localhost:8080/?url=coap://[::1]/.well-known/core'      # the whole CoAP URL as a query
 *   curl http://localhost:8080/coap+tcp/127.0.0.1:5683/time              # coap+tcp:// and coap+ws:// too
 *
 * What maps to what:
 *   method       GET, POST, PUT, DELETE, PATCH → the CoAP method of the same name; others 405
 *   URL          /coap/<host>[:<port>]/<path>?<query> or ?url=<coap URL>; query items → Uri-Query
 *   body         request body (at most --max-body bytes, else 413) → payload; Content-Type →
 *                Content-Format (unknown media types: 415); a single known Accept type → Accept
 *   status       2.05 → 200, 2.01 → 201 (with Location), 2.02/2.04 → 204 (200 with a body),
 *                4.xx/5.xx → the HTTP status of the same meaning (RFC 8075 §7: 4.01 → 403, as
 *                an HTTP 401 would need a WWW-Authenticate challenge), no answer in time → 504,
 *                peer unreachable, reset, a broken answer or one over --max-body bytes → 502
 *   response     Content-Format → Content-Type, payload → body, ETag → ETag, Max-Age → Cache-Control
 *
 * It forwards to any host it is asked to: it listens on 127.0.0.1 by default, and anything
 * reachable from the internet would need an allow-list of CoAP hosts first. Ctrl-C stops it
 * cleanly: no new connections, requests in flight finish (up to a few seconds), then it exits.
 */
import http from 'node:http'
import { parseArgs } from 'node:util'
import { CoapClient, CoapError, contentFormatName, parseContentFormat, type CoapResponse, type MethodName } from 'libcoap'

function args(): ReturnType<typeof parse> {
  try {
    return parse()
  } catch (err) {
    console.error(`${(err as Error).message}\nusage: http-gateway.js [--port 8080] [--host 127.0.0.1] [--timeout ms] [--max-body bytes]`)
    process.exit(2)
  }
}
function parse() {
  return parseArgs({
    options: {
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      timeout: { type: 'string', default: '5000' },
      'max-body': { type: 'string', default: String(1024 * 1024) },
    },
  })
}
const { values } = args()
function integer(flag: string, min: number, max: number): number {
  const n = Number(values[flag as keyof typeof values])
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`--${flag} must be an integer ${min}-${max}, got '${values[flag as keyof typeof values]}'`)
    process.exit(2)
  }
  return n
}
const PORT = integer('port', 0, 65535)
const TIMEOUT = integer('timeout', 1, 600_000)
const MAX_BODY = integer('max-body', 0, 64 * 1024 * 1024)

// CoAP response code → HTTP status (RFC 8075 §7). Codes not listed fall back to their class.
const STATUS: Record<string, number> = {
  '2.01': 201, '2.02': 204, '2.03': 200, '2.04': 204, '2.05': 200,
  '4.00': 400, '4.01': 403, '4.02': 400, '4.03': 403, '4.04': 404, '4.05': 405, '4.06': 406, '4.08': 400,
  '4.09': 409, '4.12': 412, '4.13': 413, '4.15': 415, '4.22': 422, '4.29': 429,
  '5.00': 500, '5.01': 501, '5.02': 502, '5.03': 503, '5.04': 504, '5.05': 502,
}

function httpStatus(res: CoapResponse): number {
  let status = STATUS[res.code] ?? ({ '2': 200, '4': 400, '5': 500 } as Record<string, number>)[res.code[0]!] ?? 502
  // 204 means "no body": a 2.02/2.04 that carries one becomes 200.
  if (status === 204 && res.payload.length > 0) status = 200
  return status
}

// Failures without any CoAP answer.
function errorStatus(err: unknown): number {
  if (!(err instanceof CoapError)) return 500
  if (err.code === 'ERR_COAP_TIMEOUT') return 504 // Gateway Timeout
  if (err.code === 'ERR_COAP_INVALID_URI') return 400
  return 502 // Bad Gateway: unreachable, reset, handshake failed, answer malformed or too large
}

const METHODS: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH'])
const SCHEMES: ReadonlySet<string> = new Set(['coap', 'coap+tcp', 'coap+ws'])

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message)
  }
}

/** The CoAP URL an HTTP request names, and the gateway path prefix it came with (if any). */
function target(reqUrl: string): { url: string; prefix?: string } {
  const u = new URL(reqUrl, 'http://gateway')
  const whole = u.searchParams.get('url')
  if (whole !== null) return { url: whole }
  // /<scheme>/<authority>/<path...>: the raw (still percent-encoded) path is passed on as is.
  const m = /^\/([a-z+]+)\/([^/?#]+)(\/[^?#]*)?/.exec(u.pathname)
  if (!m || !SCHEMES.has(m[1]!)) throw new HttpError(404, 'use /coap/<host>[:<port>]/<path> or /?url=coap://…\n')
  return { url: `${m[1]}://${m[2]}${m[3] ?? '/'}${u.search}`, prefix: `/${m[1]}/${m[2]}` }
}

/** Reads the request body, refusing more than MAX_BODY bytes. */
async function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY) throw new HttpError(413, `body larger than ${MAX_BODY} bytes\n`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    // A chunked body gives no size up front: stop as soon as it passes the limit.
    if (size > MAX_BODY) throw new HttpError(413, `body larger than ${MAX_BODY} bytes\n`)
    chunks.push(chunk)
  }
  return size === 0 ? undefined : Buffer.concat(chunks)
}

/** A media type header without parameters, as a Content-Format number (undefined when absent). */
function formatOf(header: string | undefined, what: string): number | undefined {
  if (!header) return undefined
  const type = header.split(';')[0]!.trim()
  try {
    return parseContentFormat(type)
  } catch {
    throw new HttpError(415, `${what} '${type}' has no CoAP Content-Format\n`)
  }
}

let stopping = false

function send(res: http.ServerResponse, status: number, body: string | Buffer, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return
  const type = typeof body === 'string' && body !== '' ? { 'Content-Type': 'text/plain; charset=utf-8' } : {}
  // While stopping, keep-alive connections end with their response instead of idling on.
  const close = stopping ? { Connection: 'close' } : {}
  res.writeHead(status, { ...type, ...headers, ...close, 'Content-Length': String(Buffer.byteLength(body)) })
  res.end(body)
}

const client = new CoapClient({ timeout: TIMEOUT, maxBodySize: MAX_BODY })

async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<string> {
  const method = req.method ?? 'GET'
  if (!METHODS.has(method)) throw new HttpError(405, `method ${method} is not forwarded\n`, { Allow: [...METHODS].join(', ') })
  const { url, prefix } = target(req.url ?? '/')
  if (!/^coap(\+tcp|\+ws)?:\/\//.test(url)) throw new HttpError(400, `only coap://, coap+tcp:// and coap+ws:// URLs are forwarded, not '${url}'\n`)
  const contentFormat = formatOf(req.headers['content-type'], 'Content-Type')
  // Only a single, exact Accept type has a CoAP equivalent (browsers send lists with wildcards).
  const acceptHeader = req.headers.accept
  let accept: number | undefined
  if (acceptHeader && !/[,*]/.test(acceptHeader)) accept = formatOf(acceptHeader, 'Accept')
  const payload = await readBody(req)

  // An HTTP client that goes away cancels its CoAP request.
  const abort = new AbortController()
  res.once('close', () => abort.abort())
  let answer: CoapResponse
  try {
    answer = await client.request({ url, method: method as MethodName, payload, contentFormat, accept, signal: abort.signal })
  } catch (err) {
    if (err instanceof CoapError && err.code === 'ERR_COAP_ABORTED') return `${url} -> aborted by the HTTP client`
    const status = errorStatus(err)
    send(res, status, `${err instanceof CoapError ? err.code : 'error'}: ${(err as Error).message}\n`)
    return `${url} -> ${status}`
  }

  const status = httpStatus(answer)
  const headers: Record<string, string> = {}
  if (answer.payload.length > 0) {
    const cf = answer.contentFormat
    const name = cf === undefined ? undefined : contentFormatName(cf)
    // No Content-Format on an error answer: a diagnostic message, UTF-8 text (RFC 7252 §5.5.2).
    headers['Content-Type'] = name === 'text/plain' || (cf === undefined && !answer.ok) ? 'text/plain; charset=utf-8' : (name ?? 'application/octet-stream')
  }
  const etag = answer.option('ETag')[0]
  if (Buffer.isBuffer(etag)) headers.ETag = `"${etag.toString('hex')}"`
  const maxAge = answer.option('Max-Age')[0]
  if (typeof maxAge === 'number') headers['Cache-Control'] = `max-age=${maxAge}`
  const location = answer.option('Location-Path')
  if (location.length > 0) {
    // The new resource's URL, as a gateway URL of the same form as the request's.
    const query = answer.option('Location-Query')
    const path = `/${location.map((s) => encodeURIComponent(String(s))).join('/')}${query.length ? `?${query.map((q) => encodeURIComponent(String(q)).replace(/%3D/g, '=')).join('&')}` : ''}`
    const coap = new URL(url)
    headers.Location = prefix !== undefined ? `${prefix}${path}` : `/?url=${encodeURIComponent(`${coap.protocol}//${coap.host}${path}`)}`
  }
  send(res, status, status === 204 ? '' : answer.payload, headers)
  return `${url} -> ${answer.code} -> ${status}`
}

const server = http.createServer((req, res) => {
  const started = Date.now()
  handle(req, res).then(
    (what) => console.log(`${req.method} ${req.url} ${what} (${Date.now() - started} ms)`),
    (err) => {
      const status = err instanceof HttpError ? err.status : 400
      // An unread (too large) body makes the connection unusable for another request.
      send(res, status, err instanceof Error ? err.message : String(err), { ...(err instanceof HttpError ? err.headers : {}), ...(status === 413 ? { Connection: 'close' } : {}) })
      console.log(`${req.method} ${req.url} -> ${status}`)
    },
  )
})

server.listen(PORT, values.host, () => {
  const { address, port } = server.address() as { address: string; port: number }
  console.log(`HTTP→CoAP gateway on http://${address.includes(':') ? `[${address}]` : address}:${port}`)
})
server.on('error', (err) => {
  console.error(`cannot listen: ${err.message}`)
  process.exit(1)
})

function stop(): void {
  if (stopping) return
  stopping = true
  // Stop accepting; idle keep-alive connections go now, busy ones when their response is sent.
  server.close(() => {
    void client.close().then(() => console.log('closed'))
  })
  server.closeIdleConnections()
  // Requests still running after a grace period (the CoAP timeout plus a little) are cut off.
  setTimeout(() => server.closeAllConnections(), TIMEOUT + 1000).unref()
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
