import { Buffer } from 'node:buffer'

/** Longest caller key, in UTF-8 bytes (the engines' key buffers are sized for it). */
export const MAX_KEY_BYTES = 255

/**
 * Names a received value for an error message without running any of its code: a value whose
 * `toString` throws must still produce the RangeError or TypeError the caller is owed.
 */
export const describe = (value: unknown): string => {
  try {
    return describeUnsafely(value)
  } catch {
    // A revoked Proxy, a Proxy trap or a `constructor.name` getter that throws.
    return 'a value that cannot be described'
  }
}

function describeUnsafely(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'symbol') return value.description === undefined ? 'a symbol' : `Symbol(${value.description})`
  if (typeof value === 'function') return 'a function'
  if (Array.isArray(value)) return 'an array'
  if (value === null) return 'null'
  if (typeof value === 'object') return isPlainObject(value) ? 'an object' : `an instance of ${constructorName(value)}`
  return String(value)
}

function constructorName(value: object): string {
  const name: unknown = Object.getPrototypeOf(value)?.constructor?.name
  return typeof name === 'string' && name !== '' ? name : 'a class'
}

/** An object literal or `Object.create(null)`: not a Map, a boxed String, an array or a class instance. */
function isPlainObject(value: object): boolean {
  const prototype: unknown = Object.getPrototypeOf(value)
  // The second test accepts plain objects from another realm (vm contexts), whose
  // Object.prototype is a different object.
  return prototype === null || prototype === Object.prototype || Object.getPrototypeOf(prototype) === null
}

/** A timeout in ms: a non-negative safe integer, 0 meaning none. */
export function checkTimeout(name: string, value: unknown): number {
  if (typeof value !== 'number') {
    throw new TypeError(`${name} must be a number of milliseconds, received ${describe(value)}`)
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer of milliseconds (0 for none), received ${describe(value)}`)
  }
  return value
}

export function checkInteger(name: string, value: unknown, min: number, max: number, allowInfinity = false): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, received ${describe(value)}`)
  if (allowInfinity && value === Infinity) return value
  if (!Number.isInteger(value) || value < min || value > max) {
    const upper = allowInfinity ? `${max} or Infinity` : String(max)
    throw new RangeError(`${name} must be an integer from ${min} to ${upper}, received ${describe(value)}`)
  }
  return value
}

export function checkChoice<T extends string>(name: string, value: unknown, choices: readonly T[]): T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    const list = choices.map((choice) => `'${choice}'`).join(', ')
    const error = typeof value === 'string' ? RangeError : TypeError
    throw new error(`${name} must be one of ${list}, received ${describe(value)}`)
  }
  return value as T
}

export function checkFunction(name: string, value: unknown): (...args: never[]) => unknown {
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function, received ${describe(value)}`)
  return value as (...args: never[]) => unknown
}

/**
 * A string the engines can store as it is. A lone surrogate has no UTF-8 form; replacing it
 * would make two distinct keys one (`'\uD800'` and `'\uDC00'` both becoming U+FFFD) and make a
 * stored role differ from the string the caller checks it with, so it is refused instead.
 */
export function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, received ${describe(value)}`)
  if (!value.isWellFormed()) {
    throw new RangeError(`${name} must be well-formed text (no lone UTF-16 surrogates), received ${describe(value)}`)
  }
  return value
}

/** A caller key: 1 to 255 UTF-8 bytes with no lone surrogates (they have no UTF-8 form). */
export function checkKey(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, received ${describe(value)}`)
  if (!isUsableKey(value)) {
    throw new RangeError(`${name} must be 1 to ${MAX_KEY_BYTES} UTF-8 bytes of well-formed text, received ${describe(value)}`)
  }
  return value
}

export function isUsableKey(value: string): boolean {
  // A UTF-16 unit is at most 3 UTF-8 bytes, so short strings skip the byte count.
  return value.length > 0 &&
    (value.length * 3 <= MAX_KEY_BYTES || Buffer.byteLength(value, 'utf8') <= MAX_KEY_BYTES) &&
    value.isWellFormed()
}

export function checkRoles(name: string, value: unknown): string[] {
  if (!Array.isArray(value)) throw new TypeError(`${name} must be an array of strings, received ${describe(value)}`)
  // An index loop, not map(): map skips the holes of a sparse array and would hand them on
  // (the native engine then fails to convert one after the session is made; the JS one stores it).
  const roles: string[] = []
  for (let index = 0; index < value.length; index++) roles.push(checkString(`${name}[${index}]`, value[index]))
  return roles
}

/**
 * A plain object (literal or null-prototype): a Map or a boxed String would be read as the wrong
 * keys. Returns a null-prototype copy of its own enumerable string-keyed properties, each read
 * once: nothing is inherited (an `Object.prototype.roles` planted elsewhere grants nothing), and
 * a getter cannot return one value to the check and another to the use.
 */
export function checkPlainObject(name: string, value: unknown): Record<string, unknown> {
  const object = checkPlainObjectShape(name, value)
  const own: Record<string, unknown> = Object.create(null)
  for (const key of Object.keys(object)) own[key] = object[key]
  return own
}

/**
 * `value`, once it is a plain object (TypeError naming `name` otherwise), not copied: callers
 * that read its own keys once each (`Object.keys`, then one read per key) need no copy.
 */
export function checkPlainObjectShape(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || !isPlainObject(value)) {
    throw new TypeError(`${name} must be a plain object, received ${describe(value)}`)
  }
  return value as Record<string, unknown>
}

export function checkKnownKeys(name: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw unknownKeyError(name, key, known)
  }
}

/** The TypeError for the unknown option `key` of `name`. */
export function unknownKeyError(name: string, key: string, known: readonly string[]): TypeError {
  return new TypeError(`${name} has an unknown option ${JSON.stringify(key)}; known options: ${known.join(', ')}`)
}

export function utf8Bytes(value: string): number {
  return Buffer.byteLength(value, 'utf8')
}
