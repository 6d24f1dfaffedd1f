import test from 'ava'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { sessionFor } from '../ts/integrations/http'
import { forEachEngine, makeManager } from './helpers'

forEachEngine(test, 'session data holds JSON values: strings, numbers, booleans, null, arrays and objects', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create({ data: { visits: 1, theme: 'dark', admin: false } })
  t.true(session.set('cart', [{ sku: 'a', qty: 2 }, { sku: 'b', qty: 1 }]))
  t.true(session.set('nothing', null))
  t.true(session.set('nested', { a: { b: [1.5, -2, 'x', true, null, {}, []] } }))
  t.is(session.get('visits'), 1)
  t.is(session.get('theme'), 'dark')
  t.is(session.get('admin'), false)
  t.is(session.get('nothing'), null)
  t.deepEqual(session.get('cart'), [{ sku: 'a', qty: 2 }, { sku: 'b', qty: 1 }])
  t.deepEqual(session.get('nested'), { a: { b: [1.5, -2, 'x', true, null, {}, []] } })
  t.deepEqual(session.keys(), ['visits', 'theme', 'admin', 'cart', 'nothing', 'nested'])
  t.is(session.get('absent'), undefined)
  manager.close()
})

forEachEngine(test, 'strings round-trip exactly, those starting with U+0000 included', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create({ data: { a: '\u0000j1', b: '' } })
  session.set('c', '\u0000')
  session.set('d', '\u0000s\u0000')
  t.is(session.get('a'), '\u0000j1')
  t.is(session.get('b'), '')
  t.is(session.get('c'), '\u0000')
  t.is(session.get('d'), '\u0000s\u0000')
  manager.close()
})

forEachEngine(test, 'get returns a copy: changing it changes nothing until it is set again', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  session.set('cart', ['apple'])
  const cart = session.get('cart') as string[]
  cart.push('pear')
  t.deepEqual(session.get('cart'), ['apple'])
  t.not(session.get('cart'), session.get('cart'))
  session.set('cart', cart)
  t.deepEqual(session.get('cart'), ['apple', 'pear'])
  // set copies too: the caller's array is not kept either.
  cart.push('plum')
  t.deepEqual(session.get('cart'), ['apple', 'pear'])
  manager.close()
})

forEachEngine(test, 'a value that is not JSON is a TypeError naming the key, and nothing is stored', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create({ data: { keep: 1 } })
  const cycle: Record<string, unknown> = {}
  cycle.self = cycle
  for (const value of [undefined, () => 1, Symbol('s'), 1n, Number.NaN, Infinity, new Date(0), new Map(), new Set(), new Uint8Array(1), cycle, [1, , 2]]) {
    t.throws(() => session.set('keep', value as never), { instanceOf: TypeError, message: /"keep"/ })
    t.throws(() => manager.create({ data: { bad: value as never } }), { instanceOf: TypeError, message: /init\.data\["bad"\]/ })
  }
  t.throws(() => session.set('keep', ['\uD800']), { instanceOf: RangeError, message: /"keep"\[0\] must be well-formed/ })
  t.is(session.get('keep'), 1)
  t.is(manager.size, 1)
  manager.close()
})

forEachEngine(test, 'a value nested 10^5 deep is a RangeError naming the key, not a crash', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  let deep: unknown = 'bottom'
  for (let level = 0; level < 100_000; level++) deep = { next: deep }
  t.throws(() => session.set('deep', deep as never), { instanceOf: RangeError, message: /"deep" nests arrays and objects deeper than 128 levels/ })
  t.throws(() => manager.create({ data: { deep: deep as never } }), { instanceOf: RangeError, message: /init\.data\["deep"\]/ })
  t.deepEqual(session.keys(), [])
  manager.close()
})

forEachEngine(test, "a '__proto__' key, at the top or inside a value, is data and pollutes nothing", (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create({ data: JSON.parse('{"__proto__":{"isAdmin":true}}') })
  session.set('profile', JSON.parse('{"__proto__":{"isAdmin":true},"name":"eve"}'))
  t.deepEqual(session.keys(), ['__proto__', 'profile'])
  t.is((session.get('__proto__') as Record<string, unknown>).isAdmin, true)
  const profile = session.get('profile') as Record<string, unknown>
  t.is(Object.getPrototypeOf(profile), Object.prototype)
  t.true(Object.hasOwn(profile, '__proto__'))
  t.is(profile.isAdmin, undefined)
  t.is(({} as Record<string, unknown>).isAdmin, undefined)
  manager.close()
})

