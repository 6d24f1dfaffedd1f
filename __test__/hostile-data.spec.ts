/**
 * A hostile review of issue 12 (typed JSON session data), through the public API on both
 * engines: the codec's edges, copies, limits, login's `keep`, the reader's refusals, and the
 * types of `set` for optional keys.
 */
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { join } from 'node:path'
import { runInNewContext } from 'node:vm'
import { decodeValue, encodeValue } from '../ts/data-codec'
import { SessionManager } from '../ts/index'
import { type SessionRequest, sessionFor } from '../ts/integrations/http'
import { forEachEngine, makeManager } from './helpers'

const ROOT = join(__dirname, '..')
const stored = (value: unknown): string => encodeValue('v', value)
const bytes = (key: string, value: unknown): number => Buffer.byteLength(key) + Buffer.byteLength(stored(value))

forEachEngine(test, 'strings that start with U+0000, and U+0000 alone, round-trip exactly', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  for (const text of ['\u0000', '\u0000s', '\u0000j1', '\u0000j{"a":1}', '\u0000\u0000', '\u0000x😀', '']) {
    session.set('k', text)
    t.is(session.get('k'), text)
  }
})

forEachEngine(test, 'numbers at the edges round-trip exactly; -0 comes back as 0', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  for (const n of [1e308, Number.MAX_VALUE, 5e-324, -5e-324, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, 0.1 + 0.2, 1e21, 1e-7, 123456789.123]) {
    session.set('n', n)
    t.true(Object.is(session.get('n'), n), String(n))
    session.set('a', [n, { n }])
    t.deepEqual(session.get('a'), [n, { n }])
  }
  session.set('n', -0)
  t.true(Object.is(session.get('n'), 0))
})

forEachEngine(test, 'nesting: 128 levels are stored, 129 and far deeper are a RangeError that changes nothing', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  const nest = (levels: number, wrap: (inner: unknown) => unknown): unknown => {
    let value: unknown = 1
    for (let i = 0; i < levels; i++) value = wrap(value)
    return value
  }
  for (const wrap of [(v: unknown) => [v], (v: unknown) => ({ a: v })]) {
    session.set('deep', 'before')
    t.true(session.set('deep', nest(128, wrap) as never))
    t.deepEqual(session.get('deep'), nest(128, wrap))
    session.set('deep', 'before')
    t.throws(() => session.set('deep', nest(129, wrap) as never), { instanceOf: RangeError, message: /the value of "deep" nests/ })
    t.throws(() => session.set('deep', nest(100_000, wrap) as never), { instanceOf: RangeError })
    t.is(session.get('deep'), 'before')
  }
})

forEachEngine(test, 'large values: an array of 10^5 numbers and an object of 10^5 keys come back whole, in order', (t, engine) => {
  const { manager } = makeManager(engine, { maxDataBytes: 1 << 24 })
  const session = manager.create()
  const array = Array.from({ length: 100_000 }, (_, i) => i)
  session.set('array', array)
  t.deepEqual(session.get('array'), array)
  const object: Record<string, number> = {}
  for (let i = 0; i < 100_000; i++) object[`k${i}`] = i
  session.set('object', object)
  const back = session.get('object') as Record<string, number>
  t.deepEqual(Object.keys(back), Object.keys(object))
  t.is(back.k99999, 99999)
})

forEachEngine(test, 'keys __proto__, constructor, toString and numeric strings are data; numeric keys come back in JS property order', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  session.set('o', JSON.parse('{"__proto__":{"admin":true},"constructor":1,"toString":"x"}'))
  const back = session.get('o') as Record<string, unknown>
  t.is(Object.getPrototypeOf(back), Object.prototype)
  t.true(Object.hasOwn(back, '__proto__'))
  t.is((back as { admin?: unknown }).admin, undefined)
  t.deepEqual(back.__proto__, { admin: true })
  t.is((back as { constructor: unknown }).constructor, 1)
  // Stored in the order Object.keys gives (integer keys first), so the bytes are canonical.
  session.set('n', { b: 1, 2: 2, a: 3, 1: 4 })
  t.is(JSON.stringify(session.get('n')), '{"1":4,"2":2,"b":1,"a":3}')
  t.deepEqual(Object.keys(session.get('n') as object), ['1', '2', 'b', 'a'])
})

