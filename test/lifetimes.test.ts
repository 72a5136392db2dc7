// Lifetimes: what keeps Node alive, clean exits and worker teardown, garbage collection of the
// wrappers, memory over many create/close cycles, and Session reference()/release().
// Process-level checks run the scripts in test/fixtures/ as child processes, each killed after a
// bounded time (a hang fails the test; it never hangs the run).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import * as dgram from 'node:dgram'
import * as path from 'node:path'
import { CoapClient, CoapClosedError, CoapServer } from '../dist/index.js'
import { Context, Session } from '../dist/core/index.js'

const HOST = '127.0.0.1'
const FIXTURES = path.join(__dirname, 'fixtures')

interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** true when the process was still running at the deadline (and was then killed) */
  timedOut: boolean
  ms: number
}

interface RunOptions {
  /** Kill the child after this many ms (default 10 s). */
  killAfter?: number
  nodeArgs?: string[]
  /** Resolve as soon as stdout contains this, then wait `thenWait` ms to see whether it exits. */
  waitFor?: string
  thenWait?: number
}

/** Runs `node [nodeArgs] fixtures/<script> [args]`, bounded in time. */
function runNode(script: string, args: string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  const killAfter = opts.killAfter ?? 10_000
  const started = Date.now()
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), path.join(FIXTURES, script), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  return new Promise<RunResult>((resolve, reject) => {
    let timedOut = false
    let exited = false
    const kill = (): void => {
      if (exited) return
      timedOut = true
      child.kill('SIGKILL')
    }
    const deadline = setTimeout(kill, killAfter)
    if (opts.waitFor !== undefined) {
      const marker = opts.waitFor
      const onData = (): void => {
        if (!stdout.includes(marker)) return
        child.stdout.off('data', onData)
        clearTimeout(deadline)
        setTimeout(kill, opts.thenWait ?? 1500)
      }
      child.stdout.on('data', onData)
    }
    child.on('error', reject)
    child.on('close', (code, signal) => {
      exited = true
      clearTimeout(deadline)
      resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - started })
    })
  })
}

/** The child ended by itself, with exit code `code`, no signal and no crash report. */
function expectCleanExit(r: RunResult, code = 0): void {
  const info = `exit ${r.code} signal ${r.signal} after ${r.ms} ms\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`
  expect(r.timedOut, `still running at the deadline\n${info}`).toBe(false)
  expect(r.signal, info).toBeNull()
  expect(r.code, info).toBe(code)
  expect(r.stderr, info).not.toMatch(/Segmentation fault|Aborted|FATAL ERROR|core dumped|double free|corrupted|SIGSEGV|SIGABRT/)
}

function lines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '')
}

describe('what keeps Node alive', () => {
  it('a client that was never used does not', async () => {
    const r = await runNode('lifetime.js', ['client-unused'])
    expectCleanExit(r)
    expect(lines(r.stdout)).toEqual(['created', 'main done'])
  })

  it('an idle client after one GET (never closed) does not', async () => {
    const r = await runNode('lifetime.js', ['client-get-no-close'])
    expectCleanExit(r)
    expect(lines(r.stdout)).toEqual(['response 2.05 hello', 'main done'])
    expect(r.ms).toBeLessThan(5000)
  })

  it('an idle client after a GET to a port nothing listens on (never closed) does not', async () => {
    const r = await runNode('lifetime.js', ['client-get-nothing'])
    expectCleanExit(r)
    expect(lines(r.stdout)).toEqual(['error ERR_COAP_CONNECTION', 'main done'])
  })

  it('an idle client after a GET that timed out (never closed) does not', async () => {
    const r = await runNode('lifetime.js', ['client-get-timeout'])
    expectCleanExit(r)
    expect(lines(r.stdout)).toEqual(['error ERR_COAP_TIMEOUT', 'main done'])
  })

  it('a request in flight does', async () => {
    const r = await runNode('lifetime.js', ['client-pending'], { waitFor: 'pending', thenWait: 1500 })
    expect(r.timedOut, `the process ended while its request was pending\n${r.stdout}${r.stderr}`).toBe(true)
    expect(r.stdout).not.toContain('error')
  })

  it('a listening server does, until it is closed', async () => {
    const r = await runNode('lifetime.js', ['server-forever'], { waitFor: 'listening', thenWait: 1500 })
    expect(r.timedOut, `the process ended while the server listened\n${r.stdout}${r.stderr}`).toBe(true)
    expect(r.stdout).toMatch(/^listening coap:\/\/127\.0\.0\.1:\d+\/$/m)
    expect(r.stderr).toBe('')

    const closed = await runNode('lifetime.js', ['server-serve-close'])
    expectCleanExit(closed)
    expect(lines(closed.stdout)).toEqual(['response 2.05 hello', 'closed', 'main done'])
  })
})

