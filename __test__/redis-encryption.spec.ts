import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { RedisKeyError, RedisSessionManager, type RedisSessionManagerOptions } from '../ts/redis/index'
import { type Client, type RedisServer } from './redis-fixtures'
import { redisSpec } from './redis-spec'

const { test, managersOn: managersOnPrefix } = redisSpec({ resolution: 50 })

const K1 = new Uint8Array(randomBytes(32))
const K2 = new Uint8Array(randomBytes(32))
const text = (key: Uint8Array, encoding: 'hex' | 'base64url') => Buffer.from(key).toString(encoding)
const SECRETS = ['alice@example.com', 'sku-secret-4711', 'hush hush', 'auditor', '"n":42']

/** Managers sharing one fresh prefix, each with its own client and options: processes as far as Redis can tell. */
const managersOn = (server: RedisServer, ...options: Omit<RedisSessionManagerOptions, 'client'>[]) =>
  managersOnPrefix(server, options, `e-${randomUUID()}:`)

/** Every field and value of every key under `prefix`, as one text. */
async function rawDump(admin: Client, prefix: string): Promise<string> {
  const parts: string[] = []
  for (const key of await admin.keys(`${prefix}*`)) {
    parts.push(key)
    const type = await admin.type(key)
    if (type === 'hash') parts.push(...Object.entries(await admin.hGetAll(key)).flat())
    else if (type === 'set') parts.push(...await admin.sMembers(key))
    else if (type === 'zset') parts.push(...await admin.zRange(key, 0, -1))
    else if (type === 'string') parts.push(String(await admin.get(key)))
  }
  return parts.join('\n')
}

/** The persistence file's key id of `key` (seal.ts keeps its layout): the first 4 bytes of a sealed value. */
function keyIdOf(key: Uint8Array): number {
  return createHash('sha256').update('sessionkeeper key id').update(key).digest().readUInt32LE(0)
}
const sealedUnder = (text: string | null | undefined): number => Buffer.from(String(text), 'base64url').readUInt32LE(0)

async function rejection(t: any, promise: Promise<unknown>): Promise<RedisKeyError> {
  const error = await t.throwsAsync(promise)
  t.true(error instanceof RedisKeyError, String(error))
  t.is((error as RedisKeyError).code, 'ERR_SESSION_KEY')
  return error as RedisKeyError
}

test('with a key, no user, role or data value is visible in Redis, and another process with the key reads them all', async (t) => {
  const { managers: [a, b], prefix } = await managersOn(t.context.server, { key: K1 }, { key: text(K1, 'hex') })
  const session = await a.create({ user: 'alice@example.com', roles: ['auditor'], data: { cart: ['sku-secret-4711'], n: 42 } })
  t.true(await session.set('note', 'hush hush'))
  const raw = await rawDump(t.context.admin, prefix)
  for (const secret of SECRETS) t.false(raw.includes(secret), `${secret} is visible in Redis`)
  const stored = await t.context.admin.hGetAll(`${prefix}s:${session.id}`)
  t.is(stored.m, '2', 'a release reading version 1 refuses the record')
  t.false('u' in stored)
  t.is(sealedUnder(stored['e:cart']), keyIdOf(K1))
  const seen = await b.get(session.id)
  t.is(seen?.user, 'alice@example.com')
  t.deepEqual(seen?.roles, ['auditor'])
  t.deepEqual(seen?.get('cart'), ['sku-secret-4711'])
  t.is(seen?.get('n'), 42)
  t.is(seen?.get('note'), 'hush hush')
  t.true(await seen!.setUser('bob@example.com'))
  t.true(await seen!.setRoles([]))
  t.true(await seen!.delete('note'))
  const again = await a.get(session.id)
  t.is(again?.user, 'bob@example.com')
  t.deepEqual(again?.roles, [])
  t.deepEqual(again?.keys().sort(), ['cart', 'n'])
  t.false((await rawDump(t.context.admin, prefix)).includes('bob@example.com'))
})

