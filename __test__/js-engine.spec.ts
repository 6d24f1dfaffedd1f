import test from 'ava'
import fc from 'fast-check'
import { randomFillSync } from 'node:crypto'
import {
  CREATE_KEY_EXISTS, CREATE_TABLE_FULL, type EngineConfig, REKEY_EXISTS, REKEY_NOT_ATTACHED, REKEY_OK, SET_OK,
  SET_STALE, SET_TOO_LARGE, SLOT_SPACE, STATE_ATTACHED, STATE_DETACHED, STATE_STALE, slotOf,
} from '../ts/engine'
import { JsEngine } from '../ts/js-engine/engine'
import { RandomIdIndex } from '../ts/js-engine/id-index'
import { CloseRecords } from '../ts/internal'
import { UserIndex } from '../ts/user-index'

const T0 = 1_700_000_000_000
// Resolution 1: one wheel slot per ms, so expiry and eviction order are exact to the ms here.
const random = (over: Partial<EngineConfig> = {}): JsEngine =>
  new JsEngine({ idBytes: 32, idEncoding: 'base64url', keys: 'random', maxDataBytes: Infinity, resolution: 1, ...over })
const caller = (over: Partial<EngineConfig> = {}): JsEngine =>
  new JsEngine({ idBytes: 32, idEncoding: 'base64url', keys: 'caller', maxDataBytes: Infinity, resolution: 1, ...over })

const sweepAll = (engine: JsEngine, now: number, room = 64): number[] => {
  const out = new Float64Array(room)
  return Array.from(out.subarray(0, engine.sweep(now, out)))
}

test('handles: slot + generation, stale after release never reaches the reused slot', (t) => {
  const e = random()
  const a = e.create(T0, 1000, 0)
  t.is(slotOf(a), 0)
  t.is(a, 0)
  const idA = e.id(a)!
  t.true(e.release(a))
  t.false(e.release(a))
  const b = e.create(T0, 1000, 0)
  t.is(slotOf(b), 0, 'LIFO free stack reuses the slot')
  t.is(b, SLOT_SPACE, 'generation bumped')
  t.is(e.state(a), STATE_STALE)
  t.is(e.id(a), undefined)
  t.true(Number.isNaN(e.createdAt(a)))
  t.true(Number.isNaN(e.expiresAt(a)))
  t.false(e.touch(a, T0))
  t.false(e.detach(a))
  t.false(e.setIdleTimeout(a, 5))
  t.is(e.setData(a, 'k', 'v'), SET_STALE)
  t.deepEqual(e.dataKeys(a), [])
  t.deepEqual(e.roles(a), [])
  t.is(e.lookup(idA, T0, false), -1)
  t.is(e.state(b), STATE_ATTACHED)
  for (const bad of [-1, 0.5, SLOT_SPACE + 0.5, 2 ** 53, Infinity, NaN, 7, SLOT_SPACE * 5]) {
    t.is(e.state(bad), STATE_STALE, String(bad))
    t.false(e.release(bad))
  }
  // fresh slots come in order
  t.is(slotOf(e.create(T0, 0, 0)), 1)
  t.is(e.size, 2)
})

test('handles: a subnormal, negative or fractional number is no handle, not even of slot 0\'s first session', (t) => {
  // A slot is taken by mask; a subnormal masks to slot 0 and, divided by SLOT_SPACE, rounds to
  // generation 0: only the handle rebuilt from the slot must equal it (a hostile review's find).
  const bad = [Number.MIN_VALUE, 1e-320, 2 ** -1060, 0.5, -SLOT_SPACE * 3, -(2 ** 53), 2 ** -30, 2 ** 53, 2 ** 60]
  const e = random()
  const first = e.create(T0, 1000, 0)
  t.is(first, 0)
  for (const handle of bad) t.is(e.state(handle), STATE_STALE, `JsEngine, ${handle}`)
  t.is(e.state(-0), STATE_ATTACHED, '-0 is 0')
  const closes = new CloseRecords()
  closes.record(0, 'evicted')
  for (const handle of bad) t.is(closes.reasonOf(handle), undefined, `CloseRecords, ${handle}`)
  t.is(closes.reasonOf(0), 'evicted')
  const users = new UserIndex()
  users.set(0, 'ada')
  for (const handle of bad) t.is(users.userOf(handle), undefined, `UserIndex, ${handle}`)
  users.remove(Number.MIN_VALUE)
  t.is(users.userOf(0), 'ada', 'removing a non-handle leaves handle 0 filed')
})

test('ids: base64url and hex format, never reused, validation', (t) => {
  for (const idBytes of [16, 17, 18, 32, 64]) {
    const e = random({ idBytes })
    const seen = new Set<string>()
    for (let i = 0; i < 300; i++) {
      const id = e.id(e.create(T0, 0, 0))!
      t.is(id.length, Math.ceil((idBytes * 4) / 3))
      t.regex(id, /^[A-Za-z0-9_-]+$/)
      t.is(Buffer.from(id, 'base64url').toString('base64url'), id)
      t.false(seen.has(id))
      seen.add(id)
    }
    const hex = random({ idBytes, idEncoding: 'hex' })
    const id = hex.id(hex.create(T0, 0, 0))!
    t.regex(id, new RegExp(`^[0-9a-f]{${idBytes * 2}}$`))
    t.is(hex.lookup(id, T0, false), 0)
    t.is(hex.lookup(id.toUpperCase(), T0, false), -1)
  }
})

test('ids: a non-canonical alias of a live id and ids of the wrong length are rejected', (t) => {
  // Alphabet, every id length and hex are covered by the id index tests below.
  const e = random({ idBytes: 16 }) // 22 chars: the last carries 2 data bits and 4 zero bits
  const h = e.create(T0, 0, 0)
  const id = e.id(h)!
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const last = alphabet.indexOf(id[21])
  t.is(last & 15, 0)
  const alias = id.slice(0, 21) + alphabet[last | 1]
  t.is(Buffer.from(alias, 'base64url').toString('base64url'), id, 'Buffer decodes the alias to the same bytes')
  t.is(e.lookup(alias, T0, false), -1)
  t.is(e.lookup(id, T0, false), h)
  t.is(e.lookup(id.slice(1), T0, false), -1)
  t.is(e.lookup(id + 'A', T0, false), -1)
  t.is(e.lookup('', T0, false), -1)
})

