/**
 * `observe URL`: registers (RFC 7641), prints the first response and every notification, and
 * deregisters after `-s` seconds or on Ctrl-C.
 * @module
 */
import { appendFileSync, writeFileSync } from 'node:fs'
import type { CoapClient } from '../client'
import { secondsFlag, type Command } from './args'
import { ExitCode, exitCodeForResponse, type ExitCodeValue } from './exit-codes'
import { errorLine, printJson, responseJson, writeStderr, writeStdout } from './output'
import { payloadFlags, requestOptions } from './request'

/** Observes until the duration passes, `interrupt` fires, or the server ends the observation. */
export async function runObserve(cmd: Command, client: CoapClient, interrupt: AbortSignal): Promise<ExitCodeValue> {
  const { flags } = cmd
  const duration = secondsFlag(flags.duration, '-s/--duration', undefined)
  const payload = payloadFlags(flags)
  const options = requestOptions(flags)
  const stop = new AbortController()
  const timer = duration === undefined ? undefined : setTimeout(() => stop.abort('duration'), duration)
  const onInterrupt = (): void => stop.abort('interrupt')
  interrupt.addEventListener('abort', onInterrupt, { once: true })
  if (flags.output !== undefined && flags.output !== '-') writeFileSync(flags.output, '')
  let count = 0
  let code: ExitCodeValue = ExitCode.OK
  try {
    for await (const n of client.observe(cmd.url!, { ...options, method: cmd.method as 'GET' | 'FETCH', payload, signal: stop.signal })) {
      const seq = n.option('Observe')[0] as number | undefined
      if (count === 0 && n.ok && seq === undefined && !flags.json) writeStderr('note: the resource is not observable (the answer has no Observe option)')
      count++
      code = exitCodeForResponse(n.code)
      if (flags.json) printJson(responseJson(n, { method: cmd.method, observe: seq ?? null }))
      if (!n.ok) {
        writeStderr(errorLine(n))
        break // an error answer ends the observation (RFC 7641 §4.2)
      }
      if (flags.output === '-') writeStdout(n.payload)
      else if (flags.output !== undefined) appendFileSync(flags.output, n.payload)
      else if (!flags.json) writeStdout(n.payload[n.payload.length - 1] === 0x0a ? n.payload : Buffer.concat([n.payload, Buffer.from('\n')]))
    }
    return code
  } catch (err) {
    if (stop.signal.aborted && (err as { code?: string }).code === 'ERR_COAP_ABORTED') {
      if (count > 0) return code
      // Nothing arrived before -s ran out: as good as a timeout. Ctrl-C: interrupted.
      if (stop.signal.reason === 'duration') {
        writeStderr(`no answer from ${cmd.url} within the ${flags.duration} s of -s`)
        return ExitCode.TIMEOUT
      }
      return ExitCode.INTERRUPTED
    }
    throw err
  } finally {
    clearTimeout(timer)
    interrupt.removeEventListener('abort', onInterrupt)
  }
}
