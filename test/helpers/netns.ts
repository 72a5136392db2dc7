// Network namespaces for multicast tests (RFC 7252 §8). All traffic stays inside namespaces made
// here; nothing touches the machine's real interfaces. Linux only, needs `unshare`, `nsenter`
// (util-linux) and `ip` (iproute2).
//
// Every namespace is anonymous (`unshare -n`, never `ip netns add`): it lives only as long as a
// process inside it, so a crashed test leaves nothing behind in /run/netns to clean up.
//
// Two shapes:
//   runInNetns / runCommandInNetns  one fresh namespace; multicast goes over `lo`.
//     IPv4: 224.0.0.0/4 is routed to lo with `src 127.0.0.1` (without the route sendto() gives
//           ENETUNREACH; without `src` the request leaves from 0.0.0.0 and servers see peer 0.0.0.0).
//     IPv6: the kernel turns a plain `ff00::/8 dev lo` route into a reject route (packets counted as
//           Ip6OutNoRoutes, sendto() still succeeds), so a *local*-type route is used instead:
//           `ip -6 route add local ff00::/8 dev lo table local`. Group membership is still enforced:
//           a socket that did not join gets nothing, as on a real link.
//     Both ff02::fd (with or without %lo) and ff05::fd work; all replies come from 127.0.0.1 / ::1.
//   createNetnsLan(n)  n namespaces ("hosts"), each with `eth0` on one bridge in a hidden hub
//     namespace, so one client can get answers from several servers at distinct addresses.
//     host i has 198.18.0.(i+1)/24 (RFC 2544 test range) and fd00:c0a9::(i+1)/64 plus a fe80::
//     link-local; IPv4 multicast is routed to eth0, IPv6 uses the kernel's own ff00::/8 route.
//     Join groups on interface "eth0" (e.g. coap-server -g 224.0.1.187 -G eth0).
// Each call gets its own namespaces, so parallel test files can all use port 5683.
// Timing: libcoap delays every response to a multicast request by a random 0..DEFAULT_LEISURE (5 s)
// (coap_session_set_default_leisure() changes it; coap-server has no flag), and coap-client waits
// DEFAULT_LEISURE + 1 = 6 s for a multicast request unless given -B; budget timeouts for that.
import { spawn, type ChildProcess } from 'node:child_process'

export const MCAST = { v4: '224.0.1.187', v6Link: 'ff02::fd', v6Site: 'ff05::fd', port: 5683 } as const

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  timedOut: boolean
}
export interface RunOptions {
  timeoutMs?: number // whole run, setup included; default 30 s
  env?: NodeJS.ProcessEnv
  cwd?: string
}

const IS_ROOT = process.getuid?.() === 0
// Not root: a user namespace (`-r`) gives the capabilities needed inside the new net namespace.
const UNSHARE = IS_ROOT ? ['-n'] : ['-r', '-n']

const LO_SETUP = [
  'ip link set lo up',
  'ip link set lo multicast on', // not needed by the kernel, but code that lists IFF_MULTICAST interfaces sees lo
  'ip route add 224.0.0.0/4 dev lo src 127.0.0.1',
  'ip -6 route add local ff00::/8 dev lo table local',
].join(' && ')

const MAX_OUTPUT = 8 << 20 // cap kept output so a chatty child cannot exhaust memory
const live = new Set<number>() // process groups we started and have not seen gone yet

// Last resort if the test process exits with children still running: kill their groups.
let exitHook = false
function track(pid: number): void {
  live.add(pid)
  if (!exitHook) {
    exitHook = true
    process.on('exit', () => { for (const g of live) killGroup(g, 'SIGKILL') })
  }
}
function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try { process.kill(-pgid, sig) } catch { /* ESRCH: already gone */ }
}

// Spawn in a new process group (detached) so a timeout can kill the child and anything it started.
function spawnTracked(file: string, args: string[], opts: RunOptions & { stdin?: boolean } = {}): ChildProcess {
  const child = spawn(file, args, {
    detached: true,
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  })
  if (child.pid !== undefined) {
    const pid = child.pid
    track(pid)
    // Kill leftovers (e.g. a server the script forgot) once the leader is gone: they would
    // otherwise keep the namespace alive.
    child.once('exit', () => { killGroup(pid, 'SIGKILL'); live.delete(pid) })
  }
  return child
}