test('a value moved to another session or another field, or a whole record copied to another id, is refused by name', async (t) => {
  const { managers: [a, b], prefix } = await managersOn(t.context.server, { key: K1 }, { key: K1 })
  const { admin } = t.context
  const victim = await a.create({ user: 'admin@example.com', roles: ['admin'], data: { cart: 'victim cart', theme: 'dark' } })
  const attacker = await a.create({ user: 'mallory', data: { cart: 'own cart', theme: 'light' } })
  const victimKey = `${prefix}s:${victim.id}`
  const attackerKey = `${prefix}s:${attacker.id}`
  const victimFields = await admin.hGetAll(victimKey)

  await admin.hSet(attackerKey, 'e:cart', victimFields['e:cart'])
  const moved = await rejection(t, b.get(attacker.id))
  t.is(moved.reason, 'not-authentic')
  t.is(moved.field, 'e:cart')
  t.is(moved.sessionId, attacker.id)

  await admin.hSet(victimKey, 'e:theme', victimFields['e:cart'])
  t.is((await rejection(t, b.get(victim.id))).field, 'e:theme')
  await admin.hSet(victimKey, 'e:theme', victimFields['e:theme'])
  t.is((await b.get(victim.id))?.get('theme'), 'dark')

  // The attacker's own session (a cookie the server signed) made to hold the victim's whole record.
  await admin.del(attackerKey)
  await admin.hSet(attackerKey, victimFields)
  const copied = await rejection(t, b.get(attacker.id))
  t.is(copied.reason, 'not-authentic')

  const fresh = await a.create({ user: 'eve' })
  await admin.hSet(`${prefix}s:${fresh.id}`, 'U', victimFields.U)
  t.is((await rejection(t, b.get(fresh.id))).field, 'U')

  // A plain user or value added to a sealed record (an anonymous session made an admin).
  const anonymous = await a.create()
  await admin.hSet(`${prefix}s:${anonymous.id}`, 'u', 'admin@example.com')
  const planted = await rejection(t, b.get(anonymous.id))
  t.deepEqual([planted.field, planted.reason], ['u', 'not-authentic'])
  await admin.hDel(`${prefix}s:${anonymous.id}`, 'u')
  await admin.hSet(`${prefix}s:${anonymous.id}`, 'd:role', 'admin')
  t.is((await rejection(t, b.get(anonymous.id))).field, 'd:role')
})

test('a record sealed under a key not given is a named error with the key id; without any key too', async (t) => {
  const { managers: [a, other, keyless] } = await managersOn(t.context.server, { key: K1 }, { key: K2 }, {})
  const session = await a.create({ user: 'alice', data: { cart: 'x' } })
  const unknown = await rejection(t, other.get(session.id))
  t.is(unknown.reason, 'unknown-key')
  t.is(unknown.keyId, keyIdOf(K1).toString(16).padStart(8, '0'))
  t.regex(unknown.message, /not given in options\.key \(key id [0-9a-f]{8}\)/)
  const none = await rejection(t, keyless.get(session.id))
  t.is(none.reason, 'no-key')
  // The refused record is left as it was: the right key still reads it.
  t.is((await a.peek(session.id))?.get('cart'), 'x')
})