describe('exits while busy', () => {
  it('process.exit() with a request in flight', async () => {
    const r = await runNode('lifetime.js', ['exit-inflight'])
    expectCleanExit(r)
    expect(r.stdout).toContain('exiting')
  })

  it('process.exit() while a server listens and a separate response is pending', async () => {
    const r = await runNode('lifetime.js', ['exit-listening'])
    expectCleanExit(r)
    expect(r.stdout).toContain('exiting')
  })

  it('process.exit() from inside a resource handler (libcoap on the stack)', async () => {
    const r = await runNode('lifetime.js', ['exit-in-handler'])
    expectCleanExit(r)
    expect(r.stdout).toContain('exiting')
  })

  it('process.exit() right after a response, the server still listening', async () => {
    const r = await runNode('lifetime.js', ['exit-in-response'])
    expectCleanExit(r)
    expect(r.stdout).toContain('exiting')
  })

  it('an uncaught exception while listening with a request in flight is a normal exit 1', async () => {
    const r = await runNode('lifetime.js', ['throw-listening'])
    expectCleanExit(r, 1)
    expect(r.stderr).toContain('deliberate uncaught error')
  })

  it('natural end after close() with a request in flight (the request fails with ERR_COAP_CLOSED)', async () => {
    const r = await runNode('lifetime.js', ['close-inflight'])
    expectCleanExit(r)
    expect(lines(r.stdout)).toEqual(['main done', 'error ERR_COAP_CLOSED'])
  })

  it('natural end after a server closed itself from inside its handler', async () => {
    const r = await runNode('lifetime.js', ['close-in-handler'])
    expectCleanExit(r)
    expect(r.stdout).toMatch(/^(response 2\.05|error ERR_COAP_\w+)$/m)
    expect(r.stdout).toContain('main done')
  })

  it('send with a bad signal: rejects, and release() and close() still work', async () => {
    const r = await runNode('lifetime.js', ['send-bad-signal'])
    expectCleanExit(r)
    expect(lines(r.stdout)).toEqual(['error TypeError', 'released', 'context closed', 'main done'])
  })
})

describe('worker_threads', () => {
  it('workers run a server and a client and end on their own; the main thread carries on', async () => {
    const r = await runNode('workers.js', ['once'])
    expectCleanExit(r)
    expect(lines(r.stdout)).toEqual([
      'main before 2.05 main thread',
      'worker 0 exit 0 ["response 2.05 echo x=1"]',
      'worker 1 exit 0 ["response 2.05 echo x=1"]',
      'worker 2 exit 0 ["response 2.05 echo x=1"]',
      'main after 2.05 main thread',
    ])
  })

  it('worker.terminate() while the worker makes native calls that throw (30 times) does not abort the process', async () => {
    const r = await runNode('worker-throws.js', ['30'], { killAfter: 20_000 })
    expectCleanExit(r)
    expect(lines(r.stdout)).toEqual(['done 30'])
  })

  it('worker.terminate() mid-traffic (16 times, varied timing) does not crash the process', async () => {
    const r = await runNode('workers.js', ['terminate', '16'], { killAfter: 20_000 })
    expectCleanExit(r)
    const out = lines(r.stdout)
    expect(out.filter((l) => /^terminated after \d+ ms: exit 1$/.test(l))).toHaveLength(16)
    expect(out).toContain('main after 2.05 main thread')
  })

  it('worker.terminate() while its server listens with a request in flight', async () => {
    const r = await runNode('workers.js', ['terminate-open'])
    expectCleanExit(r)
    expect(lines(r.stdout)).toEqual(['main before 2.05 main thread', 'terminated open: exit 1', 'main after 2.05 main thread'])
  })

  it('process.exit() inside a worker mid-traffic ends only that worker', async () => {
    const r = await runNode('workers.js', ['exit'])
    expectCleanExit(r)
    expect(lines(r.stdout)).toEqual(['main before 2.05 main thread', 'worker exit 0 []', 'main after 2.05 main thread'])
  })
})