test('ids: random bytes come from the pool in order, never reused', (t) => {
  let calls = 0
  const fill = (buf: Uint8Array): void => {
    calls++
    randomFillSync(buf)
    for (let i = 0; i < 32; i++) buf[i] = (i + calls * 7) & 255
  }
  const e = new JsEngine({ idBytes: 16, idEncoding: 'hex', keys: 'random', maxDataBytes: Infinity, resolution: 1000 }, fill)
  const first = e.id(e.create(T0, 0, 0))!
  t.is(first, Buffer.from(Array.from({ length: 16 }, (_, i) => (i + 7) & 255)).toString('hex'))
  const second = e.id(e.create(T0, 0, 0))!
  t.is(second, Buffer.from(Array.from({ length: 16 }, (_, i) => (i + 16 + 7) & 255)).toString('hex'))
  for (let i = 0; i < 300; i++) e.create(T0, 0, 0)
  t.is(calls, 2, '4 KiB = 256 ids of 16 bytes per fill')
})

test('ids: a colliding fresh id is drawn again', (t) => {
  let n = 0
  // First fill: all zeros (two identical ids in a row); then distinct bytes.
  const fill = (buf: Uint8Array): void => {
    buf.fill(0)
    if (n++ > 0) for (let i = 0; i < buf.length; i++) buf[i] = i & 255
  }
  const e = new JsEngine({ idBytes: 16, idEncoding: 'hex', keys: 'random', maxDataBytes: Infinity, resolution: 1000 }, fill)
  const a = e.id(e.create(T0, 0, 0))!
  const b = e.id(e.create(T0, 0, 0))!
  t.is(a, '0'.repeat(32))
  t.not(a, b)
  t.is(e.size, 2)
})

test('caller keys: create, exists, lookup limits', (t) => {
  const e = caller()
  const a = e.createWithKey('alice', T0, 0, 0)
  t.true(a >= 0)
  t.is(e.createWithKey('alice', T0, 0, 0), CREATE_KEY_EXISTS)
  t.is(e.lookup('alice', T0, false), a)
  t.is(e.lookup('', T0, false), -1)
  const long = 'é'.repeat(128) // 256 bytes, 128 chars
  t.is(e.lookup(long, T0, false), -1)
  const max = 'é'.repeat(127) + 'x' // 255 bytes
  const m = e.createWithKey(max, T0, 0, 0)
  t.is(e.lookup(max, T0, false), m)
  t.is(e.lookup('x'.repeat(256), T0, false), -1)
  const k255 = 'x'.repeat(255)
  const h255 = e.createWithKey(k255, T0, 0, 0)
  t.is(e.lookup(k255, T0, false), h255)
  t.true(e.detach(a))
  t.is(e.lookup('alice', T0, false), -1)
  t.not(e.createWithKey('alice', T0, 0, 0), CREATE_KEY_EXISTS, 'a detached key is free again')
  t.is(e.id(a), 'alice', 'detached session keeps its id')
})

test('expiry boundary: alive at deadline - 1, gone at deadline', (t) => {
  const e = random()
  const h = e.create(T0, 1000, 0)
  const id = e.id(h)!
  t.is(e.expiresAt(h), T0 + 1000)
  t.is(e.lookup(id, T0 + 999, false), h)
  t.is(e.lookup(id, T0 + 1000, false), -1)
  t.is(e.detachIfExpired(id, T0 + 999), -1)
  t.false(e.touch(h, T0 + 1000))
  t.is(e.size, 1, 'expired but attached')
  t.is(e.detachIfExpired(id, T0 + 1000), h)
  t.is(e.state(h), STATE_DETACHED)
  t.is(e.size, 0)
  t.is(e.detachIfExpired(id, T0 + 1000), -1)
  t.is(e.detachIfExpired('not an id', T0 + 1000), -1)
})

test('idle timeout rolls with renew; absolute does not', (t) => {
  const e = random()
  const h = e.create(T0, 100, 250)
  const id = e.id(h)!
  t.is(e.lookup(id, T0 + 50, true), h)
  t.is(e.lastActivity(h), T0 + 50)
  t.is(e.expiresAt(h), T0 + 150)
  t.is(e.lookup(id, T0 + 60, false), h)
  t.is(e.lastActivity(h), T0 + 50, 'no renew')
  t.true(e.touch(h, T0 + 140))
  t.true(e.touch(h, T0 + 230))
  t.is(e.expiresAt(h), T0 + 250, 'absolute cap')
  t.is(e.lookup(id, T0 + 249, true), h)
  t.is(e.lookup(id, T0 + 250, true), -1)
  // no timeouts: never expires
  const forever = e.create(T0, 0, 0)
  t.is(e.expiresAt(forever), Infinity)
  t.is(e.lookup(e.id(forever)!, 1e300, false), forever)
  t.deepEqual(sweepAll(e, T0 + 250), [h])
  t.is(e.nextDeadline(), Infinity)
  t.deepEqual(sweepAll(e, 1e300), [])
})

test('setters re-file: an earlier deadline is honoured by sweep and nextDeadline', (t) => {
  const e = random()
  const a = e.create(T0, 1000, 0)
  const b = e.create(T0 + 10, 1000, 0)
  const c = e.create(T0 + 20, 1000, 0)
  // nextDeadline is the start of the earliest wheel slot: never after the earliest deadline.
  t.true(e.nextDeadline() <= T0 + 1000)
  t.true(e.setIdleTimeout(c, 100))
  t.true(e.nextDeadline() <= T0 + 120)
  t.deepEqual(sweepAll(e, T0 + 119), [])
  t.is(e.nextDeadline(), T0 + 120, 'the sweep cascaded c into a slot of one ms')
  t.deepEqual(sweepAll(e, T0 + 120), [c])
  t.true(e.setAbsoluteTimeout(b, 50))
  t.true(e.nextDeadline() <= T0 + 60)
  t.is(e.expiresAt(b), T0 + 60)
  t.deepEqual(sweepAll(e, T0 + 59), [])
  t.deepEqual(sweepAll(e, T0 + 60), [b])
  t.true(e.setAbsoluteTimeout(a, 0))
  t.true(e.nextDeadline() > T0 + 60 && e.nextDeadline() <= T0 + 1000)
  // One wheel slot (T0 + 512 to T0 + 575 at level 1) is swept in filing order: a re-filed last.
  const x = e.create(T0 + 30, 500, 0)
  const y = e.create(T0 + 40, 500, 0)
  t.true(e.touch(a, T0 + 35))
  t.true(e.setIdleTimeout(a, 500))
  t.deepEqual(sweepAll(e, T0 + 10_000), [x, y, a])
  // detached: setter only stores
  const d = e.create(T0, 10, 0)
  t.true(e.detach(d))
  t.true(e.setIdleTimeout(d, 99))
  t.is(e.idleTimeout(d), 99)
  t.true(e.setAbsoluteTimeout(d, 5))
  t.is(e.absoluteTimeout(d), 5)
  t.is(e.nextDeadline(), Infinity)
  t.deepEqual(sweepAll(e, T0 + 1e9), [])
})

