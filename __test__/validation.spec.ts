import test from 'ava'
import { ManagerClosedError, SessionManager } from '../ts/index'
import { forEachEngine, makeManager } from './helpers'

const bad: [string, Record<string, unknown>, typeof TypeError | typeof RangeError, RegExp][] = [
  ['negative idleTimeout', { idleTimeout: -1 }, RangeError, /options\.idleTimeout.*-1/],
  ['NaN absoluteTimeout', { absoluteTimeout: NaN }, RangeError, /options\.absoluteTimeout.*NaN/],
  ['fractional idleTimeout', { idleTimeout: 1.5 }, RangeError, /options\.idleTimeout/],
  ['Infinity idleTimeout', { idleTimeout: Infinity }, RangeError, /options\.idleTimeout/],
  ['string idleTimeout', { idleTimeout: '10' }, TypeError, /options\.idleTimeout.*"10"/],
  ['too large timeout', { idleTimeout: 2 ** 53 }, RangeError, /options\.idleTimeout/],
  ['idBytes below 16', { idBytes: 15 }, RangeError, /options\.idBytes.*15/],
  ['idBytes above 64', { idBytes: 65 }, RangeError, /options\.idBytes/],
  ['unknown idEncoding', { idEncoding: 'base32' }, RangeError, /options\.idEncoding.*base32/],
  ['unknown keys', { keys: 'none' }, RangeError, /options\.keys/],
  ['unknown engine', { engine: 'wasm' }, RangeError, /options\.engine/],
  ['maxSessions 0', { maxSessions: 0 }, RangeError, /options\.maxSessions.*0/],
  ['whenFull typo', { whenFull: 'drop' }, RangeError, /options\.whenFull/],
  ['negative maxDataBytes', { maxDataBytes: -5 }, RangeError, /options\.maxDataBytes/],
  ['resolution 0', { resolution: 0 }, RangeError, /options\.resolution/],
  ['clock not a function', { clock: 5 }, TypeError, /options\.clock/],
  ['misspelt option', { idleTimout: 5 }, TypeError, /unknown option "idleTimout"/],
]

for (const [title, options, errorClass, message] of bad) {
  test(`options: ${title}`, (t) => {
    t.throws(() => new SessionManager(options as never), { instanceOf: errorClass, message })
  })
}

test('options must be an object', (t) => {
  t.throws(() => new SessionManager('fast' as never), { instanceOf: TypeError, message: /options must be a plain object/ })
})

forEachEngine(test, 'bad create input is refused before anything changes', (t, engine) => {
  const { manager } = makeManager(engine)
  let creates = 0
  manager.on('create', () => creates++)
  const cases: [unknown, typeof TypeError | typeof RangeError, RegExp][] = [
    [{ idleTimeout: -1 }, RangeError, /init\.idleTimeout/],
    [{ absoluteTimeout: 0.5 }, RangeError, /init\.absoluteTimeout/],
    [{ user: 7 }, TypeError, /init\.user/],
    [{ roles: 'admin' }, TypeError, /init\.roles/],
    [{ roles: ['ok', 3] }, TypeError, /init\.roles\[1\]/],
    [{ data: { n: 1n } }, TypeError, /init\.data\["n"\] must be a JSON value/],
    [{ data: 'x' }, TypeError, /init\.data/],
    [{ colour: 'red' }, TypeError, /unknown option "colour"/],
    [42, TypeError, /init must be a plain object/],
  ]
  for (const [init, errorClass, message] of cases) {
    t.throws(() => manager.create(init as never), { instanceOf: errorClass, message })
  }
  t.is(manager.size, 0)
  t.is(creates, 0)
  manager.close()
})

forEachEngine(test, 'bad session input: non-JSON data, bad timeouts, bad user and roles', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create({ data: { a: 'b' } })
  t.throws(() => session.set('a', new Map() as never), { instanceOf: TypeError, message: /the value of "a" must be a JSON value .*received an instance of Map/ })
  t.throws(() => session.set(undefined as never, 'v'), { instanceOf: TypeError, message: /key must be a string/ })
  t.throws(() => { session.idleTimeout = -3 }, { instanceOf: RangeError, message: /idleTimeout.*-3/ })
  t.throws(() => { session.absoluteTimeout = '5' as never }, { instanceOf: TypeError, message: /absoluteTimeout/ })
  t.throws(() => { session.user = 5 as never }, { instanceOf: TypeError, message: /user/ })
  t.throws(() => { session.roles = [null] as never }, { instanceOf: TypeError, message: /roles\[0\]/ })
  t.throws(() => session.putObject('k', 1, 'nope' as never), { instanceOf: TypeError, message: /dispose/ })
  t.is(session.get('a'), 'b')
  t.is(session.idleTimeout, 30 * 60_000)
  manager.close()
})

forEachEngine(test, 'bad listener and run arguments', (t, engine) => {
  const { manager } = makeManager(engine)
  t.throws(() => manager.on('open' as never, () => {}), { instanceOf: RangeError, message: /event must be/ })
  t.throws(() => manager.on('close', 'x' as never), { instanceOf: TypeError, message: /listener must be a function/ })
  t.throws(() => manager.run({} as never, () => {}), { instanceOf: TypeError, message: /session must be a Session/ })
  manager.close()
})

forEachEngine(test, 'a closed manager refuses work with a clear error', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  manager.close()
  t.notThrows(() => manager.close())
  for (const use of [() => manager.create(), () => manager.get(session.id), () => manager.peek('x'),
    () => manager.has('x'), () => manager.destroy('x'), () => manager.getOrCreate('x'), () => manager.sweep()]) {
    t.throws(use, { instanceOf: ManagerClosedError, message: /SessionManager is closed/ })
  }
  t.is(manager.size, 0)
  t.deepEqual([...manager], [])
  t.true(session.closed)
})

test("engine: 'native' fails clearly when asked for explicitly and works here", (t) => {
  const manager = new SessionManager({ engine: 'native' })
  t.is(manager.engine, 'native')
  manager.close()
})