test('key rotation: the first key seals, every key opens, and a record read from Redis is sealed again under the first', async (t) => {
  const { managers: [old, rotated, only2, only1], prefix } = await managersOn(
    t.context.server, { key: K1 }, { key: [K2, K1] }, { key: K2 }, { key: text(K1, 'base64url') },
  )
  const { admin } = t.context
  const session = await old.create({ user: 'alice@example.com', roles: ['auditor'], data: { cart: 'c', n: 1 } })
  const key = `${prefix}s:${session.id}`
  const before = await admin.hGetAll(key)
  t.is(sealedUnder(before.U), keyIdOf(K1))
  const [oldSet] = await admin.keys(`${prefix}uh:*`)
  t.deepEqual(await admin.sMembers(oldSet), [session.id])

  const seen = await rotated.get(session.id)
  t.is(seen?.user, 'alice@example.com')
  t.is(seen?.get('cart'), 'c')
  const after = await admin.hGetAll(key)
  for (const field of ['U', 'R', 'e:cart', 'e:n']) t.is(sealedUnder(after[field]), keyIdOf(K2), field)
  t.is(after.c, before.c)
  t.not(after.h, before.h)
  t.deepEqual(await admin.sMembers(`${prefix}uh:${after.h}`), [session.id])
  t.deepEqual(await admin.sMembers(oldSet), [])

  t.deepEqual((await only2.get(session.id))?.roles, ['auditor'])
  t.is((await rejection(t, only1.get(session.id))).reason, 'unknown-key')
  // A new record of the rotated manager is sealed under the first key only.
  const made = await rotated.create({ data: { k: 'v' } })
  t.is(sealedUnder(await admin.hGet(`${prefix}s:${made.id}`, 'e:k')), keyIdOf(K2))
})

test('records written without a key are read by a manager with one and sealed on that read; both kinds coexist', async (t) => {
  const { managers: [plain, sealed], prefix } = await managersOn(t.context.server, {}, { key: K1 })
  const { admin } = t.context
  const old = await plain.create({ user: 'alice@example.com', roles: ['auditor'], data: { cart: 'sku-secret-4711' } })
  t.is(await admin.hGet(`${prefix}s:${old.id}`, 'u'), 'alice@example.com')
  t.deepEqual(await admin.sMembers(`${prefix}u:alice@example.com`), [old.id])
  const fresh = await sealed.create({ user: 'carol', data: { cart: 'hush hush' } })

  const seen = await sealed.get(old.id)
  t.is(seen?.user, 'alice@example.com')
  t.deepEqual(seen?.roles, ['auditor'])
  t.is(seen?.get('cart'), 'sku-secret-4711')
  const raw = await rawDump(admin, prefix)
  for (const secret of SECRETS) t.false(raw.includes(secret), `${secret} is still visible`)
  const stored = await admin.hGetAll(`${prefix}s:${old.id}`)
  t.is(stored.m, '2')
  t.deepEqual(await admin.sMembers(`${prefix}uh:${stored.h}`), [old.id])
  t.is((await sealed.get(fresh.id))?.get('cart'), 'hush hush')

  // A copy loaded by the manager without a key before the record was sealed cannot write plain values into it.
  const stale = await plain.peek(old.id)
  t.true(stale !== undefined)
  const other = await plain.create({ data: { k: 'plain' } })
  const staleCopy = await plain.peek(other.id)
  await sealed.get(other.id)
  const refused = await rejection(t, staleCopy!.set('k', 'plain again'))
  t.deepEqual([refused.reason, refused.field], ['no-key', 'd:k'])
  t.is((await sealed.peek(other.id))?.get('k'), 'plain')
})

test('a manager with a key writing into a record still holding plain values seals it first', async (t) => {
  const { managers: [plain, sealed], prefix } = await managersOn(t.context.server, {}, { key: K1, touchInterval: 60_000 })
  const session = await plain.create({ user: 'alice@example.com', data: { cart: 'sku-secret-4711' } })
  const copy = await sealed.get(session.id)
  // Plain values written after the copy was loaded and sealed (by a process without the key).
  await t.context.admin.hSet(`${prefix}s:${session.id}`, { m: '1', u: 'alice@example.com' })
  await t.context.admin.hDel(`${prefix}s:${session.id}`, ['U', 'h'])
  t.true(await copy!.set('note', 'hush hush'))
  const raw = await rawDump(t.context.admin, prefix)
  for (const secret of SECRETS) t.false(raw.includes(secret), `${secret} is visible`)
  const seen = await sealed.peek(session.id)
  t.deepEqual([seen?.user, seen?.get('cart'), seen?.get('note')], ['alice@example.com', 'sku-secret-4711', 'hush hush'])
})

