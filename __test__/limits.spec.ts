import test from 'ava'
import { SessionLimitError } from '../ts/index'
import { forEachEngine, makeManager } from './helpers'

forEachEngine(test, "whenFull 'evict' closes expired sessions first, then the closest to expiry (with one timeout: least recently used, to within one wheel slot)", (t, engine) => {
  // resolution: 1 and uses 100 ms apart: deadlines 1,000 ms ahead sit in wheel slots of 64 ms
  // (docs/engine-algorithm.md), so the renewed a and c fall in different slots.
  const { manager, clock } = makeManager(engine, { maxSessions: 3, idleTimeout: 1000, resolution: 1 })
  const reasons = new Map<string, string>()
  manager.on('close', (s, reason) => reasons.set(s.id, reason))
  const a = manager.create()
  clock.advance(1)
  const b = manager.create({ idleTimeout: 5 })
  clock.advance(100)
  const c = manager.create()
  clock.advance(10)
  manager.create() // b has expired: it goes, nobody is evicted
  t.deepEqual([...reasons], [[b.id, 'expired']])
  clock.advance(100)
  manager.get(a.id) // a is now more recent than c, and due later
  manager.create()
  t.deepEqual([...reasons], [[b.id, 'expired'], [c.id, 'evicted']])
  t.is(manager.size, 3)
  manager.close()
})

forEachEngine(test, "whenFull 'reject' throws SessionLimitError and changes nothing", (t, engine) => {
  const { manager } = makeManager(engine, { maxSessions: 2, whenFull: 'reject' })
  manager.create()
  manager.create()
  const error = t.throws(() => manager.create(), { instanceOf: SessionLimitError })
  t.is(error?.code, 'ERR_SESSION_LIMIT')
  t.is(manager.size, 2)
  t.is(manager.stats().rejected, 1)
  manager.close()
})

forEachEngine(test, 'maxDataBytes caps a session’s data in UTF-8 bytes; the failing write changes nothing', (t, engine) => {
  const { manager } = makeManager(engine, { maxDataBytes: 10 })
  const session = manager.create()
  session.set('k', 'é'.repeat(4)) // 1 + 8 bytes
  t.throws(() => session.set('k2', 'x'), { instanceOf: RangeError, message: /maxDataBytes/ })
  t.deepEqual(session.keys(), ['k'])
  session.set('k', 'abcdefghi') // replacing counts the old value out
  t.is(session.get('k'), 'abcdefghi')
  t.throws(() => manager.create({ data: { big: '0123456789' } }), { instanceOf: RangeError, message: /maxDataBytes/ })
  t.is(manager.size, 1)
  manager.close()
})