test('sweep order: strictly smallest deadline, idle lists before absolute on ties, limits', (t) => {
  const e = random()
  const i1 = e.create(T0, 100, 0) // deadline T0+100, idle list 100
  const ab = e.create(T0 + 50, 0, 50) // deadline T0+100, absolute list 50
  const i2 = e.create(T0, 60, 0) // deadline T0+60, idle list 60
  const i3 = e.create(T0 + 1, 100, 0) // T0+101
  const none = e.create(T0, 0, 0)
  t.is(e.nextDeadline(), T0 + 60)
  const out = new Float64Array(2)
  t.is(e.sweep(T0 + 1000, out), 2)
  t.deepEqual(Array.from(out), [i2, i1])
  t.is(e.sweep(T0 + 1000, out), 2)
  t.deepEqual(Array.from(out), [ab, i3])
  t.is(e.sweep(T0 + 1000, out), 0)
  t.is(e.state(none), STATE_ATTACHED)
  t.is(e.state(i1), STATE_DETACHED)
  t.is(e.size, 1)
  t.is(e.id(i1)!.length, 43, 'detached keeps id')

  // tie between two idle lists: the list created first wins
  const f = random()
  const p = f.create(T0 + 10, 90, 0) // list 90 created first, deadline T0+100
  const q = f.create(T0, 100, 0) // list 100, deadline T0+100
  t.deepEqual(sweepAll(f, T0 + 100), [p, q])

  // a list removed when emptied and re-created goes to the end of the registry
  const g = random()
  const g1 = g.create(T0, 100, 0)
  g.create(T0, 200, 0)
  g.release(g1) // list 100 removed
  const g3 = g.create(T0 + 100, 100, 0) // list 100 re-created after list 200; deadline T0+200 tie
  const all = sweepAll(g, T0 + 200)
  t.is(all.length, 2)
  t.is(all[1], g3)
  t.is(g.sweep(T0, new Float64Array(0)), 0)
})

test('sweepRelease releases and respects the limit', (t) => {
  const e = random()
  const hs = [0, 1, 2, 3, 4].map((i) => e.create(T0 + i, 10, 0))
  t.is(e.sweepRelease(T0 + 12, 2), 2)
  t.is(e.state(hs[0]), STATE_STALE)
  t.is(e.state(hs[1]), STATE_STALE)
  t.is(e.state(hs[2]), STATE_ATTACHED)
  t.is(e.sweepRelease(T0 + 12, 10), 1)
  t.is(e.sweepRelease(T0 + 12, 10), 0)
  t.is(e.size, 2)
  t.is(e.sweepRelease(T0 + 100, 0), 0)
  // freed slots are reused LIFO: last released first
  t.is(slotOf(e.create(T0, 0, 0)), 2)
})

test('evictionCandidate: no user before a user, closest to expiry first, no deadline last', (t) => {
  const e = random()
  t.is(e.evictionCandidate(), -1)
  const forever = e.create(T0 + 5, 0, 0)
  const a = e.create(T0 + 5, 100, 0) // due T0 + 105
  t.is(e.evictionCandidate(), a)
  const b = e.create(T0 + 6, 40, 0) // due T0 + 46
  t.is(e.evictionCandidate(), b)
  t.true(e.touch(b, T0 + 30)) // due T0 + 70: re-filed when its slot is looked at, behind a
  t.is(e.evictionCandidate(), a)
  t.true(e.setUser(a, 'alice'))
  t.is(e.evictionCandidate(), b)
  t.true(e.detach(b))
  t.is(e.evictionCandidate(), forever)
  e.release(forever)
  t.is(e.evictionCandidate(), a, 'a logged-in session only when no anonymous one is left')
  t.true(e.setUser(a, undefined))
  t.is(e.evictionCandidate(), a)
  e.checkInvariants()
  e.release(a)
  t.is(e.evictionCandidate(), -1)
})

test('detach and release', (t) => {
  const e = random()
  const h = e.create(T0, 100, 200)
  const id = e.id(h)!
  e.setData(h, 'k', 'v')
  e.setUser(h, 'u')
  t.true(e.detach(h))
  t.false(e.detach(h))
  t.is(e.state(h), STATE_DETACHED)
  t.is(e.size, 0)
  t.is(e.lookup(id, T0, false), -1)
  t.is(e.getData(h, 'k'), 'v')
  t.is(e.setData(h, 'k2', 'v2'), SET_OK)
  t.is(e.user(h), 'u')
  t.is(e.createdAt(h), T0)
  t.false(e.touch(h, T0))
  t.is(e.regenerate(h, T0), undefined)
  t.is(e.nextDeadline(), Infinity)
  t.is(e.scan(0, T0, new Float64Array(4)), 0)
  t.true(e.release(h))
  t.is(e.state(h), STATE_STALE)
  const h2 = e.create(T0, 0, 0)
  t.is(slotOf(h2), slotOf(h))
  t.is(e.getData(h2, 'k'), undefined, 'side record cleared on release')
  t.is(e.user(h2), undefined)
})

test('regenerate and rekey', (t) => {
  const e = random()
  const h = e.create(T0, 100, 0)
  const old = e.id(h)!
  const fresh = e.regenerate(h, T0 + 50)!
  t.not(fresh, old)
  t.is(e.id(h), fresh)
  t.is(e.lookup(old, T0 + 51, false), -1)
  t.is(e.lookup(fresh, T0 + 51, false), h)
  t.is(e.lastActivity(h), T0 + 50)
  t.is(e.regenerate(h, T0 + 150), undefined, 'expired')
  t.is(e.rekey(h, 'x', T0 + 60), REKEY_NOT_ATTACHED, 'wrong mode')
  t.is(e.size, 1)

  const c = caller()
  const a = c.createWithKey('a', T0, 100, 0)
  const b = c.createWithKey('b', T0, 100, 0)
  t.is(c.rekey(a, 'b', T0 + 1), REKEY_EXISTS)
  t.is(c.lastActivity(a), T0)
  t.is(c.rekey(a, 'a', T0 + 2), REKEY_OK)
  t.is(c.lastActivity(a), T0 + 2)
  t.is(c.rekey(a, 'z', T0 + 3), REKEY_OK)
  t.is(c.lookup('a', T0 + 3, false), -1)
  t.is(c.lookup('z', T0 + 3, false), a)
  t.is(c.id(a), 'z')
  t.is(c.rekey(b, 'q', T0 + 100), REKEY_NOT_ATTACHED, 'expired')
  c.detach(b)
  t.is(c.rekey(b, 'q', T0 + 4), REKEY_NOT_ATTACHED)
  t.is(c.rekey(a, 'b', T0 + 4), REKEY_OK, 'detached key is free')
  t.is(c.regenerate(a, T0 + 5), undefined, 'wrong mode')
  t.is(c.size, 1)
})

