/**
 * Values as error messages show them.
 * @module
 * @internal
 */

/** `String(value)`, except that it never throws (null-prototype objects, symbols in templates). */
export function show(value: unknown): string {
  try {
    return typeof value === 'symbol' ? value.toString() : String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}
