import { encodeValue } from '../ts/data-codec'
import { SessionExistsError } from '../ts/errors'
import {
  RedisSchemaError, RedisSession,
} from '../ts/redis/index'
import { redisSpec, until } from './redis-spec'

const { test, group } = redisSpec({ resolution: 50 })

test('a session created by one process is read by another, with user, roles and typed data', async (t) => {
  const { managers: [a, b] } = await group(t.context.server, 2)
  const created = await a.create({ user: 'alice', roles: ['admin'], data: { cart: [1, { n: 2 }], theme: 'dark', n: 3 } })
  const seen = await b.get(created.id)
  t.true(seen instanceof RedisSession)
  t.is(seen?.user, 'alice')
  t.deepEqual(seen?.roles, ['admin'])
  t.deepEqual(seen?.get('cart'), [1, { n: 2 }])
  t.is(seen?.get('n'), 3)
  t.deepEqual(seen?.keys().sort(), ['cart', 'n', 'theme'])
  t.is(await b.get('not-an-id'), undefined)
  t.is(await b.get('A'.repeat(22)), undefined)
})

test('values are stored in Redis with their type tags byte for byte', async (t) => {
  const { managers: [a], prefix } = await group(t.context.server, 1)
  const session = await a.create({ data: { plain: 'text', tagged: '\u0000starts with NUL', list: [1, 'two', null] } })
  const stored = await t.context.admin.hGetAll(`${prefix}s:${session.id}`)
  t.is(stored['d:plain'], encodeValue('x', 'text'))
  t.is(stored['d:tagged'], encodeValue('x', '\u0000starts with NUL'))
  t.is(stored['d:list'], encodeValue('x', [1, 'two', null]))
  t.is(stored.v, '2')
  t.is(stored.m, '1', 'a record with no sealed value is readable by a release reading version 1')
})

test('concurrent writes to different keys of one session, from several processes, never overwrite each other', async (t) => {
  const { managers: group3 } = await group(t.context.server, 3)
  const session = await group3[0].create()
  const copies = await Promise.all(group3.map((manager) => manager.get(session.id)))
  const writes: Promise<boolean>[] = []
  for (let key = 0; key < 60; key++) writes.push((copies[key % 3] as RedisSession).set(`k${key}` as string, key))
  t.true((await Promise.all(writes)).every(Boolean))
  const final = await group3[1].peek(session.id)
  for (let key = 0; key < 60; key++) t.is(final?.get(`k${key}`), key)
})

test('create-if-absent with caller keys is one atomic step: of concurrent creates, exactly one wins', async (t) => {
  const { managers: group3 } = await group(t.context.server, 3, { keys: 'caller' })
  const results = await Promise.allSettled(group3.flatMap((manager, index) => [
    manager.create({ key: 'peer-1', data: { by: index } }),
    manager.create({ key: 'peer-1', data: { by: index } }),
  ]))
  t.is(results.filter((result) => result.status === 'fulfilled').length, 1)
  for (const result of results) {
    if (result.status === 'rejected') t.true(result.reason instanceof SessionExistsError)
  }
  const again = await group3[2].getOrCreate('peer-1')
  t.is(typeof again.get('by'), 'number')
})

test('regenerate: the old id is dead and the new one live at once, data and user set kept', async (t) => {
  const { managers: [a, b], prefix } = await group(t.context.server, 2)
  const session = await a.create({ user: 'bob', data: { cart: ['x'] } })
  const oldId = session.id
  t.truthy(await b.get(oldId))
  const events: string[] = []
  a.on('regenerate', (regenerated, previous) => events.push(`${previous}->${regenerated.id}`))
  const newId = await session.regenerate()
  t.is(typeof newId, 'string')
  t.is(session.id, newId as string)
  t.deepEqual(events, [`${oldId}->${newId}`])
  t.is(await b.get(oldId), undefined)
  t.deepEqual((await b.get(newId as string))?.get('cart'), ['x'])
  t.deepEqual(await t.context.admin.sMembers(`${prefix}u:bob`), [newId])
  t.is(await t.context.admin.zScore(`${prefix}deadlines`, oldId), null)
})

