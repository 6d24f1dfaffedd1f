/**
 * Issue 18 on the Redis backend, against a real redis-server with several managers standing for
 * processes: `sessionsOf`, `closeUser` (after it resolves, no process serves any of those
 * sessions, near caches included), `maxSessionsPerUser` kept in the same atomic step as the
 * create or `setUser`. `page` has its own file, redis-paging.spec.ts.
 */
import { type CloseReason, UserSessionLimitError } from '../ts/index'
import { type RedisSession, RedisSessionManager } from '../ts/redis/index'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { redisApp } from './redis-app'
import { redisSpec } from './redis-spec'

const { test, managers, group } = redisSpec({ resolution: 50 })

const ids = (sessions: readonly RedisSession<any>[]) => sessions.map((session) => session.id)
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test('sessionsOf lists a user\'s live sessions from any process, oldest first; the set follows setUser and regenerate', async (t) => {
  const { managers: [a, b] } = await group(t.context.server, 2)
  const first = await a.create({ user: 'ada' })
  await pause(2)
  const second = await b.create({ user: 'ada' })
  const other = await a.create()
  await a.create({ user: 'bob' })
  t.deepEqual(ids(await b.sessionsOf('ada')), [first.id, second.id])
  t.true(await other.setUser('ada'))
  t.is((await a.sessionsOf('ada')).length, 3)
  t.true(await other.setUser(undefined))
  const newId = await second.regenerate()
  t.deepEqual(ids(await a.sessionsOf('ada')), [first.id, newId])
  await first.close()
  t.deepEqual(ids(await b.sessionsOf('ada')), [newId])
  t.deepEqual(await a.sessionsOf('nobody'), [])
  await t.throwsAsync(() => a.sessionsOf(1 as never), { instanceOf: TypeError, message: /user/ })
})

test('closeUser in one process: once it resolves no process serves any of those sessions, near caches included', async (t) => {
  const { managers: [a, b, c] } = await group(t.context.server, 3)
  const closes: string[] = []
  for (const manager of [a, b, c]) manager.on('close', (session, reason) => closes.push(`${session.user}:${reason}`))
  const sessions = [await a.create({ user: 'ada' }), await b.create({ user: 'ada' }), await c.create({ user: 'ada' })]
  const kept = await a.create({ user: 'ada' })
  const bob = await b.create({ user: 'bob' })
  // Every process reads every session first, so each holds them in its near cache.
  for (const manager of [a, b, c]) for (const session of [...sessions, kept, bob]) t.truthy(await manager.get(session.id))
  t.is(await c.closeUser('ada', { except: await c.peek(kept.id) }), 3)
  for (const manager of [a, b, c]) {
    for (const session of sessions) t.is(await manager.get(session.id), undefined, `${session.id} is served nowhere`)
    t.truthy(await manager.get(kept.id))
    t.truthy(await manager.get(bob.id))
  }
  t.deepEqual(closes, ['ada:destroyed', 'ada:destroyed', 'ada:destroyed'], "'close' once, in the process that closed them")
  t.is(await a.closeUser('ada', { reason: 'evicted' }), 1)
  t.deepEqual(closes.slice(3), ['ada:evicted'])
  t.deepEqual(await b.sessionsOf('ada'), [])
  t.is(await a.closeUser('ada'), 0)
})

test('closeUser options are checked; except from another manager, another user\'s or a closed session', async (t) => {
  const { managers: [a] } = await group(t.context.server, 1)
  const { managers: [elsewhere] } = await group(t.context.server, 1)
  const ada = await a.create({ user: 'ada' })
  const bob = await a.create({ user: 'bob' })
  await t.throwsAsync(() => a.closeUser('ada', { except: ada.id } as never), { instanceOf: TypeError, message: /options\.except/ })
  const foreign = await elsewhere.create({ user: 'ada' })
  await t.throwsAsync(() => a.closeUser('ada', { except: foreign }), { instanceOf: RangeError, message: /options\.except/ })
  await t.throwsAsync(() => a.closeUser('ada', { reason: 'shutdown' } as never), { instanceOf: RangeError, message: /options\.reason/ })
  await t.throwsAsync(() => a.closeUser('ada', { other: 1 } as never), { instanceOf: TypeError, message: /other/ })
  t.is(await a.closeUser('ada', { except: bob }), 1)
  t.false(bob.closed)
  const again = await a.create({ user: 'ada' })
  t.is(await a.closeUser('ada', { except: ada }), 1, 'a closed session excepts nothing')
  t.true((await a.peek(again.id)) === undefined)
})