test('data: insertion order, byte counting, SET_TOO_LARGE changes nothing', (t) => {
  const e = random({ maxDataBytes: 10 })
  const h = e.create(T0, 0, 0)
  t.is(e.dataBytes(h), 0)
  t.deepEqual(e.dataKeys(h), [])
  t.is(e.getData(h, 'a'), undefined)
  t.false(e.deleteData(h, 'a'))
  t.is(e.setData(h, 'a', 'é'), SET_OK) // 1 + 2
  t.is(e.dataBytes(h), 3)
  t.is(e.setData(h, 'b', '1234'), SET_OK) // 3 + 5 = 8
  t.is(e.setData(h, 'c', '12'), SET_TOO_LARGE) // would be 11
  t.is(e.dataBytes(h), 8)
  t.deepEqual(e.dataKeys(h), ['a', 'b'])
  t.is(e.setData(h, 'b', '12345678'), SET_TOO_LARGE) // 3 + 9 = 12
  t.is(e.getData(h, 'b'), '1234')
  t.is(e.setData(h, 'a', '😀'), SET_OK) // 1 + 4 + 5 = 10, exactly the cap
  t.is(e.dataBytes(h), 10)
  t.deepEqual(e.dataKeys(h), ['a', 'b'], 'replacing keeps position')
  t.true(e.deleteData(h, 'a'))
  t.is(e.dataBytes(h), 5)
  t.is(e.setData(h, 'a', 'x'), SET_OK)
  t.deepEqual(e.dataKeys(h), ['b', 'a'], 're-added goes last')
  const big = e.create(T0, 0, 0)
  t.is(e.setData(big, 'k', 'x'.repeat(10)), SET_TOO_LARGE)
  t.is(e.dataBytes(big), 0)
  t.deepEqual(e.dataKeys(big), [])
  t.true(Number.isNaN(e.dataBytes(-1)))
})

test('user and roles', (t) => {
  const e = random()
  const h = e.create(T0, 0, 0)
  t.is(e.user(h), undefined)
  t.deepEqual(e.roles(h), [])
  t.true(e.setUser(h, undefined))
  t.true(e.setRoles(h, []))
  t.true(e.setUser(h, 'ann'))
  t.is(e.user(h), 'ann')
  const roles = ['b', 'a']
  t.true(e.setRoles(h, roles))
  roles.push('c')
  const got = e.roles(h)
  t.deepEqual(got, ['b', 'a'])
  got.push('z')
  t.deepEqual(e.roles(h), ['b', 'a'], 'copies both ways')
  t.true(e.setUser(h, undefined))
  t.is(e.user(h), undefined)
  t.false(e.setUser(h + SLOT_SPACE, 'x'))
  t.false(e.setRoles(h + SLOT_SPACE, ['x']))
})

test('scan: alive attached sessions in slot order, paged', (t) => {
  const e = random()
  const hs = Array.from({ length: 10 }, (_, i) => e.create(T0, i === 3 ? 10 : 0, 0))
  e.detach(hs[5])
  e.release(hs[7])
  const out = new Float64Array(3)
  const seen: number[] = []
  let from = 0
  for (;;) {
    const n = e.scan(from, T0 + 10, out)
    seen.push(...out.subarray(0, n))
    if (n < out.length) break
    from = slotOf(out[n - 1]) + 1
  }
  t.deepEqual(seen, [0, 1, 2, 4, 6, 8, 9].map((i) => hs[i]))
  t.is(e.scan(100, T0, out), 0)
  t.is(e.scan(0, T0, new Float64Array(0)), 0)
})

test('scan skips blocks with no attached session and finds each one left, from any slot', (t) => {
  const e = random()
  const hs = Array.from({ length: 5000 }, () => e.create(T0, 0, 0))
  // Kept at both edges of blocks of 1,024 slots; the rest closed (detached or released), so
  // whole blocks are empty and the blocks' counts go up and down.
  const kept = new Set([0, 1023, 1024, 3071, 3072, 4095, 4999])
  hs.forEach((h, i) => {
    if (kept.has(i)) return
    if (i % 2 === 0) e.detach(h)
    else e.release(h)
  })
  e.checkInvariants()
  const expected = [...kept].sort((x, y) => x - y).map((i) => hs[i])
  for (const from of [0, 1, 1023, 1024, 1025, 2048, 3000, 3072, 4096, 4999, 5000]) {
    for (const size of [1, 2, 7]) {
      const out = new Float64Array(size)
      const seen: number[] = []
      let at = from
      for (;;) {
        const n = e.scan(at, T0, out)
        seen.push(...out.subarray(0, n))
        if (n < out.length) break
        at = slotOf(out[n - 1]) + 1
      }
      t.deepEqual(seen, expected.filter((h) => slotOf(h) >= from), `from ${from}, ${size} at a time`)
    }
  }
  // A block filled again after it emptied is scanned again.
  const refilled = e.create(T0, 0, 0)
  t.true(slotOf(refilled) > 0 && slotOf(refilled) < 5000 && !kept.has(slotOf(refilled)))
  const all = new Float64Array(16)
  t.is(e.scan(0, T0, all), 8)
  t.true(all.subarray(0, 8).includes(refilled))
  e.checkInvariants()
})

test('growth past the initial capacity keeps links, data and generations', (t) => {
  const e = random()
  const n = 5000
  const hs: number[] = []
  for (let i = 0; i < n; i++) hs.push(e.create(T0 + i, 1_000_000, 0))
  e.setData(hs[0], 'k', 'v')
  for (let i = 0; i < n; i += 2) t.is(e.lookup(e.id(hs[i])!, T0 + n, true), hs[i]) || undefined
  t.is(e.size, n)
  t.is(e.getData(hs[0], 'k'), 'v')
  // odd ones were not renewed, so they expire first, in creation order
  const expired = sweepAll(e, T0 + 1_000_000 + n - 1, n)
  t.deepEqual(expired, hs.filter((_, i) => i % 2 === 1))
  t.true(e.memoryBytes() > 0)
})

