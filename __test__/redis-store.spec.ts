import anyTest, { type TestFn } from 'ava'
import { RedisStore } from 'connect-redis'
import express from 'express'
import session from 'express-session'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import Fastify from 'fastify'
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { RedisServer } from './redis-fixtures'
import { until } from './redis-spec'
import { aboutAMonth, listen, MONTH, racingApp, sidOf } from './store-race-app'
import { racingFastify } from './store-race-fastify-app'

declare module 'fastify' {
  interface Session {
    user?: string
  }
}

const test = anyTest as TestFn<{ server: RedisServer }>
const SECRET = 'a secret of at least thirty-two characters'
const cleanups: (() => Promise<unknown> | unknown)[] = []

test.before(async (t) => {
  t.context.server = await RedisServer.start()
})

test.after.always(async (t) => {
  await Promise.allSettled(cleanups.map((cleanup) => cleanup()))
  await t.context.server?.stop()
})

async function serve(store: session.Store): Promise<string> {
  const app = express()
  app.use(session({ store, secret: SECRET, resave: false, saveUninitialized: false, cookie: { maxAge: 60_000 } }))
  app.post('/login', (req, res) => {
    ;(req.session as unknown as Record<string, unknown>).user = 'ann'
    res.json({ ok: true })
  })
  app.get('/count', (req, res) => {
    const data = req.session as unknown as Record<string, number | string | undefined>
    data.count = Number(data.count ?? 0) + 1
    res.json({ count: data.count, user: data.user ?? null })
  })
  app.get('/whoami', (req, res) => {
    res.json({ user: (req.session as unknown as Record<string, unknown>).user ?? null })
  })
  app.post('/logout', (req, res, next) => {
    req.session.destroy((error) => (error ? next(error) : res.json({ ok: true })))
  })
  app.use((error: { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(503).json({ code: error.code ?? null })
  })
  const server: Server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  cleanups.push(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(resolve))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function call(base: string, method: string, path: string, cookie: string) {
  const response = await fetch(base + path, { method, headers: cookie === '' ? {} : { cookie } })
  const setCookie = response.headers.get('set-cookie')
  return { status: response.status, body: (await response.json()) as Record<string, any>, cookie: setCookie === null ? cookie : setCookie.split(';')[0] }
}

function redisStore(server: RedisServer, prefix: string, extra: Record<string, unknown> = {}): SessionkeeperStore {
  const store = new SessionkeeperStore({ redis: server.client(), prefix, ...extra })
  cleanups.push(() => store.close())
  return store
}

test('Redis mode: express-session sessions are shared by two processes, logout included', async (t) => {
  const prefix = `s-${randomUUID()}:`
  const a = await serve(redisStore(t.context.server, prefix))
  const b = await serve(redisStore(t.context.server, prefix))
  const login = await call(a, 'POST', '/login', '')
  let cookie = login.cookie
  t.truthy(cookie)
  for (let round = 1; round <= 6; round++) {
    const reply = await call(round % 2 === 0 ? a : b, 'GET', '/count', cookie)
    t.is(reply.body.count, round)
    t.is(reply.body.user, 'ann')
    cookie = reply.cookie
  }
  await call(b, 'POST', '/logout', cookie)
  t.is((await call(a, 'GET', '/whoami', cookie)).body.user, null)
})

test('Redis mode: reads come from the near cache and touches are coalesced', async (t) => {
  const prefix = `s-${randomUUID()}:`
  const store = redisStore(t.context.server, prefix)
  const base = await serve(store)
  const { cookie } = await call(base, 'POST', '/login', '')
  for (let round = 0; round < 20; round++) t.is((await call(base, 'GET', '/whoami', cookie)).body.user, 'ann')
  const stats = store.redisManager?.stats()
  t.true((stats?.nearCache.hits ?? 0) >= 19)
  t.true((stats?.nearCache.misses ?? 99) <= 2)
})

test('switching from connect-redis logs no one out: its record moves over on first read', async (t) => {
  const client = t.context.server.client()
  await client.connect()
  const old = await serve(new RedisStore({ client }))
  const { cookie } = await call(old, 'POST', '/login', '')
  const sid = decodeURIComponent(cookie.split('=')[1]).slice(2).split('.')[0]
  t.truthy(await client.get(`sess:${sid}`))
  const prefix = `s-${randomUUID()}:`
  const store = redisStore(t.context.server, prefix, { migrateConnectRedis: true })
  const next = await serve(store)
  t.is((await call(next, 'GET', '/whoami', cookie)).body.user, 'ann')
  t.is(await client.get(`sess:${sid}`), null)
  const moved = await client.hGet(`${prefix}1:s:${sid}`, 'd:express-session')
  t.is(JSON.parse(moved as string).user, 'ann')
  const ttl = await client.pTTL(`${prefix}1:s:${sid}`)
  t.true(ttl > 0)
  t.is((await call(next, 'GET', '/count', cookie)).body.count, 1)
  t.is((await call(next, 'GET', '/count', cookie)).body.user, 'ann')
})

test('Redis mode: when Redis is unreachable the store reports a named error, and it recovers', async (t) => {
  const server = await RedisServer.start()
  cleanups.push(() => server.stop())
  const store = new SessionkeeperStore({ redis: server.client(), prefix: `s-${randomUUID()}:` })
  cleanups.push(() => store.close())
  const base = await serve(store)
  const { cookie } = await call(base, 'POST', '/login', '')
  await server.kill()
  const down = await call(base, 'GET', '/whoami', cookie)
  t.is(down.status, 503)
  t.is(down.body.code, 'ERR_REDIS_UNAVAILABLE')
  await server.restart()
  // The server kept nothing (no AOF here): once Redis answers, the cookie names no session.
  let status = 0
  for (let attempt = 0; attempt < 200 && status !== 200; attempt++) {
    status = (await call(base, 'GET', '/whoami', cookie)).status
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.is(status, 200)
  const again = await call(base, 'POST', '/login', '')
  t.is((await call(base, 'GET', '/whoami', again.cookie)).body.user, 'ann')
})

test('Redis mode under @fastify/session: two apps share sessions; regenerate and logout reach both', async (t) => {
  const prefix = `s-${randomUUID()}:`
  const bases: string[] = []
  for (let index = 0; index < 2; index++) {
    const app = Fastify()
    await app.register(fastifyCookie)
    await app.register(fastifySession, { secret: SECRET, store: redisStore(t.context.server, prefix), saveUninitialized: false, cookie: { secure: false, maxAge: 60_000 } })
    app.post('/login', async (request) => {
      request.session.set('user', 'ann')
      return { ok: true }
    })
    app.get('/whoami', async (request) => ({ user: request.session.get('user') ?? null }))
    app.post('/regenerate', async (request) => {
      await request.session.regenerate()
      request.session.set('user', 'ann')
      return { ok: true }
    })
    app.post('/logout', async (request) => {
      await request.session.destroy()
      return { ok: true }
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    cleanups.push(() => app.close())
    bases.push(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`)
  }
  const [a, b] = bases
  const login = await call(a, 'POST', '/login', '')
  t.regex(login.cookie, /^sessionId=/)
  t.is((await call(b, 'GET', '/whoami', login.cookie)).body.user, 'ann')
  const moved = await call(b, 'POST', '/regenerate', login.cookie)
  t.not(moved.cookie, login.cookie)
  t.is((await call(a, 'GET', '/whoami', login.cookie)).body.user, null)
  t.is((await call(a, 'GET', '/whoami', moved.cookie)).body.user, 'ann')
  await call(a, 'POST', '/logout', moved.cookie)
  t.is((await call(b, 'GET', '/whoami', moved.cookie)).body.user, null)
})

/** racingApp over a Redis-mode store, served; its base and its store's hold. */
async function racing(server: RedisServer, prefix: string) {
  const app = racingApp(redisStore(server, prefix))
  const { base, server: http } = await listen(app.app)
  cleanups.push(() => {
    http.closeAllConnections()
    return new Promise((resolve) => http.close(resolve))
  })
  return { base, hold: (cookie: string, name: string, query = '') => app.hold(base, cookie, name, query) }
}

test('Redis mode: overlapping requests of one session keep each other\'s changes, in one process and across two', async (t) => {
  const prefix = `s-${randomUUID()}:`
  const a = await racing(t.context.server, prefix)
  const b = await racing(t.context.server, prefix)
  const { cookie } = await call(a.base, 'POST', '/login', '')
  // One process: the second save starts before the first has had Redis's reply.
  const first = await a.hold(cookie, 'theme')
  const second = await a.hold(cookie, 'cart', '?delete')
  const both = Promise.all([first.release(), second.release()])
  t.deepEqual(await both, [200, 200])
  t.deepEqual((await call(a.base, 'GET', '/whoami', cookie)).body, { user: 'ann', theme: 'set by theme' })
  // Two processes: A's request loaded the session before B's saved; A saves once it has B's change.
  const slow = await a.hold(cookie, 'locale')
  t.is(await (await b.hold(cookie, 'theme', '?delete')).release(), 200)
  await until('A sees B\'s change', async () => (await call(a.base, 'GET', '/whoami', cookie)).body.theme === undefined)
  t.is(await slow.release(), 200)
  t.deepEqual((await call(b.base, 'GET', '/whoami', cookie)).body, { user: 'ann', locale: 'set by locale' })
})

test('Redis mode under @fastify/session: overlapping requests keep each other\'s changes, in one process and across two; a logout stays', async (t) => {
  const prefix = `s-${randomUUID()}:`
  const [a, b] = await Promise.all([0, 1].map(async () => {
    const app = await racingFastify(redisStore(t.context.server, prefix))
    cleanups.push(() => app.close())
    return app
  }))
  const { cookie } = await call(a.base, 'POST', '/login', '')
  await call(a.base, 'GET', '/whoami', cookie)
  // One process: the saves overlap, and the one that changed nothing (rolling) saves last.
  const first = await a.hold(cookie, 'theme')
  const second = await a.hold(cookie, 'cart', '?delete')
  const reader = await a.hold(cookie, 'nothing', '?read')
  t.deepEqual(await Promise.all([first.release(), second.release()]), [200, 200])
  t.is(await reader.release(), 200)
  t.deepEqual((await call(a.base, 'GET', '/whoami', cookie)).body, { user: 'ann', theme: 'set by theme' })
  // Two processes: A's request loaded the session before B's saved; A saves once it has B's change.
  await call(b.base, 'GET', '/whoami', cookie)
  const slow = await a.hold(cookie, 'locale')
  t.is(await (await b.hold(cookie, 'theme', '?delete')).release(), 200)
  await until('A sees B\'s change', async () => (await call(a.base, 'GET', '/whoami', cookie)).body.theme === undefined)
  t.is(await slow.release(), 200)
  t.deepEqual((await call(b.base, 'GET', '/whoami', cookie)).body, { user: 'ann', locale: 'set by locale' })
  // A logout in B, and a request A loaded before it: the session stays ended in both.
  const late = await a.hold(cookie, 'theme')
  t.is((await call(b.base, 'POST', '/logout', cookie)).status, 200)
  t.is(await late.release(), 200)
  t.deepEqual((await call(a.base, 'GET', '/whoami', cookie)).body, {})
  t.deepEqual((await call(b.base, 'GET', '/whoami', cookie)).body, {})
})

test('Redis mode: a "remember me" stays when a slow request saves after a page view read the session (rolling: false)', async (t) => {
  const store = redisStore(t.context.server, `s-${randomUUID()}:`)
  const racing = await racingFastify(store, { rolling: false, cookie: {} })
  cleanups.push(() => racing.close())
  const { cookie } = await call(racing.base, 'POST', '/login', '')
  const slow = await racing.hold(cookie, 'upload')
  t.is((await call(racing.base, 'POST', '/remember', cookie)).status, 200)
  await call(racing.base, 'GET', '/whoami', cookie)
  t.is(await slow.release(), 200)
  const sessions = await new Promise<Record<string, { cookie?: { originalMaxAge?: number | null }; upload?: string }>>((resolve, reject) =>
    store.all((error, all) => (error ? reject(error) : resolve(all as never))))
  const [record] = Object.values(sessions)
  t.is(record.upload, 'set by upload')
  t.true(aboutAMonth(record.cookie?.originalMaxAge), `the "remember me" stays (originalMaxAge ${record.cookie?.originalMaxAge})`)
})

test('Redis mode: a logout in one process is not undone by a request another process loaded before it', async (t) => {
  const prefix = `s-${randomUUID()}:`
  const a = await racing(t.context.server, prefix)
  const b = await racing(t.context.server, prefix)
  const { cookie } = await call(a.base, 'POST', '/login', '')
  const slow = await a.hold(cookie, 'theme')
  t.is((await call(b.base, 'POST', '/logout', cookie)).status, 200)
  t.is(await slow.release(), 200)
  t.deepEqual((await call(a.base, 'GET', '/whoami', cookie)).body, {})
  t.deepEqual((await call(b.base, 'GET', '/whoami', cookie)).body, {})
})

test('Redis mode: a "remember me" keeps its 30 days when an overlapping request saves a change after it', async (t) => {
  const store = redisStore(t.context.server, `s-${randomUUID()}:`, { ttl: 60_000 })
  const app = racingApp(store, {})
  const { base, server: http } = await listen(app.app)
  cleanups.push(() => {
    http.closeAllConnections()
    return new Promise((resolve) => http.close(resolve))
  })
  const login = await call(base, 'POST', '/login', '')
  const slow = await app.hold(base, login.cookie, 'theme')
  t.is((await call(base, 'POST', '/remember', login.cookie)).status, 200)
  t.is(await slow.release(), 200)
  const found = (await store.redisManager!.peek(sidOf(login.cookie)))!
  const stored = JSON.parse(found.get('express-session') as string) as Record<string, any>
  t.true(aboutAMonth(stored.cookie.originalMaxAge), `the stored record keeps the remember-me cookie (originalMaxAge ${stored.cookie.originalMaxAge})`)
  t.is(stored.theme, 'set by theme')
  t.true(found.expiresAt > Date.now() + MONTH - 60_000, `deadline in ${Math.round((found.expiresAt - Date.now()) / 1000)} s, the stored cookie's in 30 days`)
})

test('Redis mode: a save merges with another process\'s save whose invalidation has not arrived yet', async (t) => {
  const prefix = `s-${randomUUID()}:`
  const a = await racing(t.context.server, prefix)
  const { cookie } = await call(a.base, 'POST', '/login', '')
  const slow = await a.hold(cookie, 'locale')
  // Another process's save, as its write script leaves it (the record, and its data version one
  // higher), with the invalidation it publishes still on its way: A's near cache holds the copy
  // its request loaded.
  const raw = t.context.server.client()
  await raw.connect()
  cleanups.push(() => raw.quit().catch(() => {}))
  const key = `${prefix}1:s:${sidOf(cookie)}`
  const before = JSON.parse((await raw.hGet(key, 'd:express-session'))!) as Record<string, unknown>
  await raw.hSet(key, 'd:express-session', JSON.stringify({ ...before, theme: 'set elsewhere' }))
  await raw.hIncrBy(key, 'w', 1)
  t.is(await slow.release(), 200)
  const stored = JSON.parse((await raw.hGet(key, 'd:express-session'))!) as Record<string, unknown>
  t.is(stored.theme, 'set elsewhere', 'the other process\'s change stays')
  t.is(stored.locale, 'set by locale', 'and this request\'s goes in')
  t.is(stored.user, 'ann')
})

test('Redis mode: an active user with a cookie shorter than touchInterval (rolling) stays logged in', async (t) => {
  // The store's default ttl is a day, so its touchInterval is a minute; the cookie lives 6 s.
  const store = redisStore(t.context.server, `s-${randomUUID()}:`)
  const app = express()
  app.use(session({ store, secret: SECRET, resave: false, saveUninitialized: false, rolling: true, cookie: { maxAge: 6000 } }))
  app.post('/login', (req, res) => {
    ;(req.session as unknown as Record<string, unknown>).user = 'ann'
    res.json({ ok: true })
  })
  app.get('/whoami', (req, res) => res.json({ user: (req.session as unknown as Record<string, unknown>).user ?? null }))
  const { base, server: http } = await listen(app)
  cleanups.push(() => {
    http.closeAllConnections()
    return new Promise((resolve) => http.close(resolve))
  })
  let { cookie } = await call(base, 'POST', '/login', '')
  const seen: unknown[] = []
  // Page views a second apart for 8 s, each well within the cookie's 6 s of the one before.
  for (let view = 0; view < 8; view++) {
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const reply = await call(base, 'GET', '/whoami', cookie)
    cookie = reply.cookie
    seen.push(reply.body.user)
  }
  t.deepEqual(seen, Array(8).fill('ann'))
})
