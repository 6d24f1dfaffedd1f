import { describe } from './validate'

// The stored form of a session data value: the one format the engines hold, and that a snapshot
// file and a Redis hash will hold byte for byte. docs/data-format.md describes it; it is frozen:
// a change must keep reading what was written before.
//
// - A string that does not start with U+0000 is stored as itself (the fast path: one
//   charCodeAt on the way in and one on the way out).
// - Anything else is U+0000, a one-character tag, then the payload:
//     's': a string that starts with U+0000, stored whole after the tag;
//     'j': any other JSON value (number, boolean, null, array, object) as JSON text.
//   Every other tag is reserved; a stored value with one is refused, never guessed at.

/** A JSON value as session data holds it: what `JSON.parse` can return, with finite numbers only. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

/**
 * `T` as session data may type it: strings, numbers, booleans, null, and arrays and objects of
 * those (interfaces and type aliases alike; optional properties allowed). A property typed as a
 * function, a Date, a Map, a bigint, undefined alone... maps to never, so a data type that holds
 * one does not satisfy `Data extends JsonFields<Data>`.
 */
export type JsonCompatible<T> = T extends string | number | boolean | null
  ? T
  : T extends (...args: never[]) => unknown
    ? never
    : T extends readonly (infer Item)[]
      ? readonly JsonCompatible<Item>[]
      : T extends object
        ? { [K in keyof T]: K extends string ? JsonCompatible<T[K]> : never }
        : never

/** The constraint on a manager's data type: every property a JSON value (see {@link JsonCompatible}). */
export type JsonFields<Data> = { [K in keyof Data]: K extends string ? JsonCompatible<Data[K]> : never }

/** The first UTF-16 unit of every value stored in tagged form. */
export const SENTINEL = '\u0000'
/** Tag of a string that starts with the sentinel. */
export const TAG_STRING = 's'
/** Tag of a non-string JSON value, stored as JSON text. */
export const TAG_JSON = 'j'
/**
 * Deepest nesting of arrays and objects accepted (a value at the top is depth 0): deeper is a
 * RangeError, so a hostile value cannot exhaust the stack here or in JSON.parse.
 */
export const MAX_DEPTH = 128

/**
 * The stored form of `value`, or a TypeError/RangeError naming `name` (and the path inside the
 * value) when it is not a JSON value: undefined, a function, a symbol, a bigint, NaN or
 * ±Infinity, a Date, Map, Set, typed array or other class instance, a sparse array, a cycle,
 * nesting deeper than {@link MAX_DEPTH}, or a string or object key with a lone surrogate.
 */
export function encodeValue(name: string, value: unknown): string {
  if (typeof value === 'string') {
    if (!value.isWellFormed()) throw notWellFormed(name, value)
    return value.charCodeAt(0) === 0 ? SENTINEL + TAG_STRING + value : value
  }
  return SENTINEL + TAG_JSON + new Serializer(name).value(value, 0)
}

/**
 * {@link encodeValue} for the value of the data key `key`, named in errors as `the value of
 * "key"` (`init.data["key"]` for `init`). A string that needs no escape is returned at once,
 * before any name is built: the fast path of `set` and `create`.
 */
export function encodeDataValue(key: string, value: unknown, init = false): string {
  if (typeof value === 'string' && value.charCodeAt(0) !== 0 && value.isWellFormed()) return value
  return encodeValue(init ? `init.data[${JSON.stringify(key)}]` : `the value of ${JSON.stringify(key)}`, value)
}

/** The value stored as `stored` (undefined stays undefined): a fresh copy on every call. */
export function decodeValue(stored: string | undefined): JsonValue | undefined {
  if (stored === undefined || stored.charCodeAt(0) !== 0) return stored
  const tag = stored.charAt(1)
  if (tag === TAG_STRING) return stored.slice(2)
  if (tag === TAG_JSON) return parseJson(stored)
  throw new TypeError(`a stored session data value has an unknown format tag ${JSON.stringify(tag)}: written by a later version?`)
}

/**
 * A surrogate written as a `\\uXXXX` escape (after an even run of backslashes, so `\\\\ud800`, an
 * escaped backslash then the text `ud800`, is not one). JSON text as this codec writes it never
 * holds one: it refuses lone surrogates, and JSON.stringify writes a pair as it is.
 */
const SURROGATE_ESCAPE = /(?<!\\)(?:\\\\)*\\u[dD][89abcdefABCDEF]/

/**
 * The value of a stored form tagged `j`, or a TypeError unless its payload is JSON text of a
 * number, boolean, null, array or object without an escaped surrogate. A string under `j` would
 * be a second stored form of a string, and an escaped surrogate a way to hand back a lone one;
 * this codec never writes either, so a reader refuses both rather than guess.
 */
function parseJson(stored: string): JsonValue {
  let value: unknown
  try {
    value = JSON.parse(stored.slice(2))
  } catch {
    throw notCanonical()
  }
  if (typeof value === 'string' || SURROGATE_ESCAPE.test(stored)) throw notCanonical()
  return value as JsonValue
}

