import test from 'ava'
import { SessionManager } from '../ts/index'
import { forEachEngine, makeManager } from './helpers'

class Preferences {
  theme = 'dark'
}

forEachEngine(test, 'session data must be a plain object: a Map, a boxed String or a class instance is refused', (t, engine) => {
  const { manager } = makeManager(engine)
  for (const data of [new Map([['theme', 'dark']]), new String('abc'), new Preferences(), new Date(0)]) {
    t.throws(() => manager.create({ data: data as never }), { instanceOf: TypeError, message: /init\.data must be a plain object/ })
  }
  t.is(manager.size, 0)
  const bare = Object.create(null) as Record<string, string>
  bare.theme = 'dark'
  t.deepEqual(manager.create({ data: bare }).keys(), ['theme'], 'a null-prototype object is plain')
  manager.close()
})

test('manager options must be a plain object', (t) => {
  t.throws(() => new SessionManager(new Map() as never), { instanceOf: TypeError, message: /options must be a plain object, received an instance of Map/ })
})

forEachEngine(test, 'text with lone surrogates is refused, never converted, so distinct keys never merge', (t, engine) => {
  const { manager } = makeManager(engine)
  const lone = ['\uD800', '\uDC00', 'a\uD83D', '\uDE00b']
  for (const text of lone) {
    t.throws(() => manager.create({ data: { [text]: 'v' } }), { instanceOf: RangeError, message: /init\.data key must be well-formed/ })
    t.throws(() => manager.create({ data: { k: text } }), { instanceOf: RangeError, message: /init\.data\["k"\] must be well-formed/ })
    // One rule inside JSON values too: strings and object keys at any depth.
    t.throws(() => manager.create({ data: { k: ['ok', { v: text }] } }), { instanceOf: RangeError, message: /init\.data\["k"\]\[1\]\.v must be well-formed/ })
    t.throws(() => manager.create({ data: { k: { [text]: 1 } } }), { instanceOf: RangeError, message: /the key init\.data\["k"\]\[".*"\] must be well-formed/ })
    t.throws(() => manager.create({ user: text }), { instanceOf: RangeError, message: /init\.user must be well-formed/ })
    t.throws(() => manager.create({ roles: ['ok', text] }), { instanceOf: RangeError, message: /init\.roles\[1\] must be well-formed/ })
  }
  t.is(manager.size, 0)
  const session = manager.create({ roles: ['admin'] })
  t.throws(() => session.set('\uD800', 'first'), { instanceOf: RangeError, message: /key must be well-formed/ })
  t.throws(() => session.set('\uDC00', 'second'), { instanceOf: RangeError, message: /key must be well-formed/ })
  t.throws(() => session.set('k', '\uD800'), { instanceOf: RangeError, message: /the value of "k" must be well-formed/ })
  t.throws(() => session.set('k', { list: ['\uD800'] }), { instanceOf: RangeError, message: /the value of "k"\.list\[0\] must be well-formed/ })
  t.throws(() => { session.roles = ['\uD800'] }, { instanceOf: RangeError, message: /roles\[0\] must be well-formed/ })
  t.throws(() => { session.user = '\uDFFF' }, { instanceOf: RangeError, message: /user must be well-formed/ })
  t.deepEqual(session.keys(), [])
  t.deepEqual(session.roles, ['admin'])
  t.is(session.user, undefined)
  // Well-formed astral text (a surrogate pair) is stored and read back exactly.
  session.set('emoji 😀', 'ok 🎉')
  session.roles = ['😀']
  t.is(session.get('emoji 😀'), 'ok 🎉')
  t.true(session.hasRole('😀'))
  manager.close()
})

forEachEngine(test, 'an event name whose string form throws is reported as a RangeError', (t, engine) => {
  const { manager } = makeManager(engine)
  const hostile = { toString(): string { throw new Error('not a name') } }
  t.throws(() => manager.on(hostile as never, () => {}), { instanceOf: RangeError, message: /event must be/ })
  t.throws(() => manager.once(Symbol('close') as never, () => {}), { instanceOf: RangeError, message: /received Symbol\(close\)/ })
  t.throws(() => manager.on(Object.create(null) as never, () => {}), { instanceOf: RangeError })
  manager.close()
})
