/**
 * RFC 7252 conditional requests for the high-level server: ETag validation (2.03 Valid) and
 * the If-Match / If-None-Match preconditions (4.12), driven by the ETags handlers return.
 * @module
 */
import { parseCode } from './codes'
import { encodeOptionValue, type OptionValue } from './options'
import type { CoapRequest } from './core/request'
import type { HandlerResult, RequestHandler } from './core/resource'

const ETAG = 4
const IF_MATCH = 1
const IF_NONE_MATCH = 5
const CONTENT = (2 << 5) | 5
const DELETED = (2 << 5) | 2

/** Where a resource keeps the ETag of its current representation. */
export interface EtagHolder {
  etag: Buffer | undefined
  /** Whether the resource uses ETags at all (one was returned or set): only then are preconditions checked. */
  readonly usesEtags: boolean
}

/** The ETag a handler's result carries, if any. */
function resultEtag(result: HandlerResult): Buffer | undefined {
  if (result === null || typeof result !== 'object' || result instanceof Uint8Array || result.options == null) return undefined
  for (const [key, value] of Object.entries(result.options)) {
    if (value === undefined || value === null || (key !== 'ETag' && key !== String(ETAG))) continue
    const first = (Array.isArray(value) ? value[0] : value) as OptionValue | undefined
    return first === undefined ? undefined : encodeOptionValue(ETAG, first)
  }
  return undefined
}

function resultCode(result: HandlerResult, method: string): number {
  const code = result !== null && typeof result === 'object' && !(result instanceof Uint8Array) ? result.code : undefined
  if (typeof code === 'number' || typeof code === 'string') {
    // Read the way the answer itself will be (205 and '2.05' alike); a bad one fails there.
    try {
      return parseCode(code)
    } catch {
      return 0
    }
  }
  return method === 'GET' || method === 'FETCH' ? CONTENT : method === 'DELETE' ? DELETED : 0
}

function matches(values: unknown[], etag: Buffer): boolean {
  return values.some((v) => Buffer.isBuffer(v) && v.equals(etag))
}

/**
 * Wraps a handler so that, once the resource uses ETags: a request whose If-Match /
 * If-None-Match fails against the resource's current ETag gets 4.12 without running it, and a
 * GET/FETCH carrying the current ETag gets 2.03 without running it; an ETag in its result becomes the
 * current one (a 2.02 Deleted forgets it); and a GET/FETCH whose ETag options include the
 * result's ETag gets 2.03 Valid with that ETag instead of the body.
 */
export function conditional(holder: EtagHolder, method: string, handler: RequestHandler): RequestHandler {
  const after = (req: CoapRequest, result: HandlerResult): HandlerResult => {
    const etag = resultEtag(result)
    const code = resultCode(result, method)
    if (code === DELETED) holder.etag = undefined
    else if (etag !== undefined && code >> 5 === 2) holder.etag = etag
    if (etag !== undefined && code === CONTENT && matches(req.option(ETAG), etag)) {
      return { code: '2.03', options: { ETag: etag } }
    }
    return result
  }
  const preconditionFails = (req: CoapRequest): boolean => {
    const current = holder.etag
    const ifMatch = req.option(IF_MATCH)
    // An empty If-Match asks only that some representation exists.
    if (ifMatch.length > 0 && !ifMatch.some((v) => (Buffer.isBuffer(v) && v.length > 0 ? current !== undefined && v.equals(current) : current !== undefined))) return true
    return req.option(IF_NONE_MATCH).length > 0 && current !== undefined
  }
  const safe = method === 'GET' || method === 'FETCH'
  return (req) => {
    if (holder.usesEtags) {
      if (preconditionFails(req)) return { code: '4.12' }
      // The client holds the current representation already: no need to run the handler.
      const current = holder.etag
      if (safe && current !== undefined && matches(req.option(ETAG), current)) return { code: '2.03', options: { ETag: current } }
    } else if (req._has(IF_NONE_MATCH)) {
      // Without ETags a registered resource is taken to exist, as libcoap does.
      return { code: '4.12' }
    }
    const out = handler(req)
    if (out !== null && typeof out === 'object' && typeof (out as PromiseLike<HandlerResult>).then === 'function') {
      return (out as Promise<HandlerResult>).then((result) => after(req, result))
    }
    return after(req, out as HandlerResult)
  }
}