function notCanonical(): TypeError {
  return new TypeError('a stored session data value tagged "j" is not JSON text this format writes (not JSON, a string, or an escaped surrogate): refused, never guessed at')
}

/** Characters JSON text must escape; other strings are quoted as they are, without a call into JSON.stringify. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/

/** A JSON string literal, exactly as JSON.stringify writes it (the string is well-formed). */
function quote(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`
}

function notWellFormed(where: string, value: string): RangeError {
  return new RangeError(`${where} must be well-formed text (no lone UTF-16 surrogates), received ${describe(value)}`)
}

/** Writes JSON text while checking it, reading each property once (a getter cannot answer twice). */
class Serializer {
  /** The arrays and objects being written, outermost first: a cycle is one seen again here. */
  readonly #open: object[] = []
  /** Where each of them is, for error messages: a key or an index per level. */
  readonly #path: (string | number)[] = []

  constructor(readonly name: string) {}

  value(value: unknown, depth: number): string {
    switch (typeof value) {
      case 'string':
        if (!value.isWellFormed()) throw notWellFormed(this.#where(), value)
        return quote(value)
      case 'number':
        if (!Number.isFinite(value)) throw this.#refuse(value)
        // -0 is written as 0, as JSON.stringify does: JSON has one zero.
        return `${value}`
      case 'boolean':
        return value ? 'true' : 'false'
      case 'object':
        if (value === null) return 'null'
        if (Array.isArray(value)) return isOrdinary(value, true) ? this.#array(value, depth) : this.#refuse(value)
        return isOrdinary(value, false) ? this.#object(value as Record<string, unknown>, depth) : this.#refuse(value)
      default:
        return this.#refuse(value)
    }
  }

  #array(array: unknown[], depth: number): string {
    this.#enter(array, depth)
    let text = '['
    for (let index = 0; index < array.length; index++) {
      this.#path.push(index)
      if (!(index in array)) throw new TypeError(`${this.#where()} is a hole in a sparse array; session data must be JSON values (fill it, e.g. with null)`)
      text += (index === 0 ? '' : ',') + this.value(array[index], depth + 1)
      this.#path.pop()
    }
    this.#leave()
    return `${text}]`
  }

  #object(object: Record<string, unknown>, depth: number): string {
    this.#enter(object, depth)
    let text = '{'
    let first = true
    for (const key of Object.keys(object)) {
      this.#path.push(key)
      if (!key.isWellFormed()) throw notWellFormed(`the key ${this.#where()}`, key)
      text += `${first ? '' : ','}${quote(key)}:${this.value(object[key], depth + 1)}`
      first = false
      this.#path.pop()
    }
    this.#leave()
    return `${text}}`
  }

  #enter(container: object, depth: number): void {
    if (this.#open.includes(container)) throw new TypeError(`${this.#where()} refers to itself (a cycle); session data must be JSON values`)
    // The name alone: the path to that depth would be a message of hundreds of steps.
    if (depth >= MAX_DEPTH) throw new RangeError(`${this.name} nests arrays and objects deeper than ${MAX_DEPTH} levels`)
    this.#open.push(container)
  }

  #leave(): void {
    this.#open.pop()
  }

  #refuse(value: unknown): never {
    throw new TypeError(`${this.#where()} must be a JSON value (a string, finite number, boolean, null, or an array or plain object of those), received ${describe(value)}`)
  }

  /** `name`, then the path inside the value: `value of "cart"[2].price`. */
  #where(): string {
    let where = this.name
    for (const step of this.#path) {
      where += typeof step === 'number' ? `[${step}]` : /^[A-Za-z_$][\w$]*$/.test(step) ? `.${step}` : `[${JSON.stringify(step)}]`
    }
    return where
  }
}

/**
 * An array (`Array.isArray`, not a subclass) or a plain object (an object literal or
 * `Object.create(null)`), from this realm or another (vm contexts): not a Date, Map, Set, typed
 * array, boxed primitive or class instance.
 */
function isOrdinary(value: object, array: boolean): boolean {
  const prototype: object | null = Object.getPrototypeOf(value)
  if (prototype === null) return !array
  if (prototype === (array ? Array.prototype : Object.prototype)) return true
  // Another realm's Array.prototype inherits from its Object.prototype. A prototype-less object
  // is not a realm's Object.prototype (Object.create(Object.create(null)) would lose what it
  // inherits): that one is the prototype of its own realm's Object constructor.
  if (!array) return isRealmPrototype(prototype, 'Object')
  return Array.isArray(prototype) && isRealmPrototype(prototype, 'Array')
}

/** Whether `prototype` is some realm's `Object.prototype` or `Array.prototype` (`name`). */
function isRealmPrototype(prototype: object, name: 'Object' | 'Array'): boolean {
  const above: object | null = Object.getPrototypeOf(prototype)
  if (name === 'Object' ? above !== null : above === null || !isRealmPrototype(above, 'Object')) return false
  const constructor: unknown = Object.getOwnPropertyDescriptor(prototype, 'constructor')?.value
  return typeof constructor === 'function' && constructor.name === name && constructor.prototype === prototype
}
