/**
 * `Symbol.asyncDispose` for Node versions that predate it (so `await using` works everywhere
 * TypeScript compiles it).
 * @module
 * @internal
 */
;(Symbol as { asyncDispose?: symbol }).asyncDispose ??= Symbol.for('nodejs.asyncDispose')
export {}
