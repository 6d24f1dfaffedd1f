/**
 * A hostile review of the 2026-12-02 round: writeHead hooked only on responses that may carry a
 * cookie (RequestState.hook), and create(init) read in place (#checkInit).
 */
import { createServer } from 'node:http'
import test from 'ava'
import express from 'express'
import { SessionManager } from '../ts/index'
import { type Session } from '../ts/session'
import { sessionMiddleware, type SessionRequest, startSession } from '../ts/integrations/express'
import { sessionFor } from '../ts/integrations/http'
import { ENGINES, forEachEngine, makeManager } from './helpers'
import { listen, SECRET } from './http-fixtures'

const cookieOf = (response: Response): string | undefined => response.headers.getSetCookie()[0]?.split(';')[0]

for (const engine of ENGINES) {
  // The middleware mounted twice reads the cookie twice: a Session of the first read, kept by
  // the app, closed later, hooked writeHead for the first state while the hook finds the second,
  // which had never taken the response's writeHead: the headers never went out.
  test(`the middleware mounted twice: closing the first read's session still sends the response [${engine}]`, async (t) => {
    const manager = new SessionManager({ engine })
    t.teardown(() => manager.close())
    const middleware = sessionMiddleware(manager, { secret: SECRET })
    const app = express()
    const firstRead = new WeakMap<object, Session | undefined>()
    app.use(middleware)
    app.post('/login', (req, res) => { startSession(req, { user: 'ann' }); res.end('in') })
    app.use((req, _res, next) => { firstRead.set(req, (req as unknown as SessionRequest).session); next() })
    app.use(middleware)
    app.post('/logout', (req, res) => {
      const first = firstRead.get(req)
      res.json({ closed: first?.close() ?? null, same: first === (req as unknown as SessionRequest).session })
    })
    const base = await listen(t, createServer(app))
    const cookie = cookieOf(await fetch(`${base}/login`, { method: 'POST' })) ?? ''
    t.is(manager.size, 1)
    const logout = await Promise.race([
      fetch(`${base}/logout`, { method: 'POST', headers: { cookie } }),
      new Promise<undefined>((resolve) => { setTimeout(() => resolve(undefined), 2000).unref() }),
    ])
    t.is(logout?.status, 200, 'the response went out')
    t.deepEqual(await logout?.json(), { closed: true, same: false })
    t.is(manager.size, 0)
  })

  // The same, by hand on node:http, then a login on the second attach: that one hooked over the
  // first one's hook and called itself.
  test(`sessionFor attached twice: a close through the first attach's session, then a login, answer once [${engine}]`, async (t) => {
    const manager = new SessionManager({ engine })
    t.teardown(() => manager.close())
    const sessions = sessionFor(manager, { secret: SECRET })
    const base = await listen(t, createServer((req, res) => {
      try {
        const first = sessions.attach(req, res).session
        const again = sessions.attach(req, res)
        first?.close()
        if (req.url === '/login') again.startSession({ user: 'ann' })
        res.end('ok')
      } catch (error) {
        res.end(String(error))
      }
    }))
    const login = await fetch(`${base}/login`)
    t.is(await login.text(), 'ok')
    const cookie = cookieOf(login) ?? ''
    t.regex(cookie, /^sid=./)
    const again = await fetch(`${base}/login`, { headers: { cookie } })
    t.is(await again.text(), 'ok')
    t.is(again.headers.getSetCookie().length, 1, 'one cookie, the new session\'s')
    t.not(cookieOf(again), cookie)
    t.is(manager.size, 1)
  })

  // An on-headers style listener runs inside a writeHead wrapper, before the wrapper calls the
  // writeHead it found. A login there must still send its cookie (it did while every response
  // was hooked at attach, before any later wrapper went on).
  test(`a login or logout inside a writeHead wrapper added after the middleware sends its cookie [${engine}]`, async (t) => {
    const manager = new SessionManager({ engine })
    t.teardown(() => manager.close())
    const app = express()
    app.use(sessionMiddleware(manager, { secret: SECRET }))
    const onHeaders = (res: express.Response, listener: () => void): void => {
      const inner = res.writeHead
      res.writeHead = function (this: express.Response, ...args: unknown[]) {
        listener()
        return (inner as (...a: unknown[]) => express.Response).apply(this, args)
      } as typeof res.writeHead
    }
    app.post('/login', (req, res) => {
      onHeaders(res, () => { startSession(req, { user: 'ann' }) })
      res.end('ok')
    })
    app.post('/logout', (req, res) => {
      onHeaders(res, () => { (req as unknown as SessionRequest).session?.close() })
      res.end('ok')
    })
    // The cookie put on at once is taken back when the hook runs: out once, whatever the app
    // did to Set-Cookie meanwhile.
    app.post('/login-then-headers', (req, res) => {
      onHeaders(res, () => {})
      startSession(req, { user: 'bob' })
      res.setHeader('Set-Cookie', [...(res.getHeader('set-cookie') as string[]), 'theme=dark'])
      res.end('ok')
    })
    const base = await listen(t, createServer(app))
    const login = await fetch(`${base}/login`, { method: 'POST' })
    const cookie = cookieOf(login)
    t.regex(cookie ?? '', /^sid=./, 'the login cookie went out')
    t.is(manager.size, 1)
    const logout = await fetch(`${base}/logout`, { method: 'POST', headers: { cookie: cookie ?? '' } })
    t.regex(logout.headers.getSetCookie()[0] ?? '', /^sid=;/, 'the clearing cookie went out')
    t.is(manager.size, 0)
    const both = (await fetch(`${base}/login-then-headers`, { method: 'POST' })).headers.getSetCookie()
    t.deepEqual(both.map((line) => line.split('=')[0]), ['theme', 'sid'])
  })

  // A wrapper put on before the middleware runs after the hook: a rolling cookie is left to the
  // hook, not put on the response early (which would cost each such request a second decide).
  test(`a rolling cookie under a wrapper put on before the middleware goes out once, at writeHead [${engine}]`, async (t) => {
    const manager = new SessionManager({ engine })
    t.teardown(() => manager.close())
    const app = express()
    app.use((_req, res, next) => {
      const inner = res.writeHead
      res.writeHead = function (this: express.Response, ...args: unknown[]) {
        return (inner as (...a: unknown[]) => express.Response).apply(this, args)
      } as typeof res.writeHead
      next()
    })
    app.use(sessionMiddleware(manager, { secret: SECRET, cookie: { maxAge: 60_000 } }))
    app.post('/login', (req, res) => { startSession(req, { user: 'ann' }); res.end('in') })
    app.get('/', (_req, res) => { res.json({ early: res.getHeader('set-cookie') ?? null }) })
    const base = await listen(t, createServer(app))
    const cookie = cookieOf(await fetch(`${base}/login`, { method: 'POST' })) ?? ''
    const read = await fetch(base, { headers: { cookie } })
    t.deepEqual(await read.json(), { early: null })
    t.is(read.headers.getSetCookie().length, 1)
    t.is(cookieOf(read), cookie)
  })
}

forEachEngine(test, 'create refuses an unknown init key even when a getter read before it deletes it', (t, engine) => {
  const { manager } = makeManager(engine)
  const init: Record<string, unknown> = {
    get user() { delete init.colour; return 'ada' },
    colour: 'red',
  }
  t.throws(() => manager.create(init as never), { instanceOf: TypeError, message: /unknown option "colour"/ })
  // A Proxy whose key list changes between two asks.
  let asks = 0
  const lying = new Proxy({ colour: 'red' } as Record<string, unknown>, {
    ownKeys: (target) => (asks++ === 0 ? Reflect.ownKeys(target) : []),
  })
  t.throws(() => manager.create(lying as never), { instanceOf: TypeError, message: /unknown option "colour"/ })
  t.is(manager.size, 0)
  manager.close()
})