// Serial: ten thousand creates would hold up the other tests' invalidations on a loaded machine.
test.serial('closeUser of a user with 10^4 sessions, and a close listener that calls closeUser again', async (t) => {
  const { managers: [a, b] } = await group(t.context.server, 2, { commandTimeout: 30_000 })
  for (let batch = 0; batch < 20; batch++) {
    await Promise.all(Array.from({ length: 500 }, () => a.create({ user: 'many' })))
  }
  t.is((await b.sessionsOf('many')).length, 10_000)
  let inner: Promise<number> | undefined
  const seen = new Set<string>()
  let twice = 0
  b.on('close', (session) => {
    if (seen.has(session.id)) twice++
    seen.add(session.id)
    inner ??= b.closeUser('many')
  })
  t.is(await b.closeUser('many'), 10_000)
  t.is(await inner, 0, 'nothing left for the re-entrant call')
  t.is(seen.size, 10_000)
  t.is(twice, 0)
  t.is(await a.count(), 0)
})

test("maxSessionsPerUser 'evict-oldest' across processes: the user's oldest session goes, in the create's atomic step", async (t) => {
  const { managers: [a, b] } = await group(t.context.server, 2, { maxSessionsPerUser: 2 })
  const reasons: CloseReason[] = []
  b.on('close', (_session, reason) => reasons.push(reason))
  const first = await a.create({ user: 'ada' })
  await pause(2)
  const second = await a.create({ user: 'ada' })
  await pause(2)
  const third = await b.create({ user: 'ada' })
  t.deepEqual(ids(await a.sessionsOf('ada')), [second.id, third.id])
  t.is(await a.get(first.id), undefined)
  t.deepEqual(reasons, ['evicted'], "'close' in the process whose create evicted it")
  t.deepEqual(b.stats().userLimit, { evicted: 1, rejected: 0 })
  const mover = await a.create({ user: 'bob' })
  t.true(await mover.setUser('ada'))
  t.deepEqual(ids(await b.sessionsOf('ada')), [third.id, mover.id])
  t.deepEqual(a.stats().userLimit, { evicted: 1, rejected: 0 })
})

test("maxSessionsPerUser 'reject': concurrent creates from many processes never exceed the cap", async (t) => {
  const { managers } = await group(t.context.server, 3, { maxSessionsPerUser: 3, whenUserFull: 'reject' })
  const attempts = await Promise.allSettled(Array.from({ length: 30 }, (_, index) => managers[index % 3].create({ user: 'ada' })))
  const made = attempts.filter((attempt) => attempt.status === 'fulfilled')
  const refused = attempts.filter((attempt): attempt is PromiseRejectedResult => attempt.status === 'rejected')
  t.is(made.length, 3)
  t.is(refused.length, 27)
  t.true(refused.every((attempt) => attempt.reason instanceof UserSessionLimitError && attempt.reason.code === 'ERR_USER_SESSION_LIMIT'))
  t.is((await managers[0].sessionsOf('ada')).length, 3)
  const bob = await managers[1].create({ user: 'bob' })
  await t.throwsAsync(() => bob.setUser('ada'), { instanceOf: UserSessionLimitError })
  t.is((await managers[2].get(bob.id))?.user, 'bob', 'unchanged')
  t.is(managers.reduce((sum, manager) => sum + manager.stats().userLimit.rejected, 0), 28)
})

test('maxSessionsPerUser options are checked, naming the option', (t) => {
  const client = t.context.server.client()
  t.throws(() => new RedisSessionManager({ client, maxSessionsPerUser: 0 }), { instanceOf: RangeError, message: /options\.maxSessionsPerUser/ })
  t.throws(() => new RedisSessionManager({ client, whenUserFull: 'evict' as never }), { instanceOf: RangeError, message: /options\.whenUserFull/ })
})

test('with a key (users sealed, sets named by blind index), across a key rotation: sessionsOf, closeUser and the cap see every session', async (t) => {
  const oldKey = 'a'.repeat(64)
  const newKey = 'b'.repeat(64)
  const { managers: [before], prefix } = await group(t.context.server, 1, { key: oldKey })
  const first = await before.create({ user: 'ada' })
  await pause(2)
  const second = await before.create({ user: 'ada' })
  t.deepEqual(await t.context.admin.keys(`${prefix}u:*`), [], 'no user name in a key')
  // Another process after the rotation: the first two stay filed under the old key's index.
  const after = new RedisSessionManager({ client: t.context.server.client(), prefix: prefix.slice(0, -2), resolution: 50, key: [newKey, oldKey], maxSessionsPerUser: 3 })
  managers.push(after)
  await pause(2)
  const third = await after.create({ user: 'ada' })
  t.deepEqual(ids(await after.sessionsOf('ada')), [first.id, second.id, third.id])
  await pause(2)
  const fourth = await after.create({ user: 'ada' })
  t.is(await after.get(first.id), undefined, 'the oldest, filed under the old index, evicted for the cap')
  t.deepEqual(ids(await after.sessionsOf('ada')), [second.id, third.id, fourth.id])
  // A process without the new key cannot name the new key's sets (nor open their records).
  t.deepEqual(ids(await before.sessionsOf('ada')), [second.id])
  t.is(await after.closeUser('ada', { except: third }), 2)
  t.deepEqual(ids(await after.sessionsOf('ada')), [third.id])
})