forEachEngine(test, 'objects from another realm, frozen objects, Object.create(null) and Proxies of plain values are JSON values', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  session.set('vm', runInNewContext('({ a: [1, { b: null }], c: Object.create(null) })'))
  t.deepEqual(session.get('vm'), { a: [1, { b: null }], c: {} })
  session.set('frozen', Object.freeze({ a: Object.freeze([1, 2]) }) as never)
  const frozen = session.get('frozen') as { a: number[] }
  t.false(Object.isFrozen(frozen))
  frozen.a.push(3)
  t.deepEqual(session.get('frozen'), { a: [1, 2] })
  session.set('bare', Object.assign(Object.create(null) as Record<string, number>, { a: 1 }))
  t.deepEqual(session.get('bare'), { a: 1 })
  t.is(Object.getPrototypeOf(session.get('bare')), Object.prototype)
  session.set('proxy', new Proxy({ a: [1] }, {}))
  t.deepEqual(session.get('proxy'), { a: [1] })
  session.set('proxyArray', new Proxy([1, 'two'], {}))
  t.deepEqual(session.get('proxyArray'), [1, 'two'])
  for (const code of ['new Date()', 'new Map()', 'new Set()', 'new Uint8Array(1)', 'new (class A {})()', 'new String("x")']) {
    t.throws(() => session.set('vm', runInNewContext(code)), { instanceOf: TypeError, message: /the value of "vm"/ }, code)
  }
})

forEachEngine(test, 'an object that inherits from a prototype-less object is not plain: refused, not stored without what it inherits', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  const base = Object.assign(Object.create(null) as Record<string, unknown>, { role: 'admin' })
  const derived = Object.assign(Object.create(base) as Record<string, unknown>, { name: 'ada' })
  session.set('user', 'before')
  t.throws(() => session.set('user', derived as never), { instanceOf: TypeError, message: /the value of "user" must be a JSON value/ })
  t.throws(() => session.set('user', { nested: derived } as never), { instanceOf: TypeError, message: /the value of "user"\.nested/ })
  // Nor an array whose prototype is an array from nowhere.
  const fakeArrayPrototype = Object.setPrototypeOf(['x'], Object.create(null)) as unknown[]
  const array = Object.setPrototypeOf([] as unknown[], fakeArrayPrototype) as unknown[]
  array.length = 1
  t.throws(() => session.set('user', array as never), { instanceOf: TypeError })
  t.throws(() => manager.create({ data: { user: derived as never } }), { instanceOf: TypeError, message: /init\.data\["user"\]/ })
  t.is(session.get('user'), 'before')
  t.is(manager.size, 1)
})

forEachEngine(test, 'getters: one that throws leaves the old value; one that mutates its object is read once; toJSON is not called', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  session.set('k', 'before')
  const boom = new Error('boom')
  t.is(t.throws(() => session.set('k', { get a(): number { throw boom } })), boom)
  t.is(session.get('k'), 'before')
  let reads = 0
  const counted = { get a(): number { reads++; return reads } }
  session.set('k', counted)
  t.is(reads, 1)
  t.deepEqual(session.get('k'), { a: 1 })
  // A getter that deletes a key not yet read: that key reads undefined, refused whole.
  const mutating: Record<string, unknown> = { a: 1, get b(): number { delete mutating.c; return 2 }, c: 3 }
  t.throws(() => session.set('k', mutating as never), { instanceOf: TypeError, message: /the value of "k"\.c .*received undefined/ })
  t.deepEqual(session.get('k'), { a: 1 })
  t.throws(() => session.set('k', { a: 1, toJSON: () => 'x' } as never), { instanceOf: TypeError, message: /the value of "k"\.toJSON/ })
})

