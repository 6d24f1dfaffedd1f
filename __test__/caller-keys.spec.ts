import test from 'ava'
import { SessionExistsError } from '../ts/index'
import { forEachEngine, makeManager } from './helpers'

forEachEngine(test, "keys: 'caller' keys sessions by the caller's string", (t, engine) => {
  const { manager } = makeManager(engine, { keys: 'caller' })
  const peer = manager.create({ key: '192.0.2.7:5684', data: { epoch: '1' } })
  t.is(peer.id, '192.0.2.7:5684')
  t.is(manager.get('192.0.2.7:5684')?.get('epoch'), '1')
  t.throws(() => manager.create({ key: '192.0.2.7:5684' }), { instanceOf: SessionExistsError })
  t.throws(() => manager.create(), { instanceOf: TypeError, message: /init\.key is required/ })
  const made = manager.getOrCreate('ключ 🔑')
  t.is(made.id, 'ключ 🔑')
  t.is(manager.getOrCreate('ключ 🔑').id, 'ключ 🔑')
  t.is(manager.size, 2)
  manager.close()
})

forEachEngine(test, 'caller keys must be 1 to 255 UTF-8 bytes of well-formed text', (t, engine) => {
  const { manager } = makeManager(engine, { keys: 'caller' })
  t.notThrows(() => manager.create({ key: 'é'.repeat(127) })) // 254 bytes
  for (const key of ['', 'é'.repeat(128), 'x'.repeat(256), 'a\uD800b']) {
    t.throws(() => manager.create({ key }), { instanceOf: RangeError, message: /init\.key/ })
    t.is(manager.get(key), undefined)
  }
  t.is(manager.get('a\uFFFDb'), undefined)
  t.is(manager.size, 1)
  manager.close()
})

forEachEngine(test, 'a 255-byte key is never matched by a longer string that starts with it', (t, engine) => {
  // The native binding copies a key into a fixed buffer a few bytes longer than the limit: a
  // longer string, cut at any character boundary, must read as too long, never as its prefix.
  const { manager } = makeManager(engine, { keys: 'caller' })
  const key = 'x'.repeat(255)
  manager.create({ key, data: { n: '1' } })
  t.is(manager.get(key)?.get('n'), '1')
  for (const extra of ['x', 'é', '€', '😀', 'xx', 'x😀', '😀😀', 'x'.repeat(300)]) {
    t.is(manager.get(key + extra), undefined, `key + ${JSON.stringify(extra.slice(0, 4))}`)
    t.false(manager.has(key + extra))
  }
  for (const tail of ['é', '€', '😀']) {
    const exact = 'x'.repeat(255 - Buffer.byteLength(tail)) + tail
    manager.create({ key: exact })
    t.is(manager.get(exact)?.id, exact, `${Buffer.byteLength(exact)} bytes ending in ${tail}`)
    t.is(manager.get(exact + tail), undefined)
  }
  manager.close()
})

forEachEngine(test, 'a key held by an expired session can be reused; the old one closes as expired', (t, engine) => {
  const { manager, clock } = makeManager(engine, { keys: 'caller', idleTimeout: 10 })
  const reasons: string[] = []
  manager.on('close', (_s, reason) => reasons.push(reason))
  const old = manager.create({ key: 'k' })
  clock.advance(10)
  const fresh = manager.create({ key: 'k' })
  t.true(old.closed)
  t.false(fresh.closed)
  t.deepEqual(reasons, ['expired'])
  manager.close()
})

forEachEngine(test, "regenerate(newKey) moves a caller-keyed session", (t, engine) => {
  const { manager } = makeManager(engine, { keys: 'caller' })
  const session = manager.create({ key: 'old' })
  manager.create({ key: 'taken' })
  t.throws(() => session.regenerate('taken'), { instanceOf: SessionExistsError })
  t.throws(() => session.regenerate(), { instanceOf: TypeError })
  t.is(session.regenerate('new'), 'new')
  t.is(manager.get('old'), undefined)
  t.is(manager.get('new')?.id, 'new')
  manager.close()
})

forEachEngine(test, "keys: 'random' never adopts a given key", (t, engine) => {
  const { manager } = makeManager(engine)
  t.throws(() => manager.create({ key: 'mine' }), { instanceOf: TypeError, message: /keys: 'random'/ })
  t.throws(() => manager.create().regenerate('mine'), { instanceOf: TypeError })
  manager.close()
})