test('closeUser racing creates and setUser from other processes: what it closed is served nowhere, and the user set matches what is live', async (t) => {
  const { managers: [a, b, c] } = await group(t.context.server, 3, { commandTimeout: 20_000 })
  const before = await Promise.all(Array.from({ length: 50 }, (_, index) => [b, c][index % 2].create({ user: 'ada' })))
  const movers = await Promise.all(Array.from({ length: 20 }, () => c.create({ user: 'bob' })))
  const creating = Array.from({ length: 50 }, (_, index) => [b, c][index % 2].create({ user: 'ada' }))
  const moving = movers.map((session) => session.setUser('ada'))
  const closed = await a.closeUser('ada')
  const during = await Promise.all(creating)
  await Promise.all(moving)
  t.true(closed >= 50, 'at least every session made before the call')
  for (const manager of [a, b, c]) {
    for (const session of before) t.is(await manager.get(session.id), undefined)
  }
  const listed = new Set(ids(await b.sessionsOf('ada')))
  const live: string[] = []
  for (const session of [...before, ...during, ...movers]) if ((await c.peek(session.id))?.user === 'ada') live.push(session.id)
  t.true(live.every((id) => listed.has(id)), 'every live session of the user is listed')
  for (const id of listed) t.is((await a.peek(id))?.user, 'ada', 'every listed session is live and the user\'s')
})

test('a user set outlives every session in it: one joining by setUser (later deadline, or none) keeps the set alive past the first member', async (t) => {
  const { managers: [a], prefix } = await group(t.context.server, 1)
  const { admin } = t.context
  // ada's set is made by a session with a 1 s deadline: Redis drops the set soon after it.
  await a.create({ user: 'ada', idleTimeout: 1000 })
  const laptop = await a.create({ user: 'bob' })
  t.true(await laptop.setUser('ada'))
  // laptop lives 30 minutes: a set dropped before it would hide it from sessionsOf, closeUser and the cap.
  t.true(await admin.pTTL(`${prefix}u:ada`) >= 29 * 60_000, 'the set lives as long as its longest-lived session')
  await a.create({ user: 'cy', idleTimeout: 1000 })
  const kiosk = await a.create({ idleTimeout: 0 })
  t.true(await kiosk.setUser('cy'))
  t.is(await admin.pTTL(`${prefix}u:cy`), -1, 'a session without a deadline keeps its set without one')
})

test("closeUser with keys: 'caller': a closed session excepts nothing, not even a later session holding its key", async (t) => {
  const { managers: [a] } = await group(t.context.server, 1, { keys: 'caller' })
  const old = await a.create({ key: 'ada-laptop', user: 'ada' })
  t.true(await old.close())
  const fresh = await a.create({ key: 'ada-laptop', user: 'ada' })
  t.is(await a.closeUser('ada', { except: old }), 1, 'log out everywhere closes the new laptop session')
  t.is(await a.peek(fresh.id), undefined)
})

test("a re-login at maxSessionsPerUser 'reject' closes the old session in the create's own step: a close listener's create cannot take its place and refuse the login", async (t) => {
  const { managers: [manager] } = await group(t.context.server, 1, { maxSessionsPerUser: 2, whenUserFull: 'reject' })
  const server = redisApp(manager, 'http')
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const login = async (cookie?: string) => {
    const response = await fetch(`${url}/login?user=ada`, { method: 'POST', headers: cookie === undefined ? {} : { cookie } })
    return { status: response.status, body: await response.json() as Record<string, any>, cookie: response.headers.getSetCookie()[0]?.split(';')[0] }
  }
  const laptop = await login()
  const phone = await login()
  const sneaked: Promise<unknown>[] = []
  const reasons: string[] = []
  manager.on('close', (_session, reason) => {
    reasons.push(reason)
    // A third device of ada arriving while the laptop's old session closes.
    sneaked.push(manager.create({ user: 'ada' }).then(() => 'created', (error: unknown) => error))
  })
  const relogin = await login(laptop.cookie)
  t.is(relogin.status, 200, 'a re-login on a device of the user is never refused')
  t.truthy(relogin.body.id)
  const outcomes = await Promise.all(sneaked)
  t.is(outcomes.length, 1)
  t.true(outcomes[0] instanceof UserSessionLimitError, 'the place was the re-login\'s')
  t.deepEqual(reasons, ['destroyed'])
  t.deepEqual(ids(await manager.sessionsOf('ada')).sort(), [phone.body.id, relogin.body.id].sort())
})