test('regenerate with a key: values are sealed again for the new id, including values another process wrote after this copy was loaded', async (t) => {
  const { managers: [a, b], prefix } = await managersOn(t.context.server, { key: K1 }, { key: K1 })
  const session = await a.create({ user: 'alice', data: { cart: 'c' } })
  const copy = await b.get(session.id)
  t.true(await session.set('late', 'written after the copy'))
  const oldId = copy!.id
  const newId = await copy!.regenerate()
  t.is(typeof newId, 'string')
  t.is(await a.get(oldId), undefined)
  const moved = await a.get(newId!)
  t.is(moved?.user, 'alice')
  t.is(moved?.get('cart'), 'c')
  t.is(moved?.get('late'), 'written after the copy')
  t.deepEqual(await t.context.admin.sMembers(`${prefix}uh:${await t.context.admin.hGet(`${prefix}s:${newId}`, 'h')}`), [newId])
})

test('expiry with a key: the close event reads the sealed user and data', async (t) => {
  const { managers: [a] } = await managersOn(t.context.server, { key: K1, idleTimeout: 200, touchInterval: 10 })
  const closed = new Promise<[string | undefined, unknown]>((resolve) => {
    a.once('close', (session) => resolve([session.user, session.get('cart')]))
  })
  await a.create({ user: 'alice', data: { cart: 'c' } })
  t.deepEqual(await closed, ['alice', 'c'])
})

test('the key option is checked as persist.key is, and SessionkeeperStore in Redis mode takes it too', async (t) => {
  const client = t.context.server.client()
  t.throws(() => new RedisSessionManager({ client, key: 'short' }), { instanceOf: RangeError, message: /options\.key/ })
  t.throws(() => new RedisSessionManager({ client, key: 5 as never }), { instanceOf: TypeError, message: /options\.key/ })
  t.throws(() => new RedisSessionManager({ client, key: [] }), { instanceOf: RangeError, message: /options\.key/ })
  t.throws(() => new RedisSessionManager({ client, key: [K1, new Uint8Array(31)] }), { instanceOf: RangeError, message: /options\.key\[1\]/ })
  t.throws(() => new SessionkeeperStore({ key: K1 }), { instanceOf: TypeError, message: /options\.key needs options\.redis/ })

  const prefix = `st-${randomUUID()}:`
  const store = new SessionkeeperStore({ redis: t.context.server.client(), prefix, key: [K1] })
  t.teardown(() => store.close())
  const sess = { cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString() }, user: 'alice@example.com' }
  await new Promise<void>((resolve, reject) => store.set('sid-1', sess as never, (error) => (error ? reject(error) : resolve())))
  t.false((await rawDump(t.context.admin, `${prefix}1:`)).includes('alice@example.com'))
  const read = await new Promise<unknown>((resolve, reject) => store.get('sid-1', (error, value) => (error ? reject(error) : resolve(value))))
  t.is((read as { user: string }).user, 'alice@example.com')
})

test("a refused write's status is not taken for Redis's time: sessions past their deadline stay closed", async (t) => {
  const { managers: [plain, sealed] } = await managersOn(t.context.server, {}, { key: K1 })
  const short = await plain.create({ idleTimeout: 150 })
  const other = await plain.create({ data: { k: 'plain' } })
  const staleCopy = await plain.peek(other.id)
  await sealed.get(other.id)
  const deadline = short.expiresAt
  for (let tries = 0; tries < 400; tries++) {
    const [seconds, micros] = await t.context.admin.time() as unknown as [string, string]
    if (Number(seconds) * 1000 + Number(micros) / 1000 > deadline + 5) break
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  await rejection(t, staleCopy!.set('k', 'plain again'))
  t.true(short.closed, 'the status 5 of the refused write was read as the time 5 ms after 1970')
})
