/**
 * A Redis at its memory limit: what still works under noeviction, and the warning for a policy
 * that may evict what the sessions need.
 */
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import express from 'express'
import session from 'express-session'
import Fastify from 'fastify'
import { randomBytes, randomUUID } from 'node:crypto'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { ErrorReply, SimpleError } from 'redis'
import { RedisUnavailableError } from '../ts/redis/index'
import { type RedisContext, redisSpec } from './redis-spec'

const { test, group, managersOn } = redisSpec({ resolution: 50 })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function warningsOf(code: string): { list: Error[]; stop: () => void } {
  const list: Error[] = []
  const onWarning = (warning: Error & { code?: string }) => {
    if (warning.code === code) list.push(warning)
  }
  process.on('warning', onWarning)
  return { list, stop: () => process.off('warning', onWarning) }
}

/** Runs `body` with Redis at maxmemory under noeviction (every write that may grow memory refused). */
async function whileFull<T>(admin: RedisContext['admin'], body: () => Promise<T>): Promise<T> {
  await admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  try {
    return await body()
  } finally {
    await admin.configSet({ maxmemory: '0' })
  }
}

/** GET /whoami with `cookie`: the status and the user the app answered (the body when not JSON). */
async function whoami(base: string, cookie: string): Promise<{ status: number; user: unknown }> {
  const response = await fetch(base + '/whoami', { headers: { cookie } })
  const body = await response.text()
  try {
    return { status: response.status, user: (JSON.parse(body) as { user: unknown }).user }
  } catch {
    return { status: response.status, user: body }
  }
}

/**
 * An express app over `store` (its error handler collects what express-session passes to next()):
 * POST /login sets the user 'ann', GET /whoami reads it.
 */
async function expressApp(t: { teardown: (fn: () => unknown) => void }, store: SessionkeeperStore, resave: boolean) {
  const app = express()
  app.use(session({ store, secret: 'a secret of at least thirty-two characters', resave, saveUninitialized: false, cookie: { maxAge: 60_000 } }))
  app.post('/login', (req, res) => {
    ;(req.session as unknown as Record<string, unknown>).user = 'ann'
    res.json({ ok: true })
  })
  app.get('/whoami', (req, res) => {
    res.json({ user: (req.session as unknown as Record<string, unknown>).user ?? null })
  })
  const passedOn: unknown[] = []
  app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    passedOn.push(error)
    if (!res.headersSent) res.status(503).json({ error: error.name })
  })
  const server: Server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, passedOn }
}

/**
 * A Fastify app with @fastify/session over `store` (rolling, its default; cookies of `maxAge`),
 * and the cookie of a session it logged in as 'bea' (GET /whoami reads the user).
 */
async function fastifyLoggedIn(t: { teardown: (fn: () => unknown) => void }, store: SessionkeeperStore, maxAge: number) {
  const fastify = Fastify()
  await fastify.register(fastifyCookie)
  await fastify.register(fastifySession, { secret: 'a secret of at least thirty-two characters', store, saveUninitialized: false, cookie: { secure: false, maxAge } })
  fastify.post('/login', async (request) => {
    ;(request.session as unknown as { set: (key: string, value: unknown) => void }).set('user', 'bea')
    return { ok: true }
  })
  fastify.get('/whoami', async (request) => ({ user: (request.session as unknown as { get: (key: string) => unknown }).get('user') ?? null }))
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => fastify.close())
  const base = `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`
  const login = await fetch(base + '/login', { method: 'POST' })
  await login.text()
  return { base, cookie: login.headers.get('set-cookie')!.split(';')[0]! }
}