test('a login with thousands of data keys is stored whole, and its eviction is the one the create reports', async (t) => {
  // Lua's unpack takes ~8,000 values: one HSET of 5,000 keys failed after make_room had evicted
  // the user's oldest session, with no 'close' and the create rejected as Redis unavailable.
  const { managers: [a, b] } = await group(t.context.server, 2, { maxSessionsPerUser: 1 })
  const reasons: CloseReason[] = []
  a.on('close', (_session, reason) => reasons.push(reason))
  const first = await a.create({ user: 'ada', data: { cart: ['book'] } })
  await pause(2)
  const data = Object.fromEntries(Array.from({ length: 5000 }, (_, n) => [`k${n}`, n]))
  const second = await a.create({ user: 'ada', data })
  const seen = await b.get(second.id)
  t.is(seen?.keys().length, 5000)
  t.is(seen?.get('k4999'), 4999)
  t.is(await b.get(first.id), undefined)
  t.deepEqual(reasons, ['evicted'])
  t.deepEqual(ids(await b.sessionsOf('ada')), [second.id])
})

test('a per-user set kept without a TTL takes one again when its member without a deadline gains one', async (t) => {
  const { managers: [a], prefix } = await group(t.context.server, 1)
  const admin = t.context.admin
  const device = await a.create({ user: 'eve', idleTimeout: 0 })
  const browser = await a.create({ user: 'eve', idleTimeout: 60_000 })
  t.is(await admin.pTTL(`${prefix}u:eve`), -1, 'no TTL while the device session has no deadline')
  t.true(await device.setIdleTimeout(120_000))
  const ttl = await admin.pTTL(`${prefix}u:eve`)
  t.true(ttl > 0 && ttl <= 120_000 + 65_000, `the set's TTL follows its longest-lived member: ${ttl} ms`)
  t.true(ttl >= await admin.pTTL(`${prefix}s:${device.id}`) - 1000, 'and outlives it')
  t.true(await browser.setIdleTimeout(0))
  t.is(await admin.pTTL(`${prefix}u:eve`), -1, 'none again while another member has no deadline')
})

test('a per-user set kept without a TTL for a session without a deadline takes one again when that session goes', async (t) => {
  // A set has no TTL while one member has no deadline. Nothing gave it back when that member
  // left: if another member's key then expired in Redis before any sweep reached it (every
  // process down past the grace), the sweep closed it with an empty record, naming no user, and
  // the set kept the stale id with no TTL, for good. DEL stands in for that key's expiry.
  const { managers: [a], prefix } = await group(t.context.server, 1, { idleTimeout: 200, touchInterval: 10 })
  const admin = t.context.admin
  const device = await a.create({ user: 'ada', idleTimeout: 0 })
  const browser = await a.create({ user: 'ada' })
  t.is(await admin.pTTL(`${prefix}u:ada`), -1, 'no TTL while the device session is in the set')
  t.true(await device.close())
  const ttl = await admin.pTTL(`${prefix}u:ada`)
  // At most the browser key's TTL when made: idleTimeout plus the grace (60 s and the 5 s lease).
  // Not its PTTL read now: on a loaded machine the sweep may have closed it by then, and with it
  // the set, left empty (-2: no set, which is no stale set either).
  const swept = ttl === -2 && (await admin.exists(`${prefix}s:${browser.id}`)) === 0
  t.true(swept || (ttl > 0 && ttl <= 200 + 65_000), `the set's TTL follows the browser session's key: ${ttl} ms`)
  await admin.del(`${prefix}s:${browser.id}`)
  await pause(400)
  await a.sweep()
  const left = await admin.sMembers(`${prefix}u:ada`)
  const leftTtl = await admin.pTTL(`${prefix}u:ada`)
  t.true(left.length === 0 || leftTtl >= 0, `u:ada holds ${JSON.stringify(left)} with PTTL ${leftTtl}`)
})