test('memoryBytes is kept in step with every change of data, user, roles and caller keys', (t) => {
  // The invariant checker recounts what memoryBytes sums; every step here is followed by it.
  // xorshift32: the low bits of a power-of-two LCG cycle too soon to reach every operation.
  let seed = 777
  const rnd = (n: number): number => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) % n
  }
  const reached = new Set<number>()
  for (const [e, keyed] of [[random({ maxDataBytes: 40 }), false], [caller({ maxDataBytes: 40 }), true]] as const) {
    const handles: number[] = []
    let now = T0
    for (let step = 0; step < 3000; step++) {
      now += rnd(3)
      const h = handles.length > 0 ? handles[rnd(handles.length)] : -1
      const op = h < 0 ? 0 : rnd(12)
      if (op === 0) handles.push(keyed ? e.createWithKey(`key-${step}`, now, 0, 0) : e.create(now, 0, 0))
      else if (op === 1) e.setData(h, ['a', 'bb', 'ccc'][rnd(3)], 'x'.repeat(rnd(30)))
      else if (op === 2) e.deleteData(h, ['a', 'bb', 'ccc'][rnd(3)])
      else if (op === 3) e.setDataEntries(h, ['a', 'v1', 'zz', 'y'.repeat(rnd(40))])
      else if (op === 4) e.setUser(h, [undefined, 'u', 'another user'][rnd(3)])
      else if (op === 5) e.setRoles(h, [[], ['r'], ['admin', 'editor']][rnd(3)])
      else if (op === 6) e.detach(h)
      else if (op === 7) {
        e.release(h)
        handles.splice(handles.indexOf(h), 1)
      } else if (op === 8 && keyed) e.rekey(h, `rekeyed-${step}`, now)
      else if (op === 9 && keyed) {
        // A restored session given its side record, and a rename onto another session's key.
        const restored = e.restore(`restored-${step}`, now, now, 0, 0)
        if (restored >= 0) {
          handles.push(restored)
          e.loadSide(restored, 'u', ['r'], ['k', 'v', 'k', 'w'], 2)
          e.loadData(restored, ['big', 'z'.repeat(50)])
          e.capLoadedData()
          e.loadRename(restored, `key-${rnd(step + 1)}`, now)
        }
      } else if (op === 10) e.sweepRelease(now + 1, 4)
      reached.add(op)
      e.checkInvariants()
    }
    const before = e.memoryBytes()
    for (const h of handles) e.release(h)
    t.true(e.memoryBytes() < before, 'releasing the sessions gives their side records back')
    e.checkInvariants()
  }
  t.is(reached.size, 12, 'every operation ran')
  // A miscount is caught.
  const e = random()
  e.setData(e.create(T0, 0, 0), 'k', 'v')
  ;(e as unknown as { sideBytes: number }).sideBytes++
  t.throws(() => e.checkInvariants(), { message: /side records and keys hold/ })
})

test('table full', (t) => {
  // Reaching 2^25 slots is too slow for a unit test; check the guard through a tiny fake.
  const e = random() as unknown as { used: number; create: JsEngine['create'] }
  e.used = SLOT_SPACE
  t.is(e.create(T0, 0, 0), CREATE_TABLE_FULL)
})

test('differential against a naive model (random operations)', (t) => {
  // A simple model: sessions in an array; sweep picks by (deadline, list-kind order) per algorithm.
  // Here only the order-independent properties are checked: the set of sessions swept at `now`
  // equals the set expired, and lookups agree on alive/not.
  let seed = 12345
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed % n
  }
  const e = random({ idBytes: 16 })
  const live = new Map<number, string>()
  let now = T0
  for (let step = 0; step < 5000; step++) {
    now += rnd(20)
    const op = rnd(6)
    const handles = [...live.keys()]
    const h = handles.length ? handles[rnd(handles.length)] : -1
    if (op === 0 || handles.length === 0) {
      const nh = e.create(now, [0, 50, 100, 300][rnd(4)], [0, 0, 200, 500][rnd(4)])
      live.set(nh, e.id(nh)!)
    } else if (op === 1) {
      const alive = now < e.expiresAt(h)
      t.is(e.lookup(live.get(h)!, now, true) === h, alive)
    } else if (op === 2) {
      e.setIdleTimeout(h, [0, 50, 100, 300][rnd(4)])
    } else if (op === 3) {
      e.setAbsoluteTimeout(h, [0, 200, 500][rnd(4)])
    } else if (op === 4) {
      const expected = handles.filter((x) => e.expiresAt(x) <= now).sort()
      const swept = sweepAll(e, now, 10_000).sort()
      t.deepEqual(swept, expected)
      for (const x of swept) {
        live.delete(x)
        e.release(x)
      }
      let min = Infinity
      for (const x of live.keys()) min = Math.min(min, e.expiresAt(x))
      // A lower bound (a wheel slot's start), and after a full sweep nothing left is due.
      t.true(e.nextDeadline() <= min && e.nextDeadline() > now)
      e.checkInvariants()
    } else {
      e.release(h)
      live.delete(h)
    }
    if (e.size !== live.size) {
      t.fail(`size ${e.size} vs ${live.size}`)
      return
    }
  }
})

/*
 * The random-id index (RandomIdIndex): an open-addressing table. With hash multipliers [1, 0]
 * an id lands at the top bits of its first 32-bit word; ids whose first four bytes are all equal
 * have the same first word in either byte order, so these tests place ids exactly. The table
 * starts with 2048 positions (11 bits): first bytes 0xff land at 2047, the last position.
 */
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** A randomFill that hands out the given ids, in order, one per create/regenerate. */
const scriptedIds = (idBytes: number, ids: Uint8Array[]): ((buffer: Uint8Array) => void) => {
  let next = 0
  return (buffer) => {
    buffer.fill(0)
    for (let offset = 0; offset + idBytes <= buffer.length && next < ids.length; offset += idBytes) {
      buffer.set(ids[next++], offset)
    }
  }
}

/** An id of `idBytes` bytes whose first four bytes are `lead` and the rest spell `serial`. */
const placedId = (idBytes: number, lead: number, serial: number): Uint8Array => {
  const bytes = new Uint8Array(idBytes).fill(lead, 0, 4)
  for (let index = 4; index < idBytes; index++) bytes[index] = (serial >> ((index - 4) * 8)) & 255
  return bytes
}

const placedEngine = (ids: Uint8Array[], over: Partial<EngineConfig> = {}): JsEngine => {
  const config: EngineConfig = { idBytes: 16, idEncoding: 'base64url', keys: 'random', maxDataBytes: Infinity, resolution: 1000, ...over }
  return new JsEngine(config, scriptedIds(config.idBytes, ids), [1, 0])
}

const spell = (bytes: Uint8Array, encoding: 'base64url' | 'hex'): string => Buffer.from(bytes).toString(encoding)

