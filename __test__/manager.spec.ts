import test from 'ava'
import { EXPIRY_LAG_BOUNDS } from '../ts/engine'
import { SessionManager } from '../ts/index'
import { forEachEngine, makeManager } from './helpers'

forEachEngine(test, 'create issues a 22-character base64url id and the session is found by it', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create({ user: 'alice', roles: ['admin', 'ops'], data: { theme: 'dark' } })
  t.regex(session.id, /^[A-Za-z0-9_-]{22}$/)
  t.is(manager.engine, engine)
  const found = manager.get(session.id)
  t.truthy(found)
  t.is(found?.id, session.id)
  t.is(found?.user, 'alice')
  t.deepEqual(found?.roles, ['admin', 'ops'])
  t.true(found?.hasRole('ops'))
  t.is(found?.get('theme'), 'dark')
  t.is(manager.size, 1)
  manager.close()
})

forEachEngine(test, 'hex ids are 2 characters per byte, lower case', (t, engine) => {
  const { manager } = makeManager(engine, { idEncoding: 'hex', idBytes: 32 })
  const session = manager.create()
  t.regex(session.id, /^[0-9a-f]{64}$/)
  t.truthy(manager.get(session.id))
  t.is(manager.get(session.id.toUpperCase()), undefined)
  manager.close()
})

forEachEngine(test, 'ids are unique across many sessions', (t, engine) => {
  const { manager } = makeManager(engine)
  const ids = new Set<string>()
  for (let index = 0; index < 5000; index++) ids.add(manager.create().id)
  t.is(ids.size, 5000)
  t.is(manager.size, 5000)
  manager.close()
})

forEachEngine(test, 'get renews, peek and has do not', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 1000 })
  const session = manager.create()
  const created = session.lastActivity
  clock.advance(400)
  t.truthy(manager.peek(session.id))
  t.true(manager.has(session.id))
  t.is(session.lastActivity, created)
  t.is(manager.get(session.id)?.lastActivity, created + 400)
  t.is(session.expiresAt, created + 1400)
  manager.close()
})

forEachEngine(test, 'unknown, malformed and non-string ids are simply not found', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  for (const id of ['', 'x', session.id.slice(1), `${session.id}A`, session.id.replace(/.$/, '!'), 'a'.repeat(10_000)]) {
    t.is(manager.get(id), undefined, id.slice(0, 30))
    t.false(manager.has(id))
    t.false(manager.destroy(id))
  }
  for (const id of [undefined, null, 42, {}, Symbol('x')]) t.is(manager.get(id as never), undefined)
  t.is(manager.size, 1)
  manager.close()
})

forEachEngine(test, 'non-canonical base64url spellings of an id are rejected', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  // The 22nd character carries 2 unused bits; flipping them spells the same bytes differently.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const last = alphabet.indexOf(session.id[21])
  const twin = session.id.slice(0, 21) + alphabet[last ^ 1]
  t.is(manager.get(twin), undefined)
  manager.close()
})

forEachEngine(test, 'destroy closes the session with reason destroyed, once', (t, engine) => {
  const { manager } = makeManager(engine)
  const reasons: string[] = []
  manager.on('close', (_session, reason) => reasons.push(reason))
  const session = manager.create()
  t.true(manager.destroy(session.id))
  t.false(manager.destroy(session.id))
  t.true(session.closed)
  t.is(manager.get(session.id), undefined)
  t.deepEqual(reasons, ['destroyed'])
  t.deepEqual(manager.stats().closed, { destroyed: 1, expired: 0, evicted: 0, shutdown: 0 })
  manager.close()
})