test.serial('at maxmemory under noeviction gets and touches still renew: a renewal grows nothing', async (t) => {
  const { managers: [a, b] } = await group(t.context.server, 2, { idleTimeout: 60_000, touchInterval: 10 })
  const session = await a.create({ user: 'alice', data: { cart: 3 } })
  const createdActivity = session.lastActivity
  await sleep(50) // a renewal is due
  await t.context.admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  try {
    const got = await b.get(session.id)
    t.is(got?.get('cart'), 3)
    t.true(got!.lastActivity > createdActivity, 'renewed')
    await sleep(20)
    const before = got!.lastActivity
    t.true(await got!.touch())
    t.true(got!.lastActivity > before, 'touched')
    t.true(await got!.setIdleTimeout(120_000), 'a change of timeout grows nothing either')
  } finally {
    await t.context.admin.configSet({ maxmemory: '0' })
  }
  t.is((await a.peek(session.id))?.idleTimeout, 120_000)
})

test.serial('a create refused at maxmemory keeps the near cache of its process: Redis answered, nothing ran', async (t) => {
  const { managers: [a] } = await group(t.context.server, 1, { idleTimeout: 60_000 })
  const other = await a.create({ data: { v: 1 } })
  await a.get(other.id)
  const hits = a.stats().nearCache.hits
  t.truthy(await a.get(other.id))
  t.is(a.stats().nearCache.hits, hits + 1, 'a holds a copy of another session')
  const flushes = a.stats().nearCache.flushes
  await t.context.admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  try {
    const refused = await t.throwsAsync(a.create({ data: { big: 'x'.repeat(100) } }), { instanceOf: RedisUnavailableError })
    t.regex(String((refused?.cause as Error | undefined)?.message), /^OOM/)
    t.is(a.stats().nearCache.flushes, flushes)
    t.truthy(await a.get(other.id))
    t.is(a.stats().nearCache.hits, hits + 2, 'still served from the near cache')
  } finally {
    await t.context.admin.configSet({ maxmemory: '0' })
  }
})

test.serial('at maxmemory under noeviction what grows memory is refused whole, and what frees it runs', async (t) => {
  const { managers: [a, b], prefix } = await group(t.context.server, 2, { idleTimeout: 60_000 })
  const admin = t.context.admin
  const closed: string[] = []
  for (const manager of [a, b]) manager.on('close', (session, reason) => closed.push(`${session.id}:${reason}`))
  const kept = await a.create({ user: 'alice', data: { cart: 3, note: 'x' } })
  const other = await a.create({ user: 'alice' })
  const third = await a.create({ user: 'bob' })
  const expiring = await a.create({ idleTimeout: 100 })
  const keysBefore = await admin.dbSize()
  await admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  try {
    const oom = { instanceOf: RedisUnavailableError }
    await t.throwsAsync(a.create({ user: 'alice' }), oom, 'a create')
    await t.throwsAsync(kept.set('cart', 1000), oom, 'a write of a longer value')
    await t.throwsAsync(kept.set('new', 1), oom, 'a write of a new key')
    t.is(await admin.dbSize(), keysBefore, 'the refused calls left nothing behind')
    t.is((await b.peek(kept.id))?.get('cart'), 3)

    t.true(await kept.delete('note'), 'a write that only deletes runs')
    const oldId = kept.id
    t.truthy(await kept.regenerate(), 'a regenerate runs (it moves the record)')
    t.is(await b.peek(oldId), undefined)
    t.true(await third.close(), 'a destroy runs')
    await sleep(150)
    await a.sweep() // if the background sweep has not closed it already
    await b.sweep()
    t.is(await a.closeUser('alice', { except: kept }), 1, 'closeUser runs')
    t.deepEqual(closed.sort(), [`${third.id}:destroyed`, `${expiring.id}:expired`, `${other.id}:destroyed`].sort())
    t.is(await admin.exists(`${prefix}s:${expiring.id}`), 0)
  } finally {
    await admin.configSet({ maxmemory: '0' })
  }
  t.is((await b.get(kept.id))?.get('note'), undefined)
  await kept.set('cart', 4)
  t.is((await b.get(kept.id))?.get('cart'), 4, 'writes go through once Redis has room')
})

