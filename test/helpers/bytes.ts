// Payload and timing helpers shared by the tests.
import { expect } from 'vitest'

// Deterministic, non-periodic bytes (xorshift32), so a lost, duplicated or reordered block shows.
export function pattern(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size)
  let x = (Math.imul(seed + 1, 2654435761) >>> 0) || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

// Byte-for-byte comparison with a readable failure (length, then the first differing offset).
export function expectSameBytes(actual: Buffer | undefined, expected: Buffer, what: string): void {
  expect(actual, `${what}: no payload`).toBeInstanceOf(Buffer)
  expect(actual!.length, `${what}: length`).toBe(expected.length)
  let firstDiff = -1
  for (let i = 0; i < expected.length; i++) {
    if (actual![i] !== expected[i]) {
      firstDiff = i
      break
    }
  }
  expect(firstDiff, `${what}: first differing byte offset`).toBe(-1)
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// Waits (bounded) until `cond()` holds.
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(10)
  }
}

/** Settles a promise and measures how long it took (ms). */
export async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown; elapsed: number }> {
  const started = Date.now()
  try {
    const value = await promise
    return { value, elapsed: Date.now() - started }
  } catch (error) {
    return { error, elapsed: Date.now() - started }
  }
}
