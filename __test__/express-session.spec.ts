import test from 'ava'
import express from 'express'
import session from 'express-session'
import Fastify from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { promisify } from 'node:util'
import { SessionManager } from '../ts/index'
import { SessionkeeperStore, type StoredSession } from '../ts/integrations/express-session'
import { FakeClock } from './helpers'

declare module 'fastify' {
  interface Session {
    user?: string
    count?: number
  }
}

const SECRET = 'a secret of at least thirty-two characters'

/** A tiny cookie jar over fetch: one cookie, as a browser would keep it. */
function client(base: string) {
  let cookie = ''
  return {
    get cookie() {
      return cookie
    },
    set cookie(value: string) {
      cookie = value
    },
    async call(method: string, path: string) {
      const response = await fetch(`${base}${path}`, { method, headers: cookie === '' ? {} : { cookie } })
      const setCookie = response.headers.get('set-cookie')
      if (setCookie !== null) cookie = setCookie.split(';')[0]
      return { status: response.status, body: (await response.json()) as Record<string, unknown> }
    },
  }
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)))
}

function expressApp(store: SessionkeeperStore, maxAge = 60_000) {
  const app = express()
  app.use(session({ store, secret: SECRET, resave: false, saveUninitialized: false, cookie: { maxAge } }))
  app.post('/login', (req, res) => {
    ;(req.session as unknown as Record<string, unknown>).user = 'ann'
    res.json({ ok: true })
  })
  app.get('/count', (req, res) => {
    const data = req.session as unknown as Record<string, number | string | undefined>
    data.count = Number(data.count ?? 0) + 1
    res.json({ count: data.count, user: data.user ?? null })
  })
  app.post('/regenerate', (req, res, next) => {
    const before = req.sessionID
    req.session.regenerate((error) => {
      if (error) return next(error)
      ;(req.session as unknown as Record<string, unknown>).user = 'ann'
      res.json({ before, after: req.sessionID })
    })
  })
  app.post('/logout', (req, res, next) => {
    req.session.destroy((error) => (error ? next(error) : res.json({ ok: true })))
  })
  return app
}

for (const engine of ['native', 'js'] as const) {
  test(`express-session over SessionkeeperStore: login, counter, regenerate, logout, concurrency [${engine}]`, async (t) => {
    const store = new SessionkeeperStore({ managerOptions: { engine } })
    const server = expressApp(store).listen(0)
    await new Promise((resolve) => server.once('listening', resolve))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const browser = client(base)
    try {
      await browser.call('POST', '/login')
      t.regex(browser.cookie, /^connect\.sid=/)
      t.deepEqual((await browser.call('GET', '/count')).body, { count: 1, user: 'ann' })
      t.deepEqual((await browser.call('GET', '/count')).body, { count: 2, user: 'ann' })
      t.is(store.manager.size, 1)

      const results = await Promise.all(Array.from({ length: 20 }, () =>
        fetch(`${base}/count`, { headers: { cookie: browser.cookie } })))
      t.true(results.every((response) => response.status === 200))
      t.is(store.manager.size, 1, 'concurrent requests share one session')

      const { body } = await browser.call('POST', '/regenerate')
      t.not(body.before, body.after)
      t.false(store.manager.has(body.before as string), 'the old id is dead')
      t.true(store.manager.has(body.after as string))

      await browser.call('POST', '/logout')
      t.is(store.manager.size, 0)
      t.deepEqual((await browser.call('GET', '/count')).body, { count: 1, user: null }, 'a fresh session after logout')
    } finally {
      await new Promise((resolve) => server.close(resolve))
      store.close()
    }
  })
}

test('express-session sessions expire with their cookie, without being read again', async (t) => {
  const clock = new FakeClock()
  const store = new SessionkeeperStore({ managerOptions: { clock: clock.read } })
  const server = expressApp(store, 1000).listen(0)
  await new Promise((resolve) => server.once('listening', resolve))
  const browser = client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  try {
    await browser.call('POST', '/login')
    t.is((await browser.call('GET', '/count')).body.count, 1)
    t.is(store.manager.size, 1)
    clock.advance(1001)
    t.is(store.manager.sweep(), 1, 'the engine expires it by itself')
    t.deepEqual((await browser.call('GET', '/count')).body, { count: 1, user: null })
  } finally {
    await new Promise((resolve) => server.close(resolve))
    store.close()
  }
})