forEachEngine(test, 'maxDataBytes counts the stored form; a write over it throws RangeError and changes nothing', (t, engine) => {
  // 'n' + '\u0000j' + '12345' is 8 bytes; 'cart' + '\u0000j["a"]' is 11.
  const { manager } = makeManager(engine, { maxDataBytes: 19 })
  const session = manager.create({ data: { n: 12345 } })
  t.true(session.set('cart', ['a']))
  t.throws(() => session.set('cart', ['ab']), { instanceOf: RangeError, message: /maxDataBytes/ })
  t.deepEqual(session.get('cart'), ['a'])
  t.throws(() => session.set('x', true), { instanceOf: RangeError, message: /maxDataBytes/ })
  t.deepEqual(session.keys(), ['n', 'cart'])
  t.true(session.set('n', 1234)) // smaller: fits
  // A string is counted as itself, with no tag: 'n' + 'abcdefg' = 8 bytes.
  t.true(session.set('n', 'abcdefg'))
  t.throws(() => manager.create({ data: { big: { a: 'xxxxxxxxx' } } }), { instanceOf: RangeError, message: /init\.data is 22 bytes, over maxDataBytes \(19\)/ })
  t.is(manager.size, 1)
  manager.close()
})

forEachEngine(test, 'a closed session stays inert with JSON values: set returns false, get undefined', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create({ data: { n: 1 } })
  session.close()
  t.false(session.set('n', 2))
  t.is(session.get('n'), undefined)
  t.false(session.delete('n'))
  // Input is still validated, closed or not.
  t.throws(() => session.set('n', undefined as never), { instanceOf: TypeError })
  manager.close()
})

forEachEngine(test, 'close listeners still read JSON values', (t, engine) => {
  const { manager } = makeManager(engine)
  let seen: unknown
  manager.on('close', (closing) => {
    seen = closing.get('cart')
  })
  manager.create({ data: { cart: ['a', 1] } }).close()
  t.deepEqual(seen, ['a', 1])
  manager.close()
})

forEachEngine(test, 'a login keeps JSON values as they were stored, and checks init.data before anything changes', async (t, engine) => {
  const { manager } = makeManager(engine)
  const sessions = sessionFor(manager, { secret: 'a-secret-of-at-least-thirty-two-characters' })
  const server = createServer((req, res) => {
    const request = sessions.attach(req, res)
    const url = new URL(req.url ?? '/', 'http://localhost')
    try {
      if (url.pathname === '/cart') {
        const session = request.session ?? request.startSession()
        session.set('cart', [{ sku: 'book', qty: 2 }])
        session.set('odd', '\u0000j[1]')
      } else if (url.pathname === '/login') {
        request.startSession({ user: 'bob', keep: ['cart', 'odd'], data: { visits: 0 } })
      } else if (url.pathname === '/bad-login') {
        request.startSession({ user: 'eve', data: { when: new Date(0) as never } })
      }
      const { session } = request
      res.end(JSON.stringify(session === undefined ? null : { user: session.user ?? null, data: Object.fromEntries(session.keys().map((key) => [key, session.get(key)])) }))
    } catch (error) {
      res.statusCode = 400
      res.end(JSON.stringify({ error: (error as Error).name, session: request.session?.id ?? null }))
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.close()
    manager.close()
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const cart = await fetch(`${base}/cart`)
  const cookie = (cart.headers.get('set-cookie') ?? '').split(';')[0]
  const anonymousId = [...manager][0].id
  const bad = await fetch(`${base}/bad-login`, { headers: { cookie } })
  t.is(bad.status, 400)
  t.deepEqual(await bad.json(), { error: 'TypeError', session: anonymousId })
  const login = await fetch(`${base}/login`, { headers: { cookie } })
  t.deepEqual(await login.json(), { user: 'bob', data: { cart: [{ sku: 'book', qty: 2 }], odd: '\u0000j[1]', visits: 0 } })
  t.is(manager.size, 1)
})
