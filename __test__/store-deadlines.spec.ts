import test from 'ava'
import express from 'express'
import session from 'express-session'
import Fastify from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import type { AddressInfo } from 'node:net'
import { createServer, type Server } from 'node:http'
import { promisify } from 'node:util'
import { SessionExistsError, SessionManager } from '../ts/index'
import { SessionkeeperStore, type StoredSession } from '../ts/integrations/express-session'
import { ENGINES, FakeClock } from './helpers'

// One fake clock for everything in this file: the manager's clock, and Date.now(), which the
// frameworks use for cookie expiry and the store for the lifetime a cookie has left. The tests
// are serial, so nothing else runs while time is fake.
const clock = new FakeClock()
const realNow = Date.now
Date.now = clock.read
test.after.always(() => {
  Date.now = realNow
})

declare module 'fastify' {
  interface Session {
    user?: string
    count?: number
  }
}

const SECRET = 'a secret of at least thirty-two characters'

/** One cookie, kept as a browser would, over fetch. */
function client(base: string) {
  let cookie = ''
  return async (method: string, path: string) => {
    const response = await fetch(`${base}${path}`, { method, headers: cookie === '' ? {} : { cookie } })
    const setCookie = response.headers.get('set-cookie')
    if (setCookie !== null) cookie = setCookie.split(';')[0]
    return (await response.json()) as Record<string, unknown>
  }
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)))
}

function storeFor(engine: (typeof ENGINES)[number]) {
  return new SessionkeeperStore({ managerOptions: { engine, clock: clock.read } })
}

for (const engine of ENGINES) {
  test.serial(`@fastify/session with cookie.expires: a save later than half the cookie's life keeps the session to its expiry [${engine}]`, async (t) => {
    const store = storeFor(engine)
    const expires = clock.now + 10_000
    const app = Fastify()
    await app.register(fastifyCookie)
    await app.register(fastifySession, { secret: SECRET, store, saveUninitialized: false, cookie: { secure: false, expires: new Date(expires) } })
    app.post('/login', async (request) => {
      request.session.set('user', 'ann')
      return { sid: request.session.sessionId }
    })
    app.get('/count', async (request) => {
      const count = Number(request.session.get('count') ?? 0) + 1
      request.session.set('count', count)
      return { count, user: request.session.get('user') ?? null }
    })
    const call = client(await listen(app.server as Server))
    await app.ready()
    try {
      const { sid } = await call('POST', '/login') as { sid: string }
      t.is(store.manager.peek(sid)?.expiresAt, expires)
      // 6 s since the last save, 4 s left on the cookie: the save must not put the deadline in the past.
      clock.advance(6000)
      t.deepEqual(await call('GET', '/count'), { count: 1, user: 'ann' })
      t.is(store.manager.peek(sid)?.expiresAt, expires, "the deadline is the cookie's expiry")
      clock.advance(3999)
      t.deepEqual(await call('GET', '/count'), { count: 2, user: 'ann' }, 'still logged in just before the cookie expires')
      clock.advance(10_000)
      t.deepEqual(await call('GET', '/count'), { count: 1, user: null }, 'gone once the cookie has expired')
    } finally {
      await app.close()
      store.close()
    }
  })

  test.serial(`express-session: a shorter cookie.maxAge set long after the last save keeps the session for that maxAge [${engine}]`, async (t) => {
    const store = storeFor(engine)
    const app = express()
    app.use(session({ store, secret: SECRET, resave: false, saveUninitialized: false, cookie: { maxAge: 60_000 } }))
    app.post('/login', (req, res) => {
      ;(req.session as unknown as Record<string, unknown>).user = 'ann'
      res.json({ sid: req.sessionID })
    })
    app.post('/forget-me', (req, res) => {
      // "Remember me" turned off: the session now lasts 3 s from this request.
      req.session.cookie.maxAge = 3000
      ;(req.session as unknown as Record<string, unknown>).remember = false
      res.json({ ok: true })
    })
    app.get('/me', (req, res) => {
      res.json({ user: (req.session as unknown as Record<string, unknown>).user ?? null })
    })
    const server = createServer(app)
    const call = client(await listen(server))
    try {
      const { sid } = await call('POST', '/login') as { sid: string }
      clock.advance(5000)
      await call('POST', '/forget-me')
      t.is(store.manager.peek(sid)?.expiresAt, clock.now + 3000)
      clock.advance(2999)
      t.deepEqual(await call('GET', '/me'), { user: 'ann' }, 'still logged in within the new maxAge')
      clock.advance(3000)
      t.deepEqual(await call('GET', '/me'), { user: null })
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      store.close()
    }
  })

  test.serial(`express-session reads back the cookie expiry that touch stored, as with MemoryStore [${engine}]`, async (t) => {
    const store = storeFor(engine)
    const app = express()
    app.use(session({ store, secret: SECRET, resave: false, saveUninitialized: false, rolling: true, cookie: { maxAge: 60_000 } }))
    app.post('/login', (req, res) => {
      ;(req.session as unknown as Record<string, unknown>).user = 'ann'
      res.json({ sid: req.sessionID })
    })
    // Reads the cookie as loaded from the store, before express-session renews it for this response.
    app.get('/cookie', (req, res) => {
      res.json({ expires: req.session.cookie.expires?.toISOString() ?? null })
    })
    const server = createServer(app)
    const call = client(await listen(server))
    try {
      const { sid } = await call('POST', '/login') as { sid: string }
      const saved = new Date(clock.now + 60_000).toISOString()
      clock.advance(10_000)
      t.deepEqual(await call('GET', '/cookie'), { expires: saved }, 'loaded as saved at login')
      const touched = new Date(clock.now + 60_000).toISOString()
      t.is(store.manager.peek(sid)?.expiresAt, clock.now + 60_000, 'touch extended the session to the new expiry')
      clock.advance(10_000)
      t.deepEqual(await call('GET', '/cookie'), { expires: touched }, 'the expiry the previous touch stored')
      const record = await promisify(store.get.bind(store))(sid) as { cookie: { expires: string }; user: string }
      t.is(record.user, 'ann', 'touch kept the rest of the record')
      t.is(record.cookie.expires, new Date(clock.now + 60_000).toISOString())
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      store.close()
    }
  })

  test.serial(`set and touch make the deadline the cookie's expiry as of the call, whatever time passed since the last save [${engine}]`, async (t) => {
    const store = storeFor(engine)
    const set = promisify(store.set.bind(store))
    const touch = promisify(store.touch.bind(store))
    const get = promisify(store.get.bind(store))
    const expires = clock.now + 10_000
    const sess = { cookie: { expires: new Date(expires).toISOString() }, user: 'ann' } as StoredSession
    await set('s', sess)
    clock.advance(6000)
    await set('s', sess)
    t.is(store.manager.peek('s')?.expiresAt, expires, 'set')
    clock.advance(1000)
    await touch('s', sess)
    t.is(store.manager.peek('s')?.expiresAt, expires, 'touch')
    clock.advance(2999)
    t.like(await get('s'), { user: 'ann' })
    clock.advance(1)
    t.is(await get('s'), null)
    await touch('s', sess)
    t.is(await get('s'), null, 'touch does not revive an expired session')
    store.close()
  })
}