forEachEngine(test, 'only own enumerable string keys are stored: symbol keys, non-enumerable and extra array properties are not', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  const object = Object.defineProperty({ a: 1, [Symbol('s')]: 2 }, 'hidden', { value: 3, enumerable: false })
  session.set('o', object as never)
  t.is(stored(object), '\u0000j{"a":1}')
  t.deepEqual(session.get('o'), { a: 1 })
  const array = Object.assign([1, 2], { extra: 'x' })
  session.set('a', array)
  t.deepEqual(session.get('a'), [1, 2])
})

forEachEngine(test, 'copies: a value changed after set, a returned value changed, a nested object shared between keys', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  const shared = { items: [1] }
  session.set('a', { shared })
  session.set('b', [shared, shared])
  shared.items.push(2)
  t.deepEqual(session.get('a'), { shared: { items: [1] } })
  const b = session.get('b') as { items: number[] }[]
  t.not(b[0], b[1])
  b[0]!.items.push(9)
  t.deepEqual(b[1], { items: [1] })
  t.deepEqual(session.get('b'), [{ items: [1] }, { items: [1] }])
  t.not(session.get('a'), session.get('a'))
})

forEachEngine(test, 'maxDataBytes is exact at the boundary with multi-byte keys, values and escapes, for set and init.data alike', (t, engine) => {
  const cases: [string, unknown][] = [
    ['ключ😀', { 'é€😀': 'ü\n"\\\u0001x😀', n: [1.5, -0, 1e21] }],
    ['k', '\u0000é😀'],
    ['😀', 'plain é'],
    ['\u0000', null],
  ]
  for (const [key, value] of cases) {
    const size = bytes(key, value)
    const { manager } = makeManager(engine, { maxDataBytes: size })
    const session = manager.create()
    t.true(session.set(key, value as never), key)
    t.is(manager.create({ data: { [key]: value as never } }).get(key) !== undefined, true)
    const tight = makeManager(engine, { maxDataBytes: size - 1 }).manager
    const other = tight.create()
    t.throws(() => other.set(key, value as never), { instanceOf: RangeError }, key)
    t.deepEqual(other.keys(), [])
    t.throws(() => tight.create({ data: { [key]: value as never } }), { instanceOf: RangeError }, key)
    t.is(tight.size, 1)
  }
})

test('the reader refuses stored forms this codec never writes: reserved tags, a string or escaped surrogate under j, text that is not JSON', (t) => {
  for (const form of ['\u0000', '\u0000x', '\u0000J1', '\u0000\u0000']) t.throws(() => decodeValue(form), { instanceOf: TypeError, message: /unknown format tag/ }, JSON.stringify(form))
  for (const form of ['\u0000j', '\u0000j"text"', '\u0000j "text"', '\u0000j["\\ud800"]', '\u0000j{"\\udc00":1}', '\u0000j["\\ud83d\\ude00"]', '\u0000j["\\\\\\ud800"]', '\u0000j{', '\u0000jundefined']) {
    t.throws(() => decodeValue(form), { instanceOf: TypeError, message: /tagged "j" is not JSON text this format writes/ }, JSON.stringify(form))
  }
  // An escaped backslash followed by the text "ud800" is no surrogate.
  t.deepEqual(decodeValue('\u0000j["\\\\ud800"]'), ['\\ud800'])
  t.is(decodeValue(stored({ '\\ud800': '\\\\udc00' }) as string) !== undefined, true)
  t.deepEqual(decodeValue(stored(['😀', { '😀': '\\u😀' }])), ['😀', { '😀': '\\u😀' }])
})

forEachEngine(test, 'a string value that reads as JSON text with an escaped lone surrogate stays a string', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  for (const text of ['"\\ud800"', '\u0000j"\\ud800"', '\u0000j["\\udc00"]']) {
    session.set('k', text)
    t.is(session.get('k'), text)
  }
  session.set('k', { text: '\\ud800' })
  t.deepEqual(session.get('k'), { text: '\\ud800' })
})