test.serial('a write that must seal a plain record first, at maxmemory, says Redis is full', async (t) => {
  const { managers: [plain, sealed] } = await managersOn(t.context.server, [{}, { key: new Uint8Array(randomBytes(32)) }])
  const written = await plain.create({ data: { cart: 1, note: 'x' } }) // by a process without the key
  await t.context.admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  const { unavailable } = sealed.stats()
  const loaded = await sealed.peek(written.id) // its sealing refused: the record stays plain
  try {
    t.is(sealed.stats().unavailable, unavailable, 'the read succeeded: its refused sealing is no call rejected')
    const refused = await t.throwsAsync(loaded!.set('cart', 2), { instanceOf: RedisUnavailableError })
    t.regex(String((refused?.cause as Error | undefined)?.message), /^OOM/, 'not "its values changed during each attempt"')
    t.is(sealed.stats().unavailable, unavailable + 1, 'the write it refused is')
  } finally {
    await t.context.admin.configSet({ maxmemory: '0' })
  }
  t.true(await loaded!.set('cart', 2))
})

test.serial('express-session over the store at maxmemory: a request that changes nothing renews and reports no error', async (t) => {
  const store = new SessionkeeperStore({ redis: t.context.server.client(), prefix: `s-${randomUUID()}:`, touchInterval: 10 })
  t.teardown(() => store.close())
  const { base, passedOn } = await expressApp(t, store, false)
  const cookie = (await fetch(base + '/login', { method: 'POST' })).headers.get('set-cookie')!.split(';')[0]!
  await sleep(50) // the store's touch is due
  const manager = store.redisManager!
  const { unavailable } = manager.stats()
  await whileFull(t.context.admin, async () => {
    for (let index = 0; index < 3; index++) t.deepEqual(await whoami(base, cookie), { status: 200, user: 'ann' })
  })
  t.deepEqual(passedOn.map(String), [], 'no error passed to next()')
  t.is(manager.stats().unavailable, unavailable, 'no call rejected')
})

test.serial('the store at maxmemory reads a connect-redis session it cannot move over yet, and moves it later', async (t) => {
  const store = new SessionkeeperStore({ redis: t.context.server.client(), prefix: `s-${randomUUID()}:`, migrateConnectRedis: true })
  t.teardown(() => store.close())
  const sid = randomUUID()
  await t.context.admin.set(`sess:${sid}`, JSON.stringify({ cookie: { originalMaxAge: 60_000 }, user: 'ann' }), { PX: 60_000 })
  const read = () => new Promise<{ error: unknown; session: unknown }>((resolve) => store.get(sid, (error, found) => resolve({ error, session: found })))
  await t.context.admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  let full: { error: unknown; session: unknown }
  try {
    full = await read()
  } finally {
    await t.context.admin.configSet({ maxmemory: '0' })
  }
  t.falsy(full.error)
  t.is((full.session as { user?: string } | null)?.user, 'ann')
  t.is(await t.context.admin.exists(`sess:${sid}`), 1, 'left where it was')
  const ttlBefore = await t.context.admin.pTTL(`sess:${sid}`)
  await sleep(20)
  await t.context.admin.configSet({ maxmemory: '1' })
  try {
    const touched = await new Promise<unknown>((resolve) => store.touch(sid, full.session as session.SessionData, resolve))
    t.falsy(touched)
  } finally {
    await t.context.admin.configSet({ maxmemory: '0' })
  }
  t.true(await t.context.admin.pTTL(`sess:${sid}`) > ttlBefore, 'and renewed there by a touch')
  t.is(((await read()).session as { user?: string } | null)?.user, 'ann')
  t.is(await t.context.admin.exists(`sess:${sid}`), 0, 'moved over once Redis has room')
})