test('id index: a probe chain wraps around the table end; deleting in its middle keeps the rest found', (t) => {
  // Four ids at home 2047 fill 2047, 0, 1, 2; an id at home 0 is displaced to 3, behind them.
  const ids = [
    placedId(16, 0xff, 1), placedId(16, 0xff, 2), placedId(16, 0xff, 3), placedId(16, 0xff, 4), placedId(16, 0, 5),
  ]
  const e = placedEngine(ids)
  const handles = ids.map(() => e.create(T0, 0, 0))
  ids.forEach((bytes, index) => {
    t.is(e.id(handles[index]), spell(bytes, 'base64url'))
    t.is(e.lookup(spell(bytes, 'base64url'), T0, false), handles[index])
  })
  // Absent ids whose chains are those occupied ones end at the first empty position.
  t.is(e.lookup(spell(placedId(16, 0xff, 9), 'base64url'), T0, false), -1)
  t.is(e.lookup(spell(placedId(16, 0, 9), 'base64url'), T0, false), -1)
  // Delete the entry at position 0 (the second one): later entries shift back over the wrap.
  t.true(e.release(handles[1]))
  t.is(e.lookup(spell(ids[1], 'base64url'), T0, false), -1)
  for (const index of [0, 2, 3, 4]) t.is(e.lookup(spell(ids[index], 'base64url'), T0, false), handles[index])
  // Delete the chain's first entry (at 2047) through detach, then one in the middle by sweep.
  t.true(e.detach(handles[0]))
  t.is(e.id(handles[0]), spell(ids[0], 'base64url'), 'a detached session keeps its id')
  t.is(e.lookup(spell(ids[0], 'base64url'), T0, false), -1)
  t.true(e.setIdleTimeout(handles[3], 10))
  t.deepEqual(sweepAll(e, T0 + 10), [handles[3]])
  t.is(e.lookup(spell(ids[3], 'base64url'), T0 + 10, false), -1)
  t.is(e.lookup(spell(ids[2], 'base64url'), T0 + 10, false), handles[2])
  t.is(e.lookup(spell(ids[4], 'base64url'), T0 + 10, false), handles[4])
  t.is(e.size, 2)
})

test('id index: deleting from a long chain shifts back only the entries that may move', (t) => {
  // Alternate two homes next to each other so the chain interleaves entries of both.
  const ids: Uint8Array[] = []
  for (let serial = 0; serial < 40; serial++) ids.push(placedId(16, serial % 2 === 0 ? 0x80 : 0x81, serial))
  const e = placedEngine(ids)
  const handles = ids.map(() => e.create(T0, 0, 0))
  const alive = new Set(handles.keys())
  // Delete every third one, then check every id, present or not.
  for (let index = 0; index < ids.length; index += 3) {
    t.true(e.release(handles[index]))
    alive.delete(index)
    for (let other = 0; other < ids.length; other++) {
      t.is(e.lookup(spell(ids[other], 'base64url'), T0, false), alive.has(other) ? handles[other] : -1)
    }
  }
})

test('id index: growth rehashes every id; detached ids survive growth', (t) => {
  const e = random({ idBytes: 16 })
  const handles: number[] = []
  for (let index = 0; index < 5000; index++) handles.push(e.create(T0, 0, 0))
  const ids = handles.map((h) => e.id(h)!)
  for (let index = 0; index < 5000; index += 2) t.true(e.detach(handles[index]))
  const memory = e.memoryBytes()
  for (let index = 0; index < 5000; index++) handles.push(e.create(T0, 0, 0))
  t.true(e.memoryBytes() > memory)
  let mismatches = 0
  for (let index = 0; index < 5000; index++) {
    if (e.lookup(ids[index], T0, false) !== (index % 2 === 0 ? -1 : handles[index])) mismatches++
    if (e.id(handles[index]) !== ids[index]) mismatches++
  }
  for (let index = 5000; index < 10_000; index++) {
    if (e.lookup(e.id(handles[index])!, T0, false) !== handles[index]) mismatches++
  }
  t.is(mismatches, 0)
  t.is(e.size, 7500)
})

test('id index: 256 tables, each at most half full, grow on their own; every id found through growth and releases', (t) => {
  const e = random({ idBytes: 16 })
  const index = (e as unknown as { randomIds: { tables: Int32Array[]; counts: Int32Array; masks: Int32Array; size: number; bytes(slots: number): number } }).randomIds
  t.is(index.tables.length, 256)
  const handles: number[] = []
  for (let at = 0; at < 50_000; at++) handles.push(e.create(T0, 0, 0))
  const ids = handles.map((handle) => e.id(handle)!)
  for (let at = 0; at < handles.length; at += 3) t.true(e.release(handles[at]))
  let filed = 0
  let bytes = 0
  let over = 0
  for (let table = 0; table < 256; table++) {
    filed += index.counts[table]
    bytes += index.tables[table].byteLength
    if (index.counts[table] * 2 > index.masks[table] + 1) over++
  }
  t.is(over, 0, 'no table more than half full')
  t.is(filed, index.size)
  t.is(index.size, e.size)
  // Each table grew alone: the largest holds far less than the whole index.
  t.true(Math.max(...index.tables.map((table) => table.length)) * 16 < index.tables.reduce((sum, table) => sum + table.length, 0))
  t.is(index.bytes(0), bytes, 'the tables, and per-slot words only for the slots asked')
  t.is(index.bytes(10), bytes + 10 * 16)
  let wrong = 0
  for (let at = 0; at < handles.length; at++) if (e.lookup(ids[at], T0, false) !== (at % 3 === 0 ? -1 : handles[at])) wrong++
  t.is(wrong, 0)
})