const SECRET = 'a-secret-of-at-least-thirty-two-characters'

forEachEngine(test, 'login with keep carries JSON values over byte for byte, and never as shared objects', async (t, engine) => {
  const manager = new SessionManager({ engine })
  const sessions = sessionFor(manager, { secret: SECRET })
  const values: Record<string, unknown> = {
    cart: [{ sku: 'book', qty: 2, note: 'é😀\n' }],
    n: { 2: 'b', 1: 'a', x: -0, y: 0.1 + 0.2, z: 5e-324 },
    proto: JSON.parse('{"__proto__":{"x":1}}'),
    nul: '\u0000j1',
    flag: false,
    nothing: null,
  }
  let anonymous: SessionRequest['session']
  let kept: SessionRequest['session']
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const request = sessions.attach(req, res)
    if (req.url === '/anonymous') anonymous = request.startSession({ data: values as never })
    else kept = request.startSession({ user: 'ada', keep: Object.keys(values) })
    res.end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  let before: string[] = []
  try {
    const { port } = server.address() as { port: number }
    const first = await fetch(`http://127.0.0.1:${port}/anonymous`)
    const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0]!
    t.regex(cookie, /^sid=/)
    before = Object.keys(values).map((key) => stored(anonymous!.get(key)))
    await fetch(`http://127.0.0.1:${port}/login`, { headers: { cookie } })
  } finally {
    server.close()
  }
  t.true(anonymous!.closed)
  t.truthy(kept)
  t.deepEqual(kept!.keys(), Object.keys(values))
  t.deepEqual(Object.keys(values).map((key) => stored(kept!.get(key))), before)
  manager.close()
})

test('types: set on an optional key does not take undefined (which it refuses at run time), under strict', (t) => {
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, '__test__', 'types-hostile', 'tsconfig.json'), '--pretty', 'false'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
  t.is(tsc.status, 0, `${tsc.stdout}${tsc.stderr}`)
})

forEachEngine(test, 'set(optionalKey, undefined) is the TypeError the types now forbid; delete removes the key', (t, engine) => {
  const manager = new SessionManager<{ cart?: string[] }>({ engine })
  const session = manager.create({ data: { cart: ['a'] } })
  t.throws(() => session.set('cart', undefined as never), { instanceOf: TypeError, message: /the value of "cart" must be a JSON value/ })
  t.deepEqual(session.get('cart'), ['a'])
  t.true(session.delete('cart'))
  t.deepEqual(session.keys(), [])
  manager.close()
})

forEachEngine(test, 'startSession reads each init.data value once: a getter cannot pass the check with one value and be stored with another', async (t, engine) => {
  const manager = new SessionManager({ engine })
  const sessions = sessionFor(manager, { secret: SECRET })
  let reads = 0
  let nestedReads = 0
  let started: SessionRequest['session']
  let refused: unknown
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const request = sessions.attach(req, res)
    started = request.startSession({
      data: {
        get top(): string { reads++; return reads === 1 ? 'checked' : 'swapped' },
        nested: { get inner(): unknown { nestedReads++; return nestedReads === 1 ? 1 : undefined } },
      } as never,
    })
    try {
      request.startSession({ data: { bad: { get x(): unknown { return () => 1 } } } as never })
    } catch (error) {
      refused = error
    }
    res.end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    const { port } = server.address() as { port: number }
    await fetch(`http://127.0.0.1:${port}/`)
  } finally {
    server.close()
  }
  t.is(reads, 1)
  t.is(nestedReads, 1)
  t.is(started!.get('top'), 'checked')
  t.deepEqual(started!.get('nested'), { inner: 1 })
  t.true(refused instanceof TypeError)
  t.regex((refused as Error).message, /init\.data\["bad"\]\.x/)
  t.false(started!.closed)
  manager.close()
})