test.serial('callbacks run on setImmediate, as MemoryStore answers: after process.nextTick work, in order', async (t) => {
  const store = new SessionkeeperStore({ managerOptions: { clock: clock.read } })
  const order: string[] = []
  await new Promise<void>((resolve) => {
    store.get('missing', () => order.push('store'))
    process.nextTick(() => order.push('nextTick'))
    setImmediate(() => {
      order.push('immediate')
      resolve()
    })
  })
  t.deepEqual(order, ['nextTick', 'store', 'immediate'])
  store.close()
})

test.serial('sharing a manager, all/ids/length/clear/destroy see only the store\'s own sessions', async (t) => {
  const manager = new SessionManager({ keys: 'caller', clock: clock.read })
  const store = new SessionkeeperStore({ manager })
  const set = promisify(store.set.bind(store))
  manager.create({ key: 'peer-1', data: { address: '192.0.2.1' } })
  manager.create({ key: 'peer-2' })
  await set('a', { cookie: {} })
  await set('b', { cookie: {} })
  t.deepEqual((await promisify(store.ids.bind(store))())?.sort(), ['a', 'b'])
  t.is(await promisify(store.length.bind(store))(), 2)
  t.deepEqual(Object.keys((await promisify(store.all.bind(store))()) ?? {}).sort(), ['a', 'b'])
  t.is(await promisify(store.get.bind(store))('peer-1'), null)
  await promisify(store.destroy.bind(store))('peer-1')
  t.true(manager.has('peer-1'), 'destroy leaves other code\'s session alone')
  await t.throwsAsync(set('peer-2', { cookie: {} }), { instanceOf: SessionExistsError })
  t.deepEqual(manager.peek('peer-2')?.keys(), [], 'and so does set')
  await promisify(store.clear.bind(store))()
  t.is(await promisify(store.length.bind(store))(), 0)
  t.deepEqual([...manager].map((s) => s.id).sort(), ['peer-1', 'peer-2'], 'clear closed only the store\'s sessions')
  store.close()
  manager.close()
})