describe('garbage collection', () => {
  type Counts = { total: number; cleared: number; finalized: number }
  let result: RunResult
  let report: Record<string, Counts> = {}
  beforeAll(async () => {
    result = await runNode('gc.js', [], { nodeArgs: ['--expose-gc'] })
    const first = lines(result.stdout)[0]
    if (first?.startsWith('{')) report = JSON.parse(first)
  })

  it('the GC script ran to the end and exited cleanly (finalizers crash nothing)', () => {
    expectCleanExit(result)
    expect(lines(result.stdout)[3]).toBe('live context ok: true')
  })

  // What the GC must never take: objects with work outstanding, even when unreferenced.
  it('keeps a dropped client whose request is in flight (the request still completes)', () => {
    expect(lines(result.stdout)[1]).toBe('dropped client with a pending request: 2.05 late answer')
  })

  it('keeps a dropped server that listens (it still answers)', () => {
    expect(lines(result.stdout)[2]).toBe('dropped listening server: 2.05 still serving')
  })

  const collectable = [
    'released sessions, context open',
    'referenced+released sessions',
    'closed contexts',
    'sessions of closed contexts',
    'unreleased sessions, context closed',
    'closed client and server after a request',
  ]
  it.each(collectable)('collects %s', (name) => {
    const c = report[name]
    expect(c, `no result for '${name}': ${result.stdout}${result.stderr}`).toBeDefined()
    expect(c.total).toBeGreaterThan(0)
    expect(c.cleared).toBe(c.total)
    expect(c.finalized).toBe(c.total)
  })

  // The safety net: wrappers dropped without release()/close() must not leak their libcoap
  // context (an epoll and a timer descriptor and about 30 KB each) for the life of the process.
  const safetyNet = [
    'unclosed idle contexts',
    'unclosed contexts with unreleased sessions',
    'unclosed unused clients',
    'unclosed client after a request',
  ]
  it.each(safetyNet)('collects %s (finalizer safety net)', (name) => {
    const c = report[name]
    expect(c, `no result for '${name}': ${result.stdout}${result.stderr}`).toBeDefined()
    expect(c.total).toBeGreaterThan(0)
    expect(c, JSON.stringify(c)).toEqual({ total: c.total, cleared: c.total, finalized: c.total })
  })
})

describe('memory over many create/close cycles', () => {
  type Churn = { kind: string; cycles: number; warmRss: number; endRss: number; growth: number; ms: number }
  const runs: Record<string, { r: RunResult; churn?: Churn }> = {}
  const plan: Array<[kind: string, total: number, warmup: number]> = [
    ['client', 10_000, 1000],
    ['session', 10_000, 1000],
    ['server', 4000, 1000],
    ['request', 20_000, 2000],
    ['leak', 10_000, 1000],
  ]
  const MB = 1024 * 1024
  // 9000 measured cycles: 10 MB catches a leak of about 1.1 KB per cycle. A leaked context costs
  // ~30 KB, a leaked session ~1.5 KB (the 'leak' control below proves the measurement sees it).
  const LIMIT = 10 * MB

  beforeAll(async () => {
    // In parallel: each is its own process, and together they stay within a few seconds.
    await Promise.all(
      plan.map(async ([kind, total, warmup]) => {
        const r = await runNode('churn.js', [kind, String(total), String(warmup)], {
          nodeArgs: ['--expose-gc', '--max-semi-space-size=1'],
          killAfter: 25_000,
        })
        const line = lines(r.stdout)[0]
        runs[kind] = { r, churn: line?.startsWith('{') ? JSON.parse(line) : undefined }
      }),
    )
  }, 30_000)

  const check = (kind: string): Churn => {
    const { r, churn } = runs[kind]
    expectCleanExit(r)
    expect(churn, r.stdout + r.stderr).toBeDefined()
    return churn!
  }

  it('10 000 CoapClient create + close cycles leave RSS flat', () => {
    const c = check('client')
    expect(c.growth, `RSS ${c.warmRss / MB} MB -> ${c.endRss / MB} MB`).toBeLessThan(LIMIT)
  })

  it('10 000 Context + client session create/release/close cycles leave RSS flat', () => {
    const c = check('session')
    expect(c.growth, `RSS ${c.warmRss / MB} MB -> ${c.endRss / MB} MB`).toBeLessThan(LIMIT)
  })

  it('4000 CoapServer listen/close cycles leave RSS flat', () => {
    const c = check('server')
    // 3000 measured cycles; a leaked context each would be ~90 MB.
    expect(c.growth, `RSS ${c.warmRss / MB} MB -> ${c.endRss / MB} MB`).toBeLessThan(LIMIT)
  })

  it('20 000 requests on one client leave RSS flat', () => {
    const c = check('request')
    expect(c.growth, `RSS ${c.warmRss / MB} MB -> ${c.endRss / MB} MB`).toBeLessThan(LIMIT)
  })

  it('control: the same measurement sees 9000 never-released sessions', () => {
    const c = check('leak')
    expect(c.growth).toBeGreaterThan(LIMIT)
  })
})