// Collect output and exit status; on timeout SIGTERM the group, SIGKILL it 1 s later, and give up
// waiting for pipes 2 s after that (a grandchild that escaped the group could hold them open).
function collect(child: ChildProcess, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = ''
    let stderr = ''
    let timedOut = false
    let done = false
    const timers: NodeJS.Timeout[] = []
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return
      done = true
      timers.forEach(clearTimeout)
      resolve({ code, signal, stdout, stderr, timedOut })
    }
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { if (stdout.length < MAX_OUTPUT) stdout += d })
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < MAX_OUTPUT) stderr += d })
    child.once('error', (e) => { stderr += `spawn error: ${e.message}\n`; finish(null, null) })
    child.once('close', (code, signal) => finish(code, signal))
    timers.push(setTimeout(() => {
      timedOut = true
      const pid = child.pid
      if (pid === undefined) return finish(null, null)
      killGroup(pid, 'SIGTERM')
      timers.push(setTimeout(() => killGroup(pid, 'SIGKILL'), 1000))
      timers.push(setTimeout(() => finish(child.exitCode, child.signalCode), 3000))
    }, timeoutMs))
  })
}

/** Run `file args` in a fresh namespace whose lo carries IPv4 and IPv6 multicast. */
export function runCommandInNetns(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  // sh does the setup, then execs the command; `$0` is only a label for sh's error messages.
  const child = spawnTracked('unshare', [...UNSHARE, '--', 'sh', '-c', `${LO_SETUP} && exec "$@"`, 'netns-setup', file, ...args], opts)
  return collect(child, opts.timeoutMs ?? 30_000)
}

/** Run a Node script (this Node binary) in a fresh multicast-ready namespace. */
export function runInNetns(script: string, args: string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  return runCommandInNetns(process.execPath, [script, ...args], opts)
}

export interface LanHost {
  index: number
  pid: number // holder process; `nsenter -t pid -n` enters this host's namespace
  ifname: 'eth0'
  ipv4: string
  ipv6: string
}
export interface NetnsLan {
  hosts: LanHost[]
  /** Start a long-running process (a server) on a host; it is killed by close(). */
  spawn(host: number, file: string, args: string[], opts?: RunOptions & { stdin?: boolean }): ChildProcess
  /** Run a process on a host to completion, bounded by opts.timeoutMs (default 30 s). */
  run(host: number, file: string, args: string[], opts?: RunOptions): Promise<RunResult>
  close(): Promise<void>
}

// A holder is `sleep` inside a new namespace: the namespace exists while it runs, and the bounded
// sleep means even a SIGKILLed test run leaves no namespace behind for long.
function startHolder(ttlMs: number): Promise<number> {
  const child = spawnTracked('unshare', [...UNSHARE, '--', 'sh', '-c', 'echo ready; exec sleep "$0"', String(Math.ceil(ttlMs / 1000))])
  return new Promise((resolve, reject) => {
    const fail = (why: string) => { clearTimeout(t); if (child.pid) killGroup(child.pid, 'SIGKILL'); reject(new Error(`netns holder: ${why}`)) }
    const t = setTimeout(() => fail('not ready within 5 s'), 5000)
    let err = ''
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { err += d })
    const onExit = (code: number | null) => fail(`exited ${code}: ${err.trim()}`)
    child.once('error', (e) => fail(e.message))
    child.once('exit', onExit)
    child.stdout?.once('data', () => {
      clearTimeout(t)
      child.removeListener('exit', onExit)
      // Nothing more to read; let a forgotten LAN not hold the event loop (the TTL still ends it).
      child.stdout?.destroy()
      child.stderr?.destroy()
      child.unref()
      resolve(child.pid!)
    })
  })
}

async function inNs(pid: number, script: string): Promise<void> {
  const r = await collect(spawnTracked('nsenter', ['-t', String(pid), '-n', '--', 'sh', '-c', script]), 10_000)
  if (r.code !== 0) throw new Error(`netns setup failed (${r.timedOut ? 'timeout' : `exit ${r.code}`}): ${script}\n${r.stderr}`)
}