forEachEngine(test, 'getOrCreate returns the live session or a new one with a fresh id, never the given id', (t, engine) => {
  const { manager } = makeManager(engine)
  const existing = manager.create()
  t.is(manager.getOrCreate(existing.id).id, existing.id)
  const attackerId = 'AAAAAAAAAAAAAAAAAAAAAA'
  const fresh = manager.getOrCreate(attackerId, { user: 'bob' })
  t.not(fresh.id, attackerId)
  t.is(fresh.user, 'bob')
  t.is(manager.get(attackerId), undefined)
  t.is(manager.size, 2)
  manager.close()
})

forEachEngine(test, 'iteration yields every live session once and skips expired ones', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 1000 })
  const short = manager.create({ idleTimeout: 10 })
  const ids = new Set(Array.from({ length: 600 }, () => manager.create().id))
  clock.advance(20)
  const seen = [...manager].map((session) => session.id)
  t.is(seen.length, 600)
  t.deepEqual(new Set(seen), ids)
  t.false(seen.includes(short.id))
  manager.close()
})

forEachEngine(test, 'stats count creates and closes by reason', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 100, maxSessions: 2 })
  const a = manager.create()
  manager.create()
  manager.create() // evicts a
  t.true(a.closed)
  clock.advance(200)
  t.is(manager.sweep(), 2)
  manager.create()
  manager.close()
  t.deepEqual(manager.stats(), {
    live: 0, created: 4, closed: { destroyed: 0, expired: 2, evicted: 1, shutdown: 1 }, rejected: 0, listenerErrors: 0,
    rejectedCookies: 0, userLimit: { evicted: 0, rejected: 0 }, clockErrors: 0,
    // Both swept 100 ms after their deadline: the (50, 100] bucket. Synchronous, so no background slice ran.
    expiryLag: { bounds: EXPIRY_LAG_BOUNDS, counts: [0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0], sum: 200 },
    longestSweepSliceMs: 0,
  })
})

forEachEngine(test, 'string data: set, get, delete, keys in insertion order, not renewing', (t, engine) => {
  const { manager, clock } = makeManager(engine)
  const session = manager.create()
  const before = session.lastActivity
  clock.advance(5)
  t.true(session.set('a', '1'))
  t.true(session.set('b', 'ünïcødé ✓'))
  t.true(session.set('a', '2'))
  t.deepEqual(session.keys(), ['a', 'b'])
  t.is(session.get('a'), '2')
  t.is(session.get('b'), 'ünïcødé ✓')
  t.is(session.get('missing'), undefined)
  t.true(session.delete('a'))
  t.false(session.delete('a'))
  t.deepEqual(session.keys(), ['b'])
  t.is(session.lastActivity, before)
  session.user = 'carol'
  session.roles = ['x']
  t.is(manager.peek(session.id)?.user, 'carol')
  session.user = undefined
  t.is(session.user, undefined)
  manager.close()
})

test('the default engine is native on this platform', (t) => {
  const manager = new SessionManager()
  t.is(manager.engine, 'native')
  manager.close()
})

forEachEngine(test, 'initial data of any text round-trips: colons, digits, empty strings, astral characters', (t, engine) => {
  const { manager } = makeManager(engine)
  const data: Record<string, string> = {
    '3:abc': '12:x', '': 'empty key', 'empty value': '', '🔑': '😀 two surrogate pairs 🎉', 'ünï': 'çødé:9:', '0': '0:',
  }
  const session = manager.create({ data })
  t.deepEqual(Object.fromEntries(session.keys().map((key) => [key, session.get(key)])), data)
  manager.close()
})

forEachEngine(test, 'memoryBytes follows what sessions hold: a large value adds its bytes, deleting it takes them back', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create({ user: 'ada', data: { small: 'x' } })
  const before = manager.memoryBytes()
  session.set('large', 'v'.repeat(100_000))
  const withLarge = manager.memoryBytes()
  t.true(withLarge >= before + 100_000, `${before} -> ${withLarge}`)
  session.delete('large')
  t.true(manager.memoryBytes() <= before + 64, `back to ${manager.memoryBytes()} from ${withLarge}`)
  manager.close()
})