test('@fastify/session over SessionkeeperStore: login, counter, regenerate, logout, expiry, concurrency', async (t) => {
  const clock = new FakeClock()
  const store = new SessionkeeperStore({ managerOptions: { clock: clock.read } })
  const app = Fastify()
  await app.register(fastifyCookie)
  await app.register(fastifySession, { secret: SECRET, store, saveUninitialized: false, cookie: { secure: false, maxAge: 1000 } })
  app.post('/login', async (request) => {
    request.session.set('user', 'ann')
    return { ok: true }
  })
  app.get('/count', async (request) => {
    const count = Number(request.session.get('count') ?? 0) + 1
    request.session.set('count', count)
    return { count, user: request.session.get('user') ?? null }
  })
  app.post('/regenerate', async (request) => {
    const before = request.session.sessionId
    await request.session.regenerate()
    request.session.set('user', 'ann')
    return { before, after: request.session.sessionId }
  })
  app.post('/logout', async (request) => {
    await request.session.destroy()
    return { ok: true }
  })
  const base = await listen(app.server as Server)
  await app.ready()
  const browser = client(base)
  try {
    await browser.call('POST', '/login')
    t.regex(browser.cookie, /^sessionId=/)
    t.deepEqual((await browser.call('GET', '/count')).body, { count: 1, user: 'ann' })
    t.deepEqual((await browser.call('GET', '/count')).body, { count: 2, user: 'ann' })
    const results = await Promise.all(Array.from({ length: 20 }, () => fetch(`${base}/count`, { headers: { cookie: browser.cookie } })))
    t.true(results.every((response) => response.status === 200))
    t.is(store.manager.size, 1)

    const { body } = await browser.call('POST', '/regenerate')
    t.not(body.before, body.after)
    t.false(store.manager.has(body.before as string))
    t.true(store.manager.has(body.after as string))

    await browser.call('POST', '/logout')
    t.is(store.manager.size, 0)

    await browser.call('POST', '/login')
    t.is(store.manager.size, 1)
    clock.advance(1001)
    t.deepEqual((await browser.call('GET', '/count')).body, { count: 1, user: null }, 'expired with its cookie')
  } finally {
    await app.close()
    store.close()
  }
})

test('the store API: get, set, touch, destroy, all, ids, length, clear', async (t) => {
  const clock = new FakeClock()
  const store = new SessionkeeperStore({ ttl: 5000, managerOptions: { clock: clock.read } })
  // As JSON: with @fastify/session loaded in this process (this spec imports it), an answer's
  // cookie also carries the store's marks (symbols) for @fastify/session's saves.
  const getRecord = promisify(store.get.bind(store))
  const get = async (sid: string) => JSON.parse(JSON.stringify(await getRecord(sid))) as unknown
  const set = promisify(store.set.bind(store))
  const touch = promisify(store.touch.bind(store))
  const destroy = promisify(store.destroy.bind(store))
  const all = promisify(store.all.bind(store))
  const ids = promisify(store.ids.bind(store))
  const length = promisify(store.length.bind(store))
  const clear = promisify(store.clear.bind(store))

  t.is(await get('missing'), null)
  t.is(await get('x'.repeat(300)), null, 'an id too long to be a key is simply not found')
  await set('a', { cookie: {}, user: 'ann' } as StoredSession)
  await set('b', { cookie: { maxAge: 100 }, n: 1 } as StoredSession)
  t.deepEqual(await get('a'), { cookie: {}, user: 'ann' })
  t.is(await length(), 2)
  t.deepEqual((await ids())?.sort(), ['a', 'b'])
  t.deepEqual(Object.keys((await all()) ?? {}).sort(), ['a', 'b'])

  clock.advance(99)
  await touch('b', { cookie: { maxAge: 100 } })
  clock.advance(99)
  t.deepEqual(await get('b'), { cookie: { maxAge: 100 }, n: 1 }, 'touch extended it without rewriting it')
  clock.advance(100)
  t.is(await get('b'), null, 'expired by its own maxAge')
  t.not(await get('a'), null, 'the default ttl (5 s) still holds')

  await destroy('a')
  t.is(await get('a'), null)
  await set('c', { cookie: {} })
  await clear()
  t.is(await length(), 0)
  store.close()
})

test('store options are validated', (t) => {
  t.throws(() => new SessionkeeperStore({ ttl: 0 }), { instanceOf: RangeError, message: /options\.ttl/ })
  t.throws(() => new SessionkeeperStore({ tll: 5 } as never), { instanceOf: TypeError, message: /unknown option "tll"/ })
  const randomKeys = new SessionManager()
  t.throws(() => new SessionkeeperStore({ manager: randomKeys }), { instanceOf: TypeError, message: /keys: 'caller'/ })
  randomKeys.close()
  t.throws(() => new SessionkeeperStore({ managerOptions: { keys: 'random' } as never }), { instanceOf: TypeError })
  const shared = new SessionManager({ keys: 'caller' })
  const store = new SessionkeeperStore({ manager: shared })
  store.close()
  t.notThrows(() => shared.create({ key: 'still-open' }), 'a manager given to the store stays open')
  shared.close()
})

test('an oversized session is refused through the callback, not thrown', async (t) => {
  const store = new SessionkeeperStore({ managerOptions: { maxDataBytes: 64 } })
  const error = await t.throwsAsync(promisify(store.set.bind(store))('big', { cookie: {}, blob: 'x'.repeat(200) } as StoredSession))
  t.true(error instanceof RangeError)
  store.close()
})
