import test from 'ava'
import fc from 'fast-check'
import { SET_OK, SET_TOO_LARGE } from '../ts/engine'
import { JsEngine } from '../ts/js-engine/engine'
import { SessionData } from '../ts/js-engine/session-data'

/*
 * The JsEngine's per-session record (ts/js-engine/session-data.ts): entries side by side in one
 * array up to 16, then in a Map, agreeing with a Map (values, insertion order, bytes) through
 * random sets and deletes on both sides of the switch.
 */

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8')

type Op = { op: 'set' | 'delete'; key: string; value: string }
const keys = fc.oneof(fc.integer({ min: 0, max: 40 }).map((n) => `k${n}`), fc.constantFrom('', 'é', '\u{1F600}'))
const ops = fc.array(fc.record({ op: fc.constantFrom<Op['op']>('set', 'set', 'set', 'delete'), key: keys, value: fc.string({ maxLength: 8 }) }), { maxLength: 200 })

test('values, insertion order and bytes agree with a Map through random sets and deletes, across the move to a Map', (t) => {
  fc.assert(fc.property(ops, (sequence) => {
    const record = new SessionData()
    const model = new Map<string, string>()
    for (const { op, key, value } of sequence) {
      if (op === 'set') {
        record.set(key, value, record.bytesAfterSet(key, value))
        model.set(key, value)
      } else if (record.delete(key) !== model.delete(key)) {
        return false
      }
      let bytes = 0
      for (const [k, v] of model) bytes += utf8(k) + utf8(v)
      if (record.dataBytes !== bytes || record.size !== model.size) return false
      if (JSON.stringify(record.keys()) !== JSON.stringify([...model.keys()])) return false
      const visited: string[] = []
      record.forEach((v, k) => visited.push(k, v))
      if (JSON.stringify(visited) !== JSON.stringify([...model].flat())) return false
      for (const probe of ['k0', 'k17', 'é', '', key]) if (record.get(probe) !== model.get(probe)) return false
    }
    return true
  }), { numRuns: 500 })
  t.pass()
})

test('bareEntries keeps distinct entries as a copy, and refuses a key given twice, too many entries or too many bytes', (t) => {
  const entries = ['a', '1', 'b', '22']
  const bare = SessionData.bareEntries(entries, Infinity)
  t.deepEqual(bare, entries)
  t.not(bare, entries, 'a copy')
  t.deepEqual(SessionData.bareKeys(bare!), ['a', 'b'])
  t.is(SessionData.bareGet(bare!, 'b'), '22')
  t.is(SessionData.bareGet(bare!, 'c'), undefined)
  t.is(SessionData.bareDataBytes(bare!), 5)
  const record = SessionData.ofBare(bare!)
  t.deepEqual(record.keys(), ['a', 'b'])
  t.is(record.dataBytes, 5)
  t.is(SessionData.bareEntries(['a', '1', 'a', '2'], Infinity), undefined)
  t.is(SessionData.bareEntries(['a', '1', 'b', '22'], 4), undefined)
  t.truthy(SessionData.bareEntries(['a', '1', 'b', '22'], 5))
  const many = Array.from({ length: 17 }, (_, at) => [`k${at}`, 'v']).flat()
  t.is(SessionData.bareEntries(many, Infinity), undefined)
  t.truthy(SessionData.bareEntries(many.slice(0, 32), Infinity))
})