/** Renders a node-redis build as a minifier leaves it: its error classes renamed. */
function minifiedClient(t: { teardown: (fn: () => void) => void }): void {
  Object.defineProperty(ErrorReply, 'name', { value: 's', configurable: true })
  Object.defineProperty(SimpleError, 'name', { value: 'h', configurable: true })
  t.teardown(() => {
    Object.defineProperty(ErrorReply, 'name', { value: 'ErrorReply', configurable: true })
    Object.defineProperty(SimpleError, 'name', { value: 'SimpleError', configurable: true })
  })
}

test.serial('in a minified server a refusal for memory is still known as Redis’s answer: copies kept, connect-redis records read', async (t) => {
  minifiedClient(t)
  const { managers: [a] } = await group(t.context.server, 1, { idleTimeout: 60_000 })
  const other = await a.create({ data: { v: 1 } })
  await a.get(other.id)
  const flushes = a.stats().nearCache.flushes
  const store = new SessionkeeperStore({ redis: t.context.server.client(), prefix: `s-${randomUUID()}:`, migrateConnectRedis: true })
  t.teardown(() => store.close())
  const sid = randomUUID()
  await t.context.admin.set(`sess:${sid}`, JSON.stringify({ cookie: { originalMaxAge: 60_000 }, user: 'ann' }), { PX: 60_000 })
  await t.context.admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  let read: { error: unknown; session: unknown }
  try {
    await t.throwsAsync(a.create({ data: { big: 'x'.repeat(100) } }), { instanceOf: RedisUnavailableError })
    read = await new Promise((resolve) => store.get(sid, (error, found) => resolve({ error, session: found })))
  } finally {
    await t.context.admin.configSet({ maxmemory: '0' })
  }
  t.is(a.stats().nearCache.flushes, flushes)
  t.falsy(read.error)
  t.is((read.session as { user?: string } | null)?.user, 'ann')
})

test.serial('stores that save every request (express-session resave, @fastify/session rolling) keep working at maxmemory', async (t) => {
  const store = new SessionkeeperStore({ redis: t.context.server.client(), prefix: `s-${randomUUID()}:` })
  t.teardown(() => store.close())
  const { base, passedOn } = await expressApp(t, store, true)
  const login = await fetch(base + '/login', { method: 'POST' })
  await login.text()
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!
  const sid = decodeURIComponent(cookie.split('=')[1]!).slice(2).split('.')[0]!
  const before = (await store.redisManager!.peek(sid))!.expiresAt

  const { base: fastifyBase, cookie: fastifyCookieHeader } = await fastifyLoggedIn(t, store, 60_000)

  await sleep(50)
  await whileFull(t.context.admin, async () => {
    for (let index = 0; index < 3; index++) {
      t.deepEqual(await whoami(base, cookie), { status: 200, user: 'ann' })
      t.deepEqual(await whoami(fastifyBase, fastifyCookieHeader), { status: 200, user: 'bea' })
    }
    await sleep(20)
  })
  t.deepEqual(passedOn.map(String), [], 'no error passed to next()')
  t.true((await store.redisManager!.peek(sid))!.expiresAt > before, 'renewed by the saves while Redis was full')
})

test.serial('at maxmemory a store save that changes the session’s data fails; one that changes only the cookie renews', async (t) => {
  const store = new SessionkeeperStore({ redis: t.context.server.client(), prefix: `s-${randomUUID()}:` })
  t.teardown(() => store.close())
  const sid = randomUUID()
  const save = (data: session.SessionData) => new Promise<unknown>((resolve) => store.set(sid, data, resolve))
  const cookie = (expires: number) => ({ originalMaxAge: 60_000, expires: new Date(expires), httpOnly: true, path: '/' })
  t.falsy(await save({ cookie: cookie(Date.now() + 60_000), user: 'ann' } as unknown as session.SessionData))
  await t.context.admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  try {
    // A longer cookie, as @fastify/session's first rolling save adds originalExpires: refused as
    // a write, done as a renewal.
    const longer = { ...cookie(Date.now() + 90_000), originalExpires: new Date() }
    t.falsy(await save({ cookie: longer, user: 'ann' } as unknown as session.SessionData), 'the cookie only')
    const failed = await save({ cookie: cookie(Date.now() + 90_000), user: 'anna-maria' } as unknown as session.SessionData)
    t.true(failed instanceof RedisUnavailableError, 'the data: Redis’s refusal, nothing dropped silently')
  } finally {
    await t.context.admin.configSet({ maxmemory: '0' })
  }
  const stored = await new Promise<unknown>((resolve) => store.get(sid, (_error, found) => resolve(found)))
  t.is((stored as { user?: string }).user, 'ann')
  t.true((await store.redisManager!.peek(sid))!.expiresAt > Date.now() + 80_000, 'renewed to the new cookie’s expiry')
})