test('destroy: close fires once, in the destroying process, with the data readable; other processes drop their copies and objects', async (t) => {
  const { managers: [a, b], prefix } = await group(t.context.server, 2)
  const closes: string[] = []
  a.on('close', (session, reason) => closes.push(`a:${reason}:${session.user}:${String(session.get('cart'))}`))
  b.on('close', (session, reason) => closes.push(`b:${reason}:${session.user}`))
  const session = await a.create({ user: 'carol', data: { cart: 'c1' } })
  const copy = await b.get(session.id)
  let disposed = 0
  copy?.putObject('socket', {}, () => { disposed++ })
  t.truthy(await b.get(session.id))
  t.true(await a.destroy(session.id))
  t.false(await a.destroy(session.id))
  t.deepEqual(closes, ['a:destroyed:carol:c1'])
  t.is(await b.get(session.id), undefined)
  await until('the object disposed in the other process', () => disposed === 1)
  t.deepEqual(await t.context.admin.sMembers(`${prefix}u:carol`), [])
  t.false(await copy!.set('cart', 'late'))
  t.true(copy!.closed)
})

test('expiry: every session closes exactly once across processes, in the lease holder, with its data readable', async (t) => {
  const { managers: group3 } = await group(t.context.server, 3, { idleTimeout: 300, touchInterval: 30 })
  const closed = new Map<string, number>()
  const readable: boolean[] = []
  for (const manager of group3) {
    manager.on('close', (session, reason) => {
      t.is(reason, 'expired')
      closed.set(session.id, (closed.get(session.id) ?? 0) + 1)
      readable.push(session.get('n') !== undefined)
    })
  }
  const ids = new Set<string>()
  for (let index = 0; index < 300; index++) ids.add((await group3[index % 3].create({ data: { n: index } })).id)
  await until('300 closes', () => closed.size === 300)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.is(closed.size, 300)
  t.true([...closed.values()].every((count) => count === 1))
  t.true([...closed.keys()].every((id) => ids.has(id)))
  t.true(readable.every(Boolean))
})

test('a lookup never serves a session past its deadline, before the sweep closes it', async (t) => {
  const { managers: [a, b] } = await group(t.context.server, 2, { idleTimeout: 200, touchInterval: 20, resolution: 60_000 })
  const session = await a.create()
  t.truthy(await b.peek(session.id))
  await new Promise((resolve) => setTimeout(resolve, 260))
  t.is(await a.get(session.id), undefined)
  t.is(await b.get(session.id), undefined)
  t.true(session.closed)
  t.is(session.closeReason, 'expired')
})

test('renewals are coalesced: a get renews in Redis at most once per touchInterval, on Redis time', async (t) => {
  const { managers: [a, b], prefix } = await group(t.context.server, 2, { idleTimeout: 60_000, touchInterval: 400 })
  const session = await a.create()
  const key = `${prefix}s:${session.id}`
  const first = Number(await t.context.admin.hGet(key, 'a'))
  const [seconds, micros] = await t.context.admin.time() as unknown as [string, string]
  const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  t.true(Math.abs(first - redisNow) < 5000)
  for (let round = 0; round < 10; round++) {
    await a.get(session.id)
    await b.get(session.id)
  }
  const second = Number(await t.context.admin.hGet(key, 'a'))
  // Redis is asked for the renewal only once the interval has passed since the last one.
  t.true(second === first || second - first >= 400)
  await new Promise((resolve) => setTimeout(resolve, 450))
  await b.get(session.id)
  const third = Number(await t.context.admin.hGet(key, 'a'))
  t.true(third - first >= 400)
  const score = Number(await t.context.admin.zScore(`${prefix}deadlines`, session.id))
  t.is(score, third + 60_000)
  // The key's TTL outlives the deadline: Redis never drops a live session first.
  const ttl = await t.context.admin.pTTL(key)
  t.true(ttl > 60_000 - 1000)
})

test('the near cache answers repeated reads without a round trip and drops a copy another process changed', async (t) => {
  const { managers: [a, b] } = await group(t.context.server, 2)
  const session = await a.create({ data: { v: 1 } })
  await b.get(session.id)
  const before = b.stats().nearCache
  for (let index = 0; index < 20; index++) t.is((await b.get(session.id))?.get('v'), 1)
  const after = b.stats().nearCache
  t.is(after.hits - before.hits, 20)
  t.is(after.misses, before.misses)
  await session.set('v', 2)
  await until('the change seen in b', async () => (await b.get(session.id))?.get('v') === 2)
})

