/**
 * Loads the compiled addon and describes its (internal) interface. Nothing here is public API.
 * @module
 * @internal
 */
import * as path from 'node:path'

/** Native session wrapper (one libcoap reference for client sessions). */
export interface NativeSession {
  readonly id: number
  readonly valid: boolean
  mtu: number | undefined
  readonly maxPduSize: number | undefined
  readonly remote: string | undefined
  readonly local: string | undefined
  readonly proto: number | undefined
  readonly state: number | undefined
  readonly isClient: boolean | undefined
  readonly pskIdentity: Buffer | undefined
  release(): void
  toString(): string
  setParameters(p: import('./core/session').TransmissionParameters): void
}

/** A token as the native layer hands it over: the counter of one of ours, or hex for any other. */
export type TokenKey = number | string

/** Callbacks the native context makes into JS, each from inside a libcoap call. */
export interface NativeHandlers {
  /** `from`: the answering member, for sessions to a group address. */
  /** payload/options: a Buffer, or a length in the inbox (options first) for small messages. */
  response(sessionId: number, token: TokenKey, code: number, type: number, mid: number, payload?: Buffer | number, options?: Buffer | number, from?: string): void
  nack(sessionId: number, token: TokenKey, reason: number, recentLog: string): void
  event(session: NativeSession, event: number): void
  request(resourceId: number, method: number, type: number, session: NativeSession, payload?: Buffer | number, options?: Buffer | number): unknown
  error(err: unknown): void
  /** An observer was added to (1) or removed from (0) a resource. */
  observer(resourceId: number, added: number, session: NativeSession): void
  /** A block of a client's block-wise body moved: bytes so far, total (0: unknown), upload 1/0. */
  progress(sessionId: number, token: TokenKey, bytes: number, total: number, upload: number): void
  /** A Pong (reliable transports) or the RST answering a UDP ping. */
  pong(sessionId: number): void
  /** Client: the server's identity hint → [identity, key] or undefined. */
  hint(session: NativeSession | undefined, hint: string): [Buffer, Buffer] | undefined
  /** A certificate of the peer's chain (depth 0: the peer's own) → accept? */
  verify(session: NativeSession | undefined, cn: string, der: Buffer, depth: number, validated: number): boolean
  /** Server: PSK identity → key, or undefined for an unknown identity. */
  pskKey(session: NativeSession | undefined, identity: Buffer): Buffer | undefined
  /** Server: SNI → [hint, key]. */
  pskSni(session: NativeSession | undefined, sni: string): [Buffer | undefined, Buffer] | undefined
  /** Server: SNI → [cert, key] PEM. */
  pkiSni(session: NativeSession | undefined, sni: string): [Buffer, Buffer] | undefined
}

/** Native context wrapper. */
export interface NativeContext {
  newClientSession(proto: number, host: string, port: number, securityId?: number, wsHost?: string): NativeSession
  addClientSecurity(config: import('./security').NativeClientSecurity): number
  setServerPsk(config: { hint?: Buffer; key?: Buffer; lookup: boolean; sni: boolean }): void
  setServerPki(config: { cert: Buffer; key: Buffer; ca?: Buffer; verifyPeer: boolean; verify: boolean; sni: boolean }): void
  setLimits(maxHandshakes?: number, maxIdleSessions?: number, sessionTimeout?: number, maxBodySize?: number, reusePort?: boolean, blockSize?: number): void
  setRootCas(dir: string): boolean
  setReliable(keepalive?: number, maxMessageSize?: number): void
  ping(session: NativeSession): number
  /** Returns [endpoint id, bound port]. */
  addEndpoint(proto: number, host: string, port: number): [number, number]
  removeEndpoint(id: number): boolean
  /** notifications: 0 not observable, 1 NON (periodic CON), 2 CON, 3 NON always. */
  addResource(path: string, id: number, notifications: number, attributes: Array<[string, string]>, appIfNoneMatch: boolean, unknown?: boolean): void
  notify(id: number): boolean
  registerOption(number: number): void
  joinGroup(group: string, ifname?: string): void
  /** Answer GET natively with this representation (the fast path). */
  setStatic(id: number, code: number, contentFormat: number, options?: Buffer, payload?: Buffer): void
  cancelObserve(session: NativeSession, token: number): boolean
  /** The 4 bytes every token of this context starts with; requests name the rest (a counter). */
  setTokenBase(base: Buffer): void
  /** Stops libcoap retransmitting a request that ended in JS (timeout, abort). */
  cancelRequest(session: NativeSession, token: number): void
  registerHandler(id: number, method: number): void
  send(session: NativeSession, type: number, code: number, token: number, options?: Buffer, payload?: Buffer): number
  completeAsync(id: number, code: number, contentFormat: number, payload?: Buffer, options?: Buffer): boolean
  separate(id: number): boolean
  setActive(active: boolean): void
  close(): void
}

/** What the addon exports. */
export interface NativeAddon {
  /** `inbox`: where small incoming messages are written for the handlers (see NativeHandlers). */
  Context: new (handlers: NativeHandlers, shared: Int32Array, inbox: Uint8Array) => NativeContext
  Session: new (...args: never[]) => NativeSession
  setLogLevel(level: number): void
  /** `fn(batch, dropped)` gets the lines at or above the log level instead of stderr; batch: [level, line, ...]. */
  setLogHook(fn: ((batch: Array<number | string>, dropped: number) => void) | undefined): void
  versions(): { libcoap: string; dtlsBackend: string; tlsLibrary: string; tlsLibraryVersion?: number; tlsBuiltVersion?: number }
  /** Bodies libcoap is still sending from JS memory (0 when idle). */
  heldBuffers(): number
  capabilities(): { dtls: boolean; psk: boolean; pki: boolean; rpk: boolean; cid: boolean; tcp: boolean; tls: boolean; ws: boolean; wss: boolean; oscore: boolean }
}

function load(): NativeAddon {
  const root = path.join(__dirname, '..')
  // An explicit binary, e.g. a GnuTLS build next to the default one (`npm run build:addon -- --out=DIR`).
  const explicit = process.env.LIBCOAP_ADDON
  if (explicit) return require(path.resolve(explicit)) as NativeAddon
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('node-gyp-build')(root) as NativeAddon
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err)
    throw new Error(
      `libcoap: the native addon could not be loaded for ${process.platform}-${process.arch} (Node ${process.version}, ABI ${process.versions.modules}).\n` +
        `  ${msg}\n` +
        `  No prebuilt binary matched and no local build was found. Build it from source with\n` +
        `  \`npm rebuild libcoap --build-from-source\` (\`npm run build:addon\` in a checkout); it needs cmake,\n` +
        `  a C/C++ compiler, make, python3, bzip2 and patch (set LIBCOAP_SOURCE to a libcoap 4.3.5 tarball when offline).`,
      { cause: err },
    )
  }
}

/** The loaded addon. */
export const native: NativeAddon = load()
