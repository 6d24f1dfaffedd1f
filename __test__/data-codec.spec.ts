import test from 'ava'
import fc from 'fast-check'
import { runInNewContext } from 'node:vm'
import { MAX_DEPTH, decodeValue, encodeDataValue, encodeValue } from '../ts/data-codec'

test('a string that does not start with U+0000 is stored as itself', (t) => {
  for (const text of ['', 'dark', '{"a":1}', 'x\u0000y', 'é😀']) t.is(encodeValue('v', text), text)
  t.is(decodeValue('dark'), 'dark')
  t.is(decodeValue(''), '')
  t.is(decodeValue(undefined), undefined)
})

test('a string that starts with U+0000 is escaped with the tag s and comes back exactly', (t) => {
  t.is(encodeValue('v', '\u0000'), '\u0000s\u0000')
  t.is(encodeValue('v', '\u0000j1'), '\u0000s\u0000j1')
  t.is(decodeValue('\u0000s\u0000j1'), '\u0000j1')
})

test('other JSON values are stored as the tag j and JSON text', (t) => {
  t.is(encodeValue('v', 1), '\u0000j1')
  t.is(encodeValue('v', 1.5e300), '\u0000j1.5e+300')
  t.is(encodeValue('v', true), '\u0000jtrue')
  t.is(encodeValue('v', null), '\u0000jnull')
  t.is(encodeValue('v', [1, 'a', [null]]), '\u0000j[1,"a",[null]]')
  t.is(encodeValue('v', { b: 1, a: { c: '\u0000' } }), '\u0000j{"b":1,"a":{"c":"\\u0000"}}')
  t.deepEqual(decodeValue('\u0000j{"b":1,"a":[false]}'), { b: 1, a: [false] })
})

test('-0 is stored as 0, as JSON has one zero', (t) => {
  t.is(encodeValue('v', -0), '\u0000j0')
  t.true(Object.is(decodeValue(encodeValue('v', -0)), 0))
})

test('the encoding is JSON.stringify exactly for every JSON value fast-check makes', (t) => {
  fc.assert(fc.property(fc.jsonValue(), (value) => {
    if (typeof value === 'string') return
    const stored = encodeValue('v', value)
    // fc.jsonValue() makes -0; JSON.stringify writes it as 0 too.
    if (stored !== `\u0000j${JSON.stringify(value)}`) throw new Error(`${JSON.stringify(value)} stored as ${JSON.stringify(stored)}`)
    const decoded = decodeValue(stored)
    if (JSON.stringify(decoded) !== JSON.stringify(value)) throw new Error(`${JSON.stringify(value)} came back as ${JSON.stringify(decoded)}`)
  }), { numRuns: 2000 })
  t.pass()
})

test('every string round-trips, whatever it starts with', (t) => {
  fc.assert(fc.property(fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }).map((rest) => `\u0000${rest}`)), (text) => {
    if (decodeValue(encodeValue('v', text)) !== text) throw new Error(JSON.stringify(text))
  }), { numRuns: 2000 })
  t.pass()
})

test('decoding makes a fresh copy every time', (t) => {
  const stored = encodeValue('v', { cart: ['a'] })
  const first = decodeValue(stored) as { cart: string[] }
  first.cart.push('b')
  t.deepEqual(decodeValue(stored), { cart: ['a'] })
})

test('a "__proto__" key is data: kept as an own property, never a prototype', (t) => {
  const value = JSON.parse('{"__proto__":{"polluted":true},"a":1}')
  const stored = encodeValue('v', value)
  t.is(stored, '\u0000j{"__proto__":{"polluted":true},"a":1}')
  const decoded = decodeValue(stored) as Record<string, unknown>
  t.true(Object.hasOwn(decoded, '__proto__'))
  t.is(Object.getPrototypeOf(decoded), Object.prototype)
  t.is((decoded as { polluted?: unknown }).polluted, undefined)
  t.is(({} as { polluted?: unknown }).polluted, undefined)
})

test('values that are not JSON are a TypeError naming where they are', (t) => {
  class Point { x = 1 }
  const cases: [unknown, RegExp][] = [
    [undefined, /^v must be a JSON value.*received undefined/],
    [() => 1, /^v must be a JSON value.*a function/],
    [Symbol('s'), /^v must be a JSON value.*Symbol\(s\)/],
    [10n, /^v must be a JSON value.*10n/],
    [Number.NaN, /^v must be a JSON value.*NaN/],
    [Infinity, /^v must be a JSON value.*Infinity/],
    [-Infinity, /^v must be a JSON value.*-Infinity/],
    [new Date(0), /^v must be a JSON value.*Date/],
    [new Map(), /^v must be a JSON value.*Map/],
    [new Set(), /^v must be a JSON value.*Set/],
    [new Uint8Array(2), /^v must be a JSON value.*Uint8Array/],
    [new Point(), /^v must be a JSON value.*Point/],
    [new (class List extends Array {})(), /^v must be a JSON value/],
    [Object(1), /^v must be a JSON value.*Number/],
    [{ a: [1, { b: undefined }] }, /^v\.a\[1\]\.b must be a JSON value/],
    [{ 'not an identifier': 1n }, /^v\["not an identifier"\] must be a JSON value/],
    [[1, , 3], /^v\[1\] is a hole in a sparse array/],
    [new Array(5), /^v\[0\] is a hole/],
  ]
  for (const [value, message] of cases) t.throws(() => encodeValue('v', value), { instanceOf: TypeError, message }, String(message))
})