/** n hosts on one bridged link (root only: nsenter into another user's namespace needs more). */
export async function createNetnsLan(count: number, opts: { ttlMs?: number } = {}): Promise<NetnsLan> {
  if (!IS_ROOT) throw new Error('createNetnsLan needs root')
  if (!(count >= 1 && count <= 50)) throw new Error('createNetnsLan: 1..50 hosts')
  const ttlMs = opts.ttlMs ?? 600_000
  const holders: number[] = []
  const procs = new Set<ChildProcess>()
  const close = async () => {
    for (const c of procs) if (c.pid) killGroup(c.pid, 'SIGKILL')
    for (const p of holders) killGroup(p, 'SIGKILL')
    // Wait (bounded) until the holders are gone, so the namespaces are destroyed on return.
    for (let i = 0; i < 50 && holders.some((p) => { try { process.kill(p, 0); return true } catch { return false } }); i++) {
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  try {
    const hub = await startHolder(ttlMs)
    holders.push(hub)
    const hosts: LanHost[] = []
    for (let i = 0; i < count; i++) {
      const pid = await startHolder(ttlMs)
      holders.push(pid)
      hosts.push({ index: i, pid, ifname: 'eth0', ipv4: `198.18.0.${i + 1}`, ipv6: `fd00:c0a9::${i + 1}` })
    }
    // Snooping off: with no IGMP/MLD querier on this link the bridge must simply flood multicast.
    await inNs(hub, ['ip link add br0 type bridge mcast_snooping 0', 'ip link set br0 up',
      ...hosts.map((h) => `ip link add p${h.index} type veth peer name eth0 netns ${h.pid} && ip link set p${h.index} master br0 up`)].join(' && '))
    for (const h of hosts) {
      await inNs(h.pid, [
        'ip link set lo up',
        // No DAD: addresses (incl. the fe80:: one made at link up) would stay tentative ~1-2 s.
        'echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad',
        `ip addr add ${h.ipv4}/24 dev eth0`,
        `ip addr add ${h.ipv6}/64 dev eth0 nodad`,
        'ip link set eth0 up',
        'ip route add 224.0.0.0/4 dev eth0',
      ].join(' && '))
    }
    const spawnOn = (host: number, file: string, args: string[], o: RunOptions & { stdin?: boolean } = {}) => {
      const h = hosts[host]
      if (!h) throw new Error(`no host ${host}`)
      const c = spawnTracked('nsenter', ['-t', String(h.pid), '-n', '--', file, ...args], o)
      procs.add(c)
      c.once('exit', () => procs.delete(c))
      return c
    }
    return {
      hosts,
      spawn: spawnOn,
      run: (host, file, args, o = {}) => collect(spawnOn(host, file, args, o), o.timeoutMs ?? 30_000),
      close,
    }
  } catch (e) {
    await close()
    throw e
  }
}

export interface NetnsSupport { ok: boolean; reason: string }
const support = new Map<string, Promise<NetnsSupport>>()

/** Whether namespaces can be made here, and why not. Tests should fail (not skip) on !ok. */
export function netnsSupport(kind: 'single' | 'lan' = 'single'): Promise<NetnsSupport> {
  let p = support.get(kind)
  if (!p) {
    p = (async (): Promise<NetnsSupport> => {
      if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux, not ${process.platform}` }
      if (kind === 'lan') {
        try { await (await createNetnsLan(1, { ttlMs: 30_000 })).close(); return { ok: true, reason: '' } } catch (e) {
          return { ok: false, reason: (e as Error).message }
        }
      }
      const r = await runCommandInNetns('true', [], { timeoutMs: 10_000 })
      return r.code === 0 ? { ok: true, reason: '' }
        : { ok: false, reason: `unshare/ip failed (${r.timedOut ? 'timeout' : `exit ${r.code}`}): ${r.stderr.trim()}` }
    })()
    support.set(kind, p)
  }
  return p
}

export async function netnsAvailable(kind: 'single' | 'lan' = 'single'): Promise<boolean> {
  return (await netnsSupport(kind)).ok
}