test.serial('@fastify/session (rolling) stays logged in while active at maxmemory for longer than its maxAge', async (t) => {
  const store = new SessionkeeperStore({ redis: t.context.server.client(), prefix: `s-${randomUUID()}:` })
  t.teardown(() => store.close())
  const { base, cookie } = await fastifyLoggedIn(t, store, 1500)
  const seen = await whileFull(t.context.admin, async () => {
    const users: unknown[] = []
    // An active user: a request every 250 ms for twice the cookie's maxAge. fastify checks the
    // stored cookie's expiry on load: a store that renewed the session in Redis but left the
    // login's expiry in the record logged the user out after 1.5 s.
    for (let index = 0; index < 12; index++) {
      const { status, user } = await whoami(base, cookie)
      users.push(status === 200 ? user : `status ${status}`)
      await sleep(250)
    }
    return users
  })
  t.deepEqual(seen, Array(12).fill('bea'))
})

test.serial('at maxmemory a cookie change the application makes (remember me) is reported, not dropped', async (t) => {
  const store = new SessionkeeperStore({ redis: t.context.server.client(), prefix: `s-${randomUUID()}:` })
  t.teardown(() => store.close())
  const sid = randomUUID()
  const hour = 3_600_000
  const cookie = (maxAge: number) => ({ originalMaxAge: maxAge, expires: new Date(Date.now() + maxAge), httpOnly: true, path: '/' })
  const save = (data: unknown) => new Promise<unknown>((resolve) => store.set(sid, data as session.SessionData, resolve))
  t.falsy(await save({ cookie: cookie(hour), user: 'ann' }))
  // req.session.cookie.maxAge = 30 days: originalMaxAge grows from 7 digits to 10.
  const failed = await whileFull(t.context.admin, () => save({ cookie: cookie(720 * hour), user: 'ann' }))
  t.true(failed instanceof RedisUnavailableError)
})

test.serial('a Redis that may evict keys at its memory limit is reported once per manager, with the policy named', async (t) => {
  const warnings = warningsOf('SESSIONKEEPER_REDIS_EVICTION_POLICY')
  try {
    await t.context.admin.configSet({ maxmemory: '1gb', 'maxmemory-policy': 'allkeys-lru' })
    const { managers: [a] } = await group(t.context.server, 1)
    await a.count() // replies come in order: the policy's has been read
    await sleep(0)
    t.is(warnings.list.length, 1)
    t.regex(warnings.list[0]!.message, /allkeys-lru/)
    t.is(warnings.list[0]!.name, 'SessionkeeperRedisWarning')

    await t.context.admin.configSet({ 'maxmemory-policy': 'noeviction' })
    const { managers: [b] } = await group(t.context.server, 1)
    await t.context.admin.configSet({ maxmemory: '0', 'maxmemory-policy': 'volatile-lru' })
    const { managers: [c] } = await group(t.context.server, 1)
    await b.count()
    await c.count()
    await sleep(0)
    t.is(warnings.list.length, 1, 'noeviction, or no memory limit, is not reported')
  } finally {
    warnings.stop()
    await t.context.admin.configSet({ maxmemory: '0', 'maxmemory-policy': 'noeviction' })
  }
})