test('cycles are a TypeError; the same object twice (no cycle) is fine', (t) => {
  const cycle: Record<string, unknown> = { list: [] }
  ;(cycle.list as unknown[]).push(cycle)
  t.throws(() => encodeValue('v', cycle), { instanceOf: TypeError, message: /^v\.list\[0\] refers to itself \(a cycle\)/ })
  const shared = { a: 1 }
  t.is(encodeValue('v', [shared, shared]), '\u0000j[{"a":1},{"a":1}]')
})

test('lone surrogates are a RangeError inside JSON values too, in strings and keys', (t) => {
  t.throws(() => encodeValue('v', '\uD800'), { instanceOf: RangeError, message: /^v must be well-formed text/ })
  t.throws(() => encodeValue('v', ['ok', 'a\uDC00']), { instanceOf: RangeError, message: /^v\[1\] must be well-formed text/ })
  t.throws(() => encodeValue('v', { '\uD800': 1 }), { instanceOf: RangeError, message: /^the key v\["\\ud800"\] must be well-formed text/ })
})

test(`nesting deeper than ${MAX_DEPTH} levels is a RangeError, even 10^5 deep (no stack overflow)`, (t) => {
  const nest = (depth: number, inner: unknown, wrap: (value: unknown) => unknown) => {
    let value = inner
    for (let level = 0; level < depth; level++) value = wrap(value)
    return value
  }
  t.notThrows(() => encodeValue('v', nest(MAX_DEPTH, 1, (value) => [value])))
  t.throws(() => encodeValue('v', nest(MAX_DEPTH + 1, 1, (value) => [value])), { instanceOf: RangeError, message: /^v nests arrays and objects deeper than 128 levels$/ })
  t.throws(() => encodeValue('v', nest(100_000, 1, (value) => ({ a: value }))), { instanceOf: RangeError })
  t.throws(() => encodeValue('v', nest(100_000, 1, (value) => [value])), { instanceOf: RangeError })
})

test('only own enumerable string keys are stored, each read once', (t) => {
  let reads = 0
  const value = Object.create({ inherited: 1 }, {
    hidden: { value: 1, enumerable: false },
    counted: { enumerable: true, get: () => ++reads },
  })
  // A prototype other than Object.prototype or null is not a plain object.
  t.throws(() => encodeValue('v', value), { instanceOf: TypeError })
  const plain = Object.defineProperties({ [Symbol('s')]: 1 }, {
    hidden: { value: 1, enumerable: false },
    counted: { enumerable: true, get: () => ++reads },
  })
  t.is(encodeValue('v', plain), '\u0000j{"counted":1}')
  t.is(reads, 1)
  const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 })
  t.is(encodeValue('v', bare), '\u0000j{"a":1}')
})

test('a toJSON method is not called: it is a function, so the value is refused', (t) => {
  t.throws(() => encodeValue('v', { toJSON: () => 'x' }), { instanceOf: TypeError, message: /^v\.toJSON must be a JSON value/ })
})

test('arrays and plain objects from another realm are JSON values', (t) => {
  const foreign = runInNewContext('({ list: [1, { a: "b" }] })')
  t.is(encodeValue('v', foreign), '\u0000j{"list":[1,{"a":"b"}]}')
  t.throws(() => encodeValue('v', runInNewContext('new Date(0)')), { instanceOf: TypeError })
})

test('a stored value with an unknown tag is refused, not guessed at', (t) => {
  t.throws(() => decodeValue('\u0000x1'), { instanceOf: TypeError, message: /unknown format tag "x"/ })
  t.throws(() => decodeValue('\u0000'), { instanceOf: TypeError, message: /unknown format tag ""/ })
})

test('encodeDataValue: the same stored form, errors naming the data key as set or init.data does', (t) => {
  for (const value of ['dark', '', '\u0000x', 'x\u0000', 1, null, ['a'], { a: { b: true } }]) {
    t.is(encodeDataValue('k', value), encodeValue('v', value))
  }
  t.throws(() => encodeDataValue('cart', [undefined]), { instanceOf: TypeError, message: /^the value of "cart"\[0\] must be a JSON value/ })
  t.throws(() => encodeDataValue('cart', '\uD800', true), { instanceOf: RangeError, message: /^init\.data\["cart"\] must be well-formed/ })
})