test('id index: in one of 256 tables of 8 entries, a chain wraps around its end; removals in any order keep the rest found; the table doubles alone', (t) => {
  // With multipliers [1, 0] and 8 table bits an id's table is the top byte of its first
  // (little-endian) word, byte 3, and its position in an 8-entry table the top 3 bits of byte 2.
  const placed = (table: number, home: number, serial: number): Uint8Array => {
    const bytes = new Uint8Array(16)
    bytes[3] = table
    bytes[2] = home << 5
    bytes[8] = serial
    return bytes
  }
  // Three ids at home 7 fill 7, 0 and 1; one at home 0 lands at 2, behind them.
  const ids = [placed(5, 7, 1), placed(5, 7, 2), placed(5, 7, 3), placed(5, 0, 4)]
  const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url')
  const make = (): RandomIdIndex => {
    const index = new RandomIdIndex(16, 'base64url', 64, [1, 0], 8)
    ids.forEach((bytes, slot) => {
      index.load(bytes, 0)
      index.insert(slot)
    })
    return index
  }
  const layout = (index: RandomIdIndex): number[] => {
    const table = (index as unknown as { tables: Int32Array[] }).tables[5]
    return Array.from({ length: 8 }, (_, position) => table[position * 5])
  }
  t.deepEqual(layout(make()), [2, 3, 4, 0, 0, 0, 0, 1], 'slot + 1 by position: the chain wraps')
  for (const order of [[0], [1], [2], [3], [0, 3], [1, 0], [2, 1, 0], [3, 2, 1, 0]]) {
    const index = make()
    for (const slot of order) index.remove(slot)
    const found = ids.map((bytes) => index.find(text(bytes)))
    t.deepEqual(found, ids.map((_, slot) => (order.includes(slot) ? -1 : slot)), `removed ${order.join(', ')}`)
  }
  // A fifth id in table 5 doubles it to 16 entries; every other table keeps 8.
  const index = make()
  index.load(placed(5, 3, 5), 0)
  index.insert(4)
  const tables = (index as unknown as { tables: Int32Array[] }).tables
  t.is(tables[5].length, 16 * 5)
  t.true(tables.every((table, at) => at === 5 || table.length === 8 * 5))
  for (let slot = 0; slot < 4; slot++) t.is(index.find(text(ids[slot])), slot)
  t.is(index.find(text(placed(5, 3, 5))), 4)
  t.is(index.find(text(placed(6, 3, 5))), -1, 'the same position in another table')
})

test('id index: a Rename of a detached session is refused, so its id never names the slot\'s next session', (t) => {
  const e = random({ idBytes: 16 })
  const handle = e.create(T0, 1000, 0)
  t.true(e.detach(handle))
  const renamed = Buffer.alloc(16, 7).toString('base64url')
  t.false(e.loadRename(handle, renamed, T0))
  t.true(e.release(handle))
  const next = e.create(T0, 1000, 0)
  t.is(slotOf(next), slotOf(handle))
  t.is(e.lookup(renamed, T0, false), -1)
  e.checkInvariants()
})

test('id index: hex and odd idBytes, long ids compared past the inline words', (t) => {
  for (const idEncoding of ['base64url', 'hex'] as const) {
    for (const idBytes of [16, 17, 19, 28, 29, 31, 32, 61, 64]) {
      // Two ids equal in every byte but the last: only the last word tells them apart.
      const first = placedId(idBytes, 0x42, 7)
      const second = first.slice()
      second[idBytes - 1] ^= 1
      const third = placedId(idBytes, 0x42, 8)
      const e = placedEngine([first, second, third], { idBytes, idEncoding })
      const a = e.create(T0, 0, 0)
      const b = e.create(T0, 0, 0)
      const label = `${idEncoding} ${idBytes}`
      t.is(e.id(a), spell(first, idEncoding), label)
      t.is(e.id(b), spell(second, idEncoding), label)
      t.is(e.lookup(spell(first, idEncoding), T0, false), a, label)
      t.is(e.lookup(spell(second, idEncoding), T0, false), b, label)
      t.is(e.lookup(spell(third, idEncoding), T0, false), -1, label)
      t.true(e.release(a))
      t.is(e.lookup(spell(first, idEncoding), T0, false), -1, label)
      t.is(e.lookup(spell(second, idEncoding), T0, false), b, label)
      // regenerate takes the next scripted id
      t.is(e.regenerate(b, T0), spell(third, idEncoding), label)
      t.is(e.lookup(spell(second, idEncoding), T0, false), -1, label)
      t.is(e.lookup(spell(third, idEncoding), T0, false), b, label)
    }
  }
})

test('id index: ids of the right length but a wrong alphabet or spelling are rejected', (t) => {
  for (const idBytes of [16, 17, 18, 33, 64]) {
    const bytes = placedId(idBytes, 0x33, 12345)
    const e = placedEngine([bytes], { idBytes })
    const h = e.create(T0, 5, 0)
    const id = spell(bytes, 'base64url')
    t.is(e.lookup(id, T0, false), h)
    const last = BASE64URL.indexOf(id[id.length - 1])
    const mask = idBytes % 3 === 1 ? 15 : idBytes % 3 === 2 ? 3 : 0
    if (mask !== 0) {
      // Non-canonical: the same bytes under Buffer's lenient decoder, a different string.
      const alias = id.slice(0, -1) + BASE64URL[last | 1]
      t.deepEqual(Buffer.from(alias, 'base64url'), Buffer.from(bytes))
      t.is(e.lookup(alias, T0, false), -1, `alias ${idBytes}`)
      t.is(e.detachIfExpired(alias, T0 + 10), -1)
    }
    for (const position of [0, 5, id.length - 1]) {
      for (const character of ['=', '+', '/', '.', 'é', '\u0100', '\u0141', '\uD83D', String.fromCharCode(BASE64URL.charCodeAt(last) + 256)]) {
        const bad = id.slice(0, position) + character + id.slice(position + 1)
        t.is(e.lookup(bad, T0, false), -1, `${idBytes} ${position} ${JSON.stringify(character)}`)
      }
    }
    t.is(e.detachIfExpired(id, T0 + 10), h)
  }
  const hexBytes = placedId(16, 0xab, 0xcdef)
  const hex = placedEngine([hexBytes], { idEncoding: 'hex' })
  const h = hex.create(T0, 0, 0)
  const id = spell(hexBytes, 'hex')
  t.is(hex.lookup(id, T0, false), h)
  t.is(hex.lookup(id.toUpperCase(), T0, false), -1)
  for (const character of ['g', 'G', 'A', '/', ':', '`', '\u0130', String.fromCharCode('a'.charCodeAt(0) + 256)]) {
    t.is(hex.lookup(character + id.slice(1), T0, false), -1, JSON.stringify(character))
    t.is(hex.lookup(id.slice(0, -1) + character, T0, false), -1, JSON.stringify(character))
  }
})

test('id index: a fresh id equal to an attached one is drawn again; equal to a detached one is fine', (t) => {
  const same = placedId(16, 1, 1)
  const other = placedId(16, 2, 2)
  const e = placedEngine([same, same, other, same])
  const a = e.create(T0, 0, 0)
  const b = e.create(T0, 0, 0)
  t.is(e.id(b), spell(other, 'base64url'))
  t.true(e.detach(a))
  const c = e.create(T0, 0, 0)
  t.is(e.id(c), spell(same, 'base64url'))
  t.is(e.lookup(spell(same, 'base64url'), T0, false), c)
  t.true(e.release(a))
  t.is(e.lookup(spell(same, 'base64url'), T0, false), c, 'releasing the detached twin leaves the index alone')
})

