// Worker thread behind raw-peers.ts: hand-made CoAP-over-TCP peers on loopback.
//
// They run in a worker (not on the test's own event loop) because libcoap's client may block
// the JS thread inside coap_send() while it waits for the peer's CSM (coap_client_delay_first);
// a peer on the same thread could then not answer at all.
//
// workerData.mode:
//   'server'  a scripted RFC 8323 server (see RawServerConfig in raw-peers.ts)
//   'relay'   a TCP relay to 127.0.0.1:target that parses the messages in both directions
// Every message seen is reported to the parent as { type: 'frame', ... }.
import { parentPort, workerData } from 'node:worker_threads'
import * as net from 'node:net'
import { Code, TcpFrameParser, encodeTcp, encodeUint } from './rfc8323.mjs'

const cfg = workerData
const post = (m) => parentPort.postMessage(m)
const sockets = new Map()
let nextConn = 0

function summary(f) {
  return {
    code: f.code,
    token: f.token.toString('hex'),
    // Small option values only (everything the tests look at), to keep the messages light.
    options: f.options.map(([n, v]) => [n, v.length <= 16 ? v.toString('hex') : `(${v.length} bytes)`]),
    payloadLength: f.payload.length,
    payload: f.payload.length <= 256 ? f.payload.toString('hex') : undefined,
    size: f.size,
  }
}

function fromSpec(spec) {
  return encodeTcp({
    code: spec.code,
    token: Buffer.from(spec.token ?? '', 'hex'),
    options: (spec.options ?? []).map(([n, hex]) => [n, Buffer.from(hex, 'hex')]),
    payload: spec.payload === undefined ? undefined : Buffer.from(spec.payload, 'hex'),
  })
}

function startServer() {
  const server = net.createServer({ noDelay: true }, (sock) => {
    const conn = nextConn++
    sockets.set(conn, sock)
    const parser = new TcpFrameParser()
    let answered = 0
    let silent = false
    post({ type: 'connection', conn, remotePort: sock.remotePort })
    const write = (bytes) => {
      if (!sock.destroyed && !silent) sock.write(bytes)
    }
    if (cfg.csm) write(fromSpec({ code: Code.CSM, options: cfg.csm.options }))
    sock.on('data', (chunk) => {
      let frames
      try {
        frames = parser.push(chunk)
      } catch (err) {
        post({ type: 'parse-error', conn, message: String(err && err.message) })
        sock.destroy()
        return
      }
      for (const f of frames) {
        post({ type: 'frame', conn, ...summary(f) })
        if (f.code === Code.PING && cfg.pong) write(encodeTcp({ code: Code.PONG, token: f.token }))
        if (f.code < 1 || f.code > 31) continue // only requests below
        if (answered < (cfg.answerCount ?? 0)) {
          answered++
          const a = cfg.answer ?? { code: Code.CONTENT, payload: '' }
          const options = a.contentFormat === undefined ? [] : [[12, encodeUint(a.contentFormat)]]
          write(encodeTcp({ code: a.code, token: f.token, options, payload: Buffer.from(a.payload ?? '', 'utf8') }))
          continue
        }
        switch (cfg.after ?? 'silent') {
          case 'silent':
            silent = true // reads on, never writes again
            break
          case 'abort': {
            const options = cfg.abort?.badCsmOption === undefined ? [] : [[2, encodeUint(cfg.abort.badCsmOption)]]
            const payload = cfg.abort?.diagnostic === undefined ? undefined : Buffer.from(cfg.abort.diagnostic, 'utf8')
            write(encodeTcp({ code: Code.ABORT, options, payload }))
            post({ type: 'sent-abort', conn })
            // RFC 8323 §5.6: the sender of an Abort closes the connection (after a short grace).
            if (cfg.abort?.closeAfterMs !== undefined) setTimeout(() => sock.end(), cfg.abort.closeAfterMs)
            break
          }
          case 'reset':
            sock.resetAndDestroy()
            break
        }
      }
    })
    sock.on('error', () => {})
    sock.on('close', (hadError) => {
      sockets.delete(conn)
      post({ type: 'close', conn, hadError, buffered: parser.buffered })
    })
  })
  server.on('error', (err) => post({ type: 'error', message: String(err && err.message) }))
  server.listen(0, cfg.host ?? '127.0.0.1', () => post({ type: 'listening', port: server.address().port }))
  return server
}

function startRelay() {
  const server = net.createServer({ noDelay: true }, (front) => {
    const conn = nextConn++
    sockets.set(conn, front)
    const back = net.connect({ host: cfg.targetHost ?? '127.0.0.1', port: cfg.target, noDelay: true })
    sockets.set(`${conn}b`, back)
    post({ type: 'connection', conn })
    const pipe = (from, to, dir) => {
      const parser = new TcpFrameParser()
      from.on('data', (chunk) => {
        to.write(chunk)
        try {
          for (const f of parser.push(chunk)) post({ type: 'frame', conn, dir, ...summary(f) })
        } catch (err) {
          post({ type: 'parse-error', conn, dir, message: String(err && err.message) })
        }
      })
      from.on('end', () => to.end())
      from.on('error', () => to.destroy())
      from.on('close', () => {
        to.destroy()
        sockets.delete(from === front ? conn : `${conn}b`)
        post({ type: 'close', conn, dir })
      })
    }
    pipe(front, back, 'c2s')
    pipe(back, front, 's2c')
  })
  server.on('error', (err) => post({ type: 'error', message: String(err && err.message) }))
  server.listen(0, cfg.host ?? '127.0.0.1', () => post({ type: 'listening', port: server.address().port }))
  return server
}

const server = cfg.mode === 'relay' ? startRelay() : startServer()

parentPort.on('message', (m) => {
  if (m.type === 'send') {
    const sock = sockets.get(m.conn)
    if (sock && !sock.destroyed) sock.write(fromSpec(m.frame))
  } else if (m.type === 'flush') {
    // Everything reported before this message reaches the parent first (one FIFO port).
    post({ type: 'flushed', id: m.id })
  } else if (m.type === 'destroy') {
    sockets.get(m.conn)?.destroy()
  } else if (m.type === 'stop') {
    for (const s of sockets.values()) s.destroy()
    sockets.clear()
    server.close(() => {
      post({ type: 'stopped' })
      parentPort.close()
    })
  }
})