describe('Session reference() / release()', () => {
  let hole: dgram.Socket
  let holePort: number
  let server: CoapServer
  let serverPort: number

  beforeAll(async () => {
    // Swallows everything: requests to it stay in flight.
    hole = dgram.createSocket('udp4')
    hole.on('message', () => {})
    await new Promise<void>((resolve) => hole.bind(0, HOST, resolve))
    holePort = (hole.address() as { port: number }).port
    server = new CoapServer({ listen: `coap://${HOST}:0` })
    server.resource('/r').get(() => 'r')
    serverPort = (await server.listen())[0].port
  })
  afterAll(async () => {
    await server?.close()
    await new Promise<void>((resolve) => (hole ? hole.close(() => resolve()) : resolve()))
  })

  const get: { method: 'GET'; options: Array<[number, Buffer]> } = { method: 'GET', options: [[11, Buffer.from('r')]] }

  it('one release() per reference(): valid until the last one, extra releases are harmless', async () => {
    const ctx = new Context()
    try {
      const s = ctx.newClientSession({ remote: { host: HOST, port: serverPort } })
      expect(s).toBeInstanceOf(Session)
      expect(s.valid).toBe(true)
      expect(s.reference()).toBe(s)
      s.release()
      expect(s.valid).toBe(true)
      expect(s.remote).toBe(`${HOST}:${serverPort}`)
      expect((await ctx.send(s, get, { timeout: 3000 })).codeString).toBe('2.05')

      s.release()
      expect(s.valid).toBe(false)
      expect(s.remote).toBe(`${HOST}:${serverPort}`) // still known, for logs about the ended session
      expect(s.toString()).toBe('<released session>')
      expect(() => s.reference()).toThrow(RangeError)
      await expect(ctx.send(s, get)).rejects.toMatchObject({ code: 'ERR_COAP_CLOSED' })

      s.release()
      s.release()
      expect(s.valid).toBe(false)

      // The context is unaffected.
      const t = ctx.newClientSession({ remote: { host: HOST, port: serverPort } })
      expect((await ctx.send(t, get, { timeout: 3000 })).codeString).toBe('2.05')
      t.release()
    } finally {
      ctx.close()
    }
  })

  it('several references need as many releases', () => {
    const ctx = new Context()
    try {
      const s = ctx.newClientSession({ remote: { host: HOST, port: serverPort } })
      s.reference().reference().reference()
      for (let i = 0; i < 3; i++) {
        s.release()
        expect(s.valid, `after release ${i + 1} of 4`).toBe(true)
      }
      s.release()
      expect(s.valid).toBe(false)
    } finally {
      ctx.close()
    }
  })

  it('a pending request on a released session rejects with ERR_COAP_CLOSED', async () => {
    const ctx = new Context()
    try {
      const s = ctx.newClientSession({ remote: { host: HOST, port: holePort } })
      const pending = ctx.send(s, get) // no timeout: it would wait for libcoap's retransmissions
      let settled = false
      pending.then(
        () => (settled = true),
        () => (settled = true),
      )
      await new Promise((r) => setTimeout(r, 50))
      expect(settled).toBe(false)
      s.release()
      const err = await pending.then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(CoapClosedError)
      expect((err as CoapClosedError).code).toBe('ERR_COAP_CLOSED')
    } finally {
      ctx.close()
    }
  })

  it('with an extra reference, the first release() leaves the request pending; the last fails it', async () => {
    const ctx = new Context()
    try {
      const s = ctx.newClientSession({ remote: { host: HOST, port: holePort } })
      s.reference()
      let outcome: unknown = 'pending'
      const pending = ctx.send(s, get).then(
        () => (outcome = 'resolved'),
        (e: unknown) => (outcome = e),
      )
      s.release()
      await new Promise((r) => setTimeout(r, 50))
      expect(outcome).toBe('pending')
      expect(s.valid).toBe(true)
      s.release()
      await pending
      expect(outcome).toBeInstanceOf(CoapClosedError)
    } finally {
      ctx.close()
    }
  })

  it('context.close() fails pending requests and invalidates unreleased sessions; release() afterwards is harmless', async () => {
    const ctx = new Context()
    const s = ctx.newClientSession({ remote: { host: HOST, port: holePort } })
    s.reference()
    const pending = ctx.send(s, get).then(
      () => 'resolved',
      (e: unknown) => e,
    )
    ctx.close()
    expect(await pending).toBeInstanceOf(CoapClosedError)
    expect(s.valid).toBe(false)
    s.release()
    s.release()
    s.release()
    expect(() => s.reference()).toThrow(RangeError)
    ctx.close() // idempotent
  })

  it("a CoapClient's request fails with ERR_COAP_CLOSED when the client is closed", async () => {
    const client = new CoapClient({ timeout: 0 })
    const p = client.get(`coap://${HOST}:${holePort}/x`)
    await new Promise((r) => setTimeout(r, 20))
    await client.close()
    await expect(p).rejects.toMatchObject({ name: 'CoapClosedError', code: 'ERR_COAP_CLOSED' })
    await expect(client.get(`coap://${HOST}:${serverPort}/r`)).rejects.toMatchObject({ code: 'ERR_COAP_CLOSED' })
  })
})