// A load restores ids from the file's bytes (restoreText) without making strings of them: it
// must accept and refuse exactly what restore accepts from the same characters as a string,
// and store the same id. Ids of each encoding and several sizes (every base64url remainder),
// spelt right, with one character changed to anything (non-ASCII included), cut or lengthened.
test('restoreText accepts exactly the ids restore accepts, and stores the same id', (t) => {
  const configs = fc.record({ idBytes: fc.constantFrom(8, 16, 17, 18, 32, 33), idEncoding: fc.constantFrom('base64url' as const, 'hex' as const) })
  const edits = fc.record({
    at: fc.nat(),
    character: fc.oneof(fc.constantFrom(...BASE64URL.split(''), ...'0123456789abcdefABCDEF=+/ '.split('')), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })),
    kind: fc.constantFrom('none', 'replace', 'cut', 'append', 'byte'),
    byte: fc.integer({ min: 0, max: 255 }),
  })
  let accepted = 0
  fc.assert(fc.property(configs, edits, ({ idBytes, idEncoding }, { at, character, kind, byte }) => {
    const spelt = random({ idBytes, idEncoding })
    const id = spelt.id(spelt.create(T0, 1000, 0))!
    const position = at % id.length
    const edited = kind === 'replace' ? id.slice(0, position) + character + id.slice(position + 1)
      : kind === 'cut' ? id.slice(0, position) : kind === 'append' ? id + character : id
    const bytes = Buffer.from(`xyz${edited}!`, 'utf8')
    // Any byte in place of one of the id's, as a damaged file holds it (not UTF-8 past 127).
    if (kind === 'byte') bytes[3 + position] = byte
    // What the load made of those bytes before: the string restore was given.
    const text = bytes.toString('utf8', 3, bytes.length - 1)
    const byString = random({ idBytes, idEncoding })
    const byBytes = random({ idBytes, idEncoding })
    const fromString = byString.restore(text, T0, T0, 1000, 0)
    const fromBytes = byBytes.restoreText(bytes, 3, bytes.length - 4, T0, T0, 1000, 0)
    // Thrown, not asserted, so that fast-check shrinks a failure and names its seed.
    if (fromBytes !== fromString) throw new Error(`restoreText ${fromBytes}, restore ${fromString} for ${JSON.stringify(text)}`)
    if (fromString < 0) return
    accepted++
    if (byBytes.id(fromBytes) !== text) throw new Error(`stored ${byBytes.id(fromBytes)} for ${text}`)
    if (byBytes.lookup(text, T0, false) !== fromBytes) throw new Error(`${text} not found again`)
    // What a load warms ahead of restoring it is where it is then probed from.
    const index = (byBytes as unknown as { randomIds: RandomIdIndex }).randomIds
    if (index.asciiPosition(bytes, 3) !== index.currentPosition()) throw new Error(`warmed elsewhere than ${text} is probed`)
  }), { numRuns: 2000 })
  t.true(accepted > 100, `${accepted} accepted`)
})

// The per-slot arrays as the engine holds them: whether a create copied them is which object
// they are.
const records = (engine: JsEngine): Float64Array => (engine as unknown as { f64: Float64Array }).f64

test('a finite maxSessions makes the per-slot arrays that size at once: no create below the cap copies them', (t) => {
  const capped = caller({ maxSessions: 70_000 })
  const uncapped = caller()
  const reserved = records(capped)
  t.is(reserved.length, 70_656 * 8, 'rounded up to whole scan blocks of 1024 slots')
  const first = records(uncapped)
  for (let i = 0; i < 5000; i++) {
    t.true(capped.createWithKey(`k${i}`, T0 + i, 60_000, 0) >= 0)
    t.true(uncapped.createWithKey(`k${i}`, T0 + i, 60_000, 0) >= 0)
    // Reserved slots the sessions have not reached are not counted: memory as without the cap.
    if (i % 997 === 0) t.is(capped.memoryBytes(), uncapped.memoryBytes())
  }
  t.is(records(capped), reserved)
  t.not(records(uncapped), first, 'the engine without a cap doubled its arrays on the way')
  t.is(capped.memoryBytes(), uncapped.memoryBytes())
  capped.checkInvariants()
  // Random ids: the per-slot id words of reserved slots are not counted either (their tables
  // differ by where the ids fell, within a few KiB here).
  const randomCapped = random({ maxSessions: 1_000_000 })
  const randomUncapped = random()
  for (let i = 0; i < 1000; i++) {
    randomCapped.create(T0, 60_000, 0)
    randomUncapped.create(T0, 60_000, 0)
  }
  t.true(Math.abs(randomCapped.memoryBytes() - randomUncapped.memoryBytes()) < 64 << 10, `${randomCapped.memoryBytes()} against ${randomUncapped.memoryBytes()}`)
  // Past the cap (the manager's to enforce, not the engine's) it grows as before.
  let wrong = 0
  for (let i = 5000; i < 72_000; i++) if (capped.createWithKey(`k${i}`, T0, 60_000, 0) < 0) wrong++
  t.not(records(capped), reserved)
  for (let i = 0; i < 72_000; i++) if (capped.lookup(`k${i}`, T0 + 1, false) < 0) wrong++
  t.is(wrong, 0)
  capped.checkInvariants()
})

test('no reservation without a finite cap above the first capacity, and none when the OS refuses it', (t) => {
  // Up to 2^16 the steps are as short as the first creates' compiles and collections.
  for (const maxSessions of [Infinity, undefined, 1, 1024, 65_536]) {
    t.is(records(random(maxSessions === undefined ? {} : { maxSessions })).length, 1024 * 8, `maxSessions ${maxSessions}`)
  }
  const RealArrayBuffer = globalThis.ArrayBuffer
  let refused = 0
  // A strict overcommit policy: large allocations fail with V8's RangeError.
  globalThis.ArrayBuffer = class extends RealArrayBuffer {
    constructor(bytes: number) {
      if (bytes > 1 << 20) {
        refused++
        throw new RangeError('Array buffer allocation failed')
      }
      super(bytes)
    }
  } as ArrayBufferConstructor
  let engine: JsEngine
  try {
    engine = random({ maxSessions: 1_000_000 })
  } finally {
    globalThis.ArrayBuffer = RealArrayBuffer
  }
  t.is(refused, 1)
  t.is(records(engine).length, 1024 * 8)
  const handles = Array.from({ length: 3000 }, (_, i) => engine.create(T0 + i, 60_000, 0))
  for (const handle of handles) t.is(engine.lookup(engine.id(handle)!, T0 + 3000, false), handle)
  engine.checkInvariants()
})