test('a create\'s data stays a bare array until something else is set, reads never make a record, and memoryBytes returns to where it was', (t) => {
  const engine = new JsEngine({ idBytes: 16, idEncoding: 'base64url', keys: 'random', maxDataBytes: Infinity, resolution: 1000 })
  const empty = engine.memoryBytes()
  const handle = engine.createSession(0, 60_000, 0, ['theme', 'dark', 'é', 'x'])
  const internal = engine as unknown as { data: unknown[] }
  const slot = internal.data.findIndex((record) => record !== undefined)
  t.true(Array.isArray(internal.data[slot]))
  t.is(engine.getData(handle, 'theme'), 'dark')
  t.deepEqual(engine.dataKeys(handle), ['theme', 'é'])
  t.is(engine.dataBytes(handle), 5 + 4 + 2 + 1)
  t.is(engine.user(handle), undefined)
  t.deepEqual(engine.roles(handle), [])
  t.true(Array.isArray(internal.data[slot]), 'reads keep it bare')
  t.false(engine.deleteData(handle, 'absent'))
  t.true(engine.setUser(handle, undefined))
  t.true(engine.setRoles(handle, []))
  t.true(Array.isArray(internal.data[slot]), 'calls that change nothing keep it bare')
  engine.checkInvariants()
  engine.setData(handle, 'theme', 'light')
  t.false(Array.isArray(internal.data[slot]), 'a write makes the record')
  t.deepEqual(engine.dataKeys(handle), ['theme', 'é'])
  t.is(engine.getData(handle, 'theme'), 'light')
  engine.checkInvariants()
  const broken = engine.createSession(0, 60_000, 0, ['k', 'v'])
  const brokenSlot = internal.data.findIndex((record, at) => at !== slot && Array.isArray(record))
  ;(internal.data[brokenSlot] as string[]).push('k', 'w')
  t.throws(() => engine.checkInvariants(), { message: /bare array/ })
  ;(internal.data[brokenSlot] as string[]).length = 2
  engine.checkInvariants()
  engine.detach(broken)
  engine.release(broken)
  t.true(engine.detach(handle))
  t.true(engine.release(handle))
  const other = engine.createSession(0, 60_000, 0, ['a', 'b'])
  engine.setUser(other, 'ada')
  t.is(engine.user(other), 'ada')
  t.is(engine.getData(other, 'a'), 'b')
  engine.detach(other)
  engine.release(other)
  t.is(engine.memoryBytes(), empty)
})

test('a write refused over maxDataBytes leaves a bare array bare, and the cap counts as the record would', (t) => {
  const engine = new JsEngine({ idBytes: 16, idEncoding: 'base64url', keys: 'random', maxDataBytes: 12, resolution: 1000 })
  const internal = engine as unknown as { data: unknown[] }
  const handle = engine.createSession(0, 60_000, 0, ['theme', 'dark', 'é', 'x'])
  const slot = internal.data.findIndex((record) => record !== undefined)
  const before = engine.memoryBytes()
  t.is(engine.dataBytes(handle), 12)
  t.is(engine.setData(handle, 'theme', 'darker'), SET_TOO_LARGE, 'two bytes more than the cap')
  t.is(engine.setData(handle, 'k', ''), SET_TOO_LARGE, 'a new key adds its bytes')
  t.true(Array.isArray(internal.data[slot]), 'still bare')
  t.is(engine.memoryBytes(), before)
  t.is(engine.getData(handle, 'theme'), 'dark')
  t.is(engine.setData(handle, 'theme', 'blue'), SET_OK, 'a replaced value counts its own bytes only')
  t.false(Array.isArray(internal.data[slot]))
  t.is(engine.dataBytes(handle), 12)
  t.is(engine.setData(handle, 'é', ''), SET_OK)
  t.is(engine.dataBytes(handle), 11)
  engine.checkInvariants()
})

test('a record with no roles shares one frozen empty list, which cannot be filled by mistake', (t) => {
  const record = new SessionData()
  t.deepEqual(record.roles, [])
  t.throws(() => record.roles.push('admin'), { instanceOf: TypeError })
  t.deepEqual(new SessionData().roles, [])
})

test('no roles is always the shared empty list, and an empty create data makes no record', (t) => {
  const record = new SessionData()
  record.setRoles(['admin'])
  t.deepEqual(record.roles, ['admin'])
  record.setRoles([])
  t.throws(() => record.roles.push('x'), { instanceOf: TypeError }, 'the shared list, not a new one')
  const engine = new JsEngine({ idBytes: 16, idEncoding: 'base64url', keys: 'caller', maxDataBytes: Infinity, resolution: 1000 })
  const handle = engine.createWithKey('s', 0, 0, 0)
  const before = engine.memoryBytes()
  engine.setDataEntries(handle, [])
  t.is(engine.sideRecord(handle), undefined)
  t.is(engine.memoryBytes(), before)
  engine.setDataEntries(handle, ['a', '1'])
  t.deepEqual(engine.dataKeys(handle), ['a'])
})