test("another process's write replaces the copy it changed: the next read is served from the near cache with the new value", async (t) => {
  const { managers: [a, b] } = await group(t.context.server, 2)
  const session = await a.create({ user: 'alice', data: { v: 1, w: 'kept' } })
  await b.get(session.id)
  const before = b.stats().nearCache
  const copyInA = await a.get(session.id)
  t.true(await copyInA!.set('v', 2))
  t.true(await copyInA!.setUser('bob'))
  let seen: RedisSession | undefined
  await until('the writes seen in b', async () => {
    seen = await b.get(session.id)
    return seen?.user === 'bob'
  })
  t.deepEqual([seen?.user, seen?.get('v'), seen?.get('w')], ['bob', 2, 'kept'])
  t.is(b.stats().nearCache.misses - before.misses, 0, 'every read of b was served from its copy, none asked Redis')
  // A record over 4096 bytes is not carried: b drops its copy and asks Redis.
  const big = 'x'.repeat(5000)
  t.true(await copyInA!.set('big', big))
  await until('the large write seen in b', async () => (await b.get(session.id))?.get('big') === big)
  t.true(b.stats().nearCache.misses > before.misses)
  t.true(await copyInA!.close())
  t.is(await b.get(session.id), undefined)
})

test.serial('a lost subscription drops the whole near cache, and it is used again once restored', async (t) => {
  const { managers: [a, b] } = await group(t.context.server, 2)
  const session = await a.create({ data: { v: 1 } })
  await b.get(session.id)
  t.is(b.stats().nearCache.size, 1)
  const flushes = b.stats().nearCache.flushes
  await t.context.admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub'])
  await until('the flush', () => b.stats().nearCache.flushes > flushes)
  await until('the reconnect', async () => {
    await b.get(session.id)
    return b.stats().nearCache.size === 1
  })
  await session.set('v', 3)
  await until('the change seen after the reconnect', async () => (await b.get(session.id))?.get('v') === 3)
})

test('rolling deploy: a record of a later version is read and its unknown fields kept; one this release cannot read is refused', async (t) => {
  const { managers: [a], prefix } = await group(t.context.server, 1)
  const { admin } = t.context
  const [seconds] = await admin.time() as unknown as [string, string]
  const now = Number(seconds) * 1000
  const key = `${prefix}s:${'B'.repeat(22)}`
  await admin.hSet(key, { v: '2', m: '1', c: String(now), a: String(now), i: '600000', x: '0', u: 'dave', 'd:cart': 'a', z: 'a v2 field' })
  await admin.zAdd(`${prefix}deadlines`, { score: now + 600_000, value: 'B'.repeat(22) })
  const session = await a.get('B'.repeat(22))
  t.is(session?.user, 'dave')
  t.true(await session!.set('cart', 'b'))
  t.is(await admin.hGet(key, 'z'), 'a v2 field')
  t.is(await admin.hGet(key, 'v'), '2')
  const unreadable = `${prefix}s:${'C'.repeat(22)}`
  await admin.hSet(unreadable, { v: '3', m: '3', c: String(now), a: String(now), i: '600000', x: '0' })
  const error = await t.throwsAsync(a.get('C'.repeat(22)))
  t.true(error instanceof RedisSchemaError)
  t.is((error as RedisSchemaError).code, 'ERR_SESSION_SCHEMA')
})

test('size and synchronous iteration are refused with a TypeError; count and for await ask Redis', async (t) => {
  const { managers: [a, b] } = await group(t.context.server, 2)
  t.throws(() => a.size, { instanceOf: TypeError })
  t.throws(() => [...(a as unknown as Iterable<unknown>)], { instanceOf: TypeError })
  const ids = new Set<string>()
  for (let index = 0; index < 5; index++) ids.add((await a.create()).id)
  t.is(await b.count(), 5)
  const seen = new Set<string>()
  for await (const session of b) seen.add(session.id)
  t.deepEqual([...seen].sort(), [...ids].sort())
})

test('writes, touch and regenerate on a closed session resolve false or undefined and change nothing', async (t) => {
  const { managers: [a, b] } = await group(t.context.server, 2)
  const session = await a.create()
  const copy = await b.get(session.id)
  t.true(await session.close())
  t.false(await session.close())
  t.false(await copy!.set('k', 1))
  t.false(await copy!.touch())
  t.is(await copy!.regenerate(), undefined)
  t.is(await a.count(), 0)
})
