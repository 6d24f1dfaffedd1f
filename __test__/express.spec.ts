import test from 'ava'
import express from 'express'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { SessionManager, type SessionManagerOptions } from '../ts/index'
import { sessionMiddleware, type SessionMiddlewareOptions, type SessionRequest } from '../ts/integrations/express'
import { FakeClock } from './helpers'
import { SECRET } from './http-fixtures'

const ID = /^[A-Za-z0-9_-]{22}$/

interface Reply {
  status: number
  body: Record<string, any>
  setCookies: string[]
  /** The `name=value` part of the first Set-Cookie, if any. */
  cookie: string | undefined
}

/** An express app with the middleware and a few routes, listening on 127.0.0.1, port 0. */
async function startApp(
  t: import('ava').ExecutionContext,
  options: SessionMiddlewareOptions = {},
  managerOptions: SessionManagerOptions = {},
) {
  const clock = new FakeClock()
  const manager = new SessionManager({ engine: 'native', clock: clock.read, ...managerOptions })
  const app = express()
  app.use(sessionMiddleware(manager, options))
  const sessionOf = (req: unknown) => req as SessionRequest
  app.get('/', (req, res) => {
    const { session } = sessionOf(req)
    res.json(session === undefined ? { anonymous: true } : { id: session.id, user: session.user, count: session.get('count') })
  })
  app.post('/login', (req, res) => {
    const session = sessionOf(req).startSession({ user: String(req.query.user ?? 'ann'), roles: ['member'], data: { count: '0' } })
    res.json({ id: session.id, user: session.user, roles: session.roles, count: session.get('count') })
  })
  app.post('/count', (req, res) => {
    const { session } = sessionOf(req)
    if (session === undefined) {
      res.status(401).json({ anonymous: true })
      return
    }
    const count = Number(session.get('count') ?? '0') + 1
    session.set('count', String(count))
    res.json({ count })
  })
  app.get('/current', async (req, res) => {
    await new Promise((resolve) => setTimeout(resolve, 5))
    await Promise.resolve()
    const current = manager.current()
    res.json({ same: current === sessionOf(req).session, id: current?.id ?? null })
  })
  app.post('/regenerate', (req, res) => {
    const { session } = sessionOf(req)
    if (session === undefined) {
      res.status(401).json({ anonymous: true })
      return
    }
    const oldId = session.id
    res.json({ oldId, id: session.regenerate() })
  })
  app.post('/logout', (req, res) => {
    sessionOf(req).session?.close()
    res.json({ ok: true })
  })
  app.post('/start-current', (req, res) => {
    const session = sessionOf(req).startSession()
    res.json({ same: manager.current() === session, current: manager.current()?.id ?? null, id: session.id })
  })
  app.get('/other-cookie', (req, res) => {
    res.cookie('theme', 'dark')
    sessionOf(req).startSession()
    res.json({ ok: true })
  })
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening))
  })
  t.teardown(() => {
    manager.close()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const port = (server.address() as AddressInfo).port
  const base = `http://127.0.0.1:${port}`
  const call = async (path: string, init: { method?: string; cookie?: string; headers?: Record<string, string> } = {}): Promise<Reply> => {
    const headers: Record<string, string> = { ...init.headers }
    if (init.cookie !== undefined) headers.cookie = init.cookie
    const response = await fetch(`${base}${path}`, { method: init.method ?? 'GET', headers })
    const setCookies = response.headers.getSetCookie()
    return {
      status: response.status,
      body: (await response.json()) as Record<string, any>,
      setCookies,
      cookie: setCookies[0]?.split(';')[0],
    }
  }
  const login = async (user = 'ann') => {
    const reply = await call(`/login?user=${user}`, { method: 'POST' })
    return { ...reply, cookie: reply.cookie as string }
  }
  return { manager, clock, port, call, login }
}

const attributes = (setCookie: string) => setCookie.split(';').slice(1).map((part) => part.trim())

test('anonymous visitors get no cookie and run as anonymous', async (t) => {
  const { manager, call } = await startApp(t)
  const home = await call('/')
  t.deepEqual(home.body, { anonymous: true })
  t.deepEqual(home.setCookies, [])
  const current = await call('/current')
  t.deepEqual(current.body, { same: true, id: null })
  t.is(manager.size, 0)
  t.is(manager.stats().rejectedCookies, 0)
})

test('startSession sets an HttpOnly, SameSite=Lax, Path=/ cookie without Secure or expiry over HTTP', async (t) => {
  const { manager, login } = await startApp(t)
  const reply = await login('bob')
  t.is(reply.status, 200)
  t.deepEqual(reply.body.roles, ['member'])
  t.is(reply.setCookies.length, 1)
  t.regex(reply.body.id, ID)
  t.is(reply.cookie, `sid=${reply.body.id}`)
  t.deepEqual(attributes(reply.setCookies[0]), ['Path=/', 'HttpOnly', 'SameSite=Lax'])
  t.is(manager.size, 1)
})

test('the cookie carries the session across requests and is not sent again', async (t) => {
  const { call, login } = await startApp(t)
  const { cookie } = await login()
  for (let expected = 1; expected <= 3; expected++) {
    const reply = await call('/count', { method: 'POST', cookie })
    t.is(reply.body.count, expected)
    t.deepEqual(reply.setCookies, [])
  }
  const home = await call('/', { cookie: `other=1; ${cookie}; more=2` })
  t.is(home.body.user, 'ann')
  t.is(home.body.count, '3')
})

test('manager.current() returns the request session after awaits in an async handler', async (t) => {
  const { call, login } = await startApp(t)
  const { cookie, body } = await login()
  const replies = await Promise.all([call('/current', { cookie }), call('/current')])
  t.deepEqual(replies[0].body, { same: true, id: body.id })
  t.deepEqual(replies[1].body, { same: true, id: null })
})

test('requests renew the session (manager.get), keeping it past its idle timeout in total', async (t) => {
  const { clock, call, login } = await startApp(t, {}, { idleTimeout: 1000 })
  const { cookie } = await login()
  for (let step = 0; step < 5; step++) {
    clock.advance(800)
    t.is((await call('/', { cookie })).body.user, 'ann')
  }
})

test('regenerate moves the cookie to the new id and the old id is dead', async (t) => {
  const { manager, call, login } = await startApp(t)
  const { cookie } = await login()
  const reply = await call('/regenerate', { method: 'POST', cookie })
  t.not(reply.body.id, reply.body.oldId)
  t.is(reply.cookie, `sid=${reply.body.id}`)
  t.deepEqual((await call('/', { cookie: reply.cookie })).body.user, 'ann')
  const stale = await call('/', { cookie })
  t.deepEqual(stale.body, { anonymous: true })
  t.deepEqual(stale.setCookies, [], 'a dead cookie is ignored, never cleared')
  t.is(manager.stats().rejectedCookies, 1)
})

test('startSession on a request with a session is a login: the old one closes, the new one starts from init alone; current() follows', async (t) => {
  const { manager, call, login } = await startApp(t)
  const first = await login('ann')
  await call('/count', { method: 'POST', cookie: first.cookie })
  const again = await call('/start-current', { method: 'POST', cookie: first.cookie })
  t.true(again.body.same)
  t.is(again.body.current, again.body.id)
  t.not(again.body.id, first.body.id)
  t.is(again.cookie, `sid=${again.body.id}`)
  t.deepEqual((await call('/', { cookie: again.cookie })).body, { id: again.body.id }, 'nothing of ann carried over')
  const promoted = await call('/login?user=root', { method: 'POST', cookie: again.cookie })
  t.is(promoted.body.user, 'root')
  t.is(promoted.body.count, '0')
  t.is(manager.size, 1)
  t.is(manager.stats().closed.destroyed, 2)
  t.deepEqual((await call('/', { cookie: first.cookie })).body, { anonymous: true })
})

test('on an anonymous request, current() follows startSession', async (t) => {
  const { call } = await startApp(t)
  const reply = await call('/start-current', { method: 'POST' })
  t.true(reply.body.same)
  t.is(reply.body.current, reply.body.id)
  t.is(reply.cookie, `sid=${reply.body.id}`)
})

test('logout clears the cookie', async (t) => {
  const { manager, call, login } = await startApp(t)
  const { cookie } = await login()
  const reply = await call('/logout', { method: 'POST', cookie })
  t.is(reply.setCookies.length, 1)
  t.deepEqual(attributes(reply.setCookies[0]), ['Max-Age=0', 'Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'Path=/', 'HttpOnly', 'SameSite=Lax'])
  t.is(reply.cookie, 'sid=')
  t.deepEqual((await call('/', { cookie })).body, { anonymous: true })
  t.is(manager.stats().closed.destroyed, 1)
})

test('an expired session is no session: the cookie is ignored (not cleared) and counted', async (t) => {
  const { manager, clock, call, login } = await startApp(t, {}, { idleTimeout: 1000 })
  const { cookie } = await login()
  clock.advance(1001)
  const reply = await call('/', { cookie })
  t.is(reply.status, 200)
  t.deepEqual(reply.body, { anonymous: true })
  t.deepEqual(reply.setCookies, [])
  t.is(manager.stats().rejectedCookies, 1)
})

test('an app cookie and the session cookie are both sent', async (t) => {
  const { call } = await startApp(t)
  const reply = await call('/other-cookie')
  t.is(reply.setCookies.length, 2)
  t.true(reply.setCookies[0].startsWith('theme=dark'))
  t.regex(reply.setCookies[1], /^sid=[A-Za-z0-9_-]{22};/)
})

test('signed cookies: <id>.<signature>; tampered or unsigned values are no session', async (t) => {
  const { manager, call, login } = await startApp(t, { secret: SECRET })
  const { cookie, body } = await login()
  t.regex(cookie, /^sid=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/)
  t.true(cookie.startsWith(`sid=${body.id}.`))
  t.is((await call('/', { cookie })).body.user, 'ann')
  const last = cookie.at(-1) === 'A' ? 'B' : 'A'
  const tampered = await call('/', { cookie: cookie.slice(0, -1) + last })
  t.deepEqual(tampered.body, { anonymous: true })
  t.deepEqual(tampered.setCookies, [])
  t.deepEqual((await call('/', { cookie: `sid=${body.id}` })).body, { anonymous: true })
  t.deepEqual((await call('/', { cookie: `sid=${body.id}.` })).body, { anonymous: true })
  t.is(manager.stats().rejectedCookies, 3)
  t.is((await call('/', { cookie })).body.user, 'ann', 'the session itself is untouched')
})

const OLD_SECRET = 'the old signing secret, 32 characters or more'
const NEW_SECRET = 'the new signing secret, 32 characters or more'

test('secret rotation: the new secret signs, the old one still verifies (and the cookie is re-signed)', async (t) => {
  const old = await startApp(t, { secret: OLD_SECRET })
  const { cookie, body } = await old.login()
  const rotated = await startApp(t, { secret: [NEW_SECRET, OLD_SECRET] })
  // A second app over the first app's manager, its secrets rotated.
  const sameManager = express()
  sameManager.use(sessionMiddleware(old.manager, { secret: [NEW_SECRET, OLD_SECRET] }))
  sameManager.get('/', (req, res) => {
    res.json({ user: (req as unknown as SessionRequest).session?.user ?? null })
  })
  const server: Server = await new Promise((resolve) => {
    const listening = sameManager.listen(0, '127.0.0.1', () => resolve(listening))
  })
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  const response = await fetch(url, { headers: { cookie } })
  t.deepEqual(await response.json(), { user: 'ann' })
  const resigned = response.headers.getSetCookie()[0]?.split(';')[0] ?? ''
  t.true(resigned.startsWith(`sid=${body.id}.`))
  t.not(resigned, cookie)
  const again = await fetch(url, { headers: { cookie: resigned } })
  t.deepEqual(await again.json(), { user: 'ann' })
  t.deepEqual(again.headers.getSetCookie(), [])
  // A cookie signed with the new secret does not verify where only the old one is known.
  t.deepEqual((await old.call('/', { cookie: resigned })).body, { anonymous: true })
  // And one signed by the rotated app verifies there.
  const fresh = await rotated.login()
  t.is((await rotated.call('/', { cookie: fresh.cookie })).body.user, 'ann')
})

test("Secure: not from X-Forwarded-Proto unless express trusts the proxy; always with secure: true", async (t) => {
  const untrusted = await startApp(t)
  const ignored = await untrusted.call('/login', { method: 'POST', headers: { 'x-forwarded-proto': 'https' } })
  t.false(attributes(ignored.setCookies[0]).includes('Secure'))
  const forced = await startApp(t, { cookie: { secure: true, sameSite: 'none' } })
  const always = await forced.call('/login', { method: 'POST' })
  t.deepEqual(attributes(always.setCookies[0]), ['Path=/', 'HttpOnly', 'SameSite=None', 'Secure'])
})

test('cookie options: name, path, domain, sameSite, httpOnly, rolling maxAge', async (t) => {
  const { call, login } = await startApp(t, {
    cookieName: 'app.sid',
    cookie: { path: '/app', domain: 'example.com', sameSite: 'strict', httpOnly: false, maxAge: 60_000 },
  })
  const reply = await login()
  t.true(reply.cookie.startsWith('app.sid='))
  const parts = attributes(reply.setCookies[0])
  t.is(parts[0], 'Max-Age=60')
  t.regex(parts[1], /^Expires=\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/)
  t.deepEqual(parts.slice(2), ['Path=/app', 'Domain=example.com', 'SameSite=Strict'])
  const next = await call('/', { cookie: reply.cookie })
  t.is(next.body.user, 'ann')
  t.is(next.cookie, reply.cookie, 'a rolling cookie is sent again with each response')
  t.deepEqual((await call('/')).setCookies, [])
})

test('bad session cookie input is no session, answered 200, counted, not cleared; other cookies are not judged', async (t) => {
  const { manager, call, login } = await startApp(t)
  const { cookie } = await login()
  const id = cookie.slice('sid='.length)
  const bad = [
    `sid=${'a'.repeat(5000)}`,
    `sid="${id}"`,
    `sid=${id}\\`,
    `sid=a b`,
    'sid=%ZZ%FF%00',
    'sid=',
    'sid=abc',
    `sid=${id}x`,
    `sid=${id.slice(0, -1)}!`,
    `sid=${'A'.repeat(22)}`,
    `sid=${id}.${'s'.repeat(43)}`,
  ]
  for (const header of bad) {
    const reply = await call('/', { cookie: header })
    t.is(reply.status, 200, header.slice(0, 60))
    t.deepEqual(reply.body, { anonymous: true }, header.slice(0, 60))
    t.deepEqual(reply.setCookies, [], header.slice(0, 60))
  }
  t.is(manager.stats().rejectedCookies, bad.length)
  const good = [
    `sid=${id}; x=${'b'.repeat(9000)}`,
    `${Array.from({ length: 300 }, (_, index) => `c${index}=1`).join('; ')}; sid=${id}`,
    `sid=${id}; sid=${id}`,
    `sid=${id}; other=1; sid=x`,
  ]
  for (const header of good) t.is((await call('/', { cookie: header })).body.user, 'ann', header.slice(0, 60))
  t.is(manager.stats().rejectedCookies, bad.length)
  t.is((await call('/', { cookie })).body.user, 'ann')
  t.is((await call('/', { cookie: 'sidx=1; xsid=2' })).setCookies.length, 0, 'other cookies are not ours')
  t.is(manager.stats().rejectedCookies, bad.length)
})

test('non-UTF-8 bytes in the Cookie header are no session, answered 200, and counted', async (t) => {
  const { manager, port } = await startApp(t)
  // Latin-1 maps each char to one byte: C3 28 is invalid UTF-8, FF FE and a lone 80 too.
  const raw = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: sid=\xc3\x28\xff\xfe\x80\r\n\r\n'
  const response = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(raw, 'latin1'))
    let text = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      text += chunk
    })
    socket.on('end', () => resolve(text))
    socket.on('error', reject)
  })
  t.regex(response, /^HTTP\/1\.1 200 OK/)
  t.notRegex(response, /\r\nSet-Cookie:/i)
  t.true(response.endsWith('{"anonymous":true}'))
  t.is(manager.stats().rejectedCookies, 1)
})

test('concurrent requests with the same cookie share one session', async (t) => {
  const { manager, call, login } = await startApp(t)
  const { cookie } = await login()
  const replies = await Promise.all(Array.from({ length: 25 }, () => call('/count', { method: 'POST', cookie })))
  t.true(replies.every((reply) => reply.status === 200 && reply.setCookies.length === 0))
  t.deepEqual(replies.map((reply) => reply.body.count as number).sort((a, b) => a - b), Array.from({ length: 25 }, (_, index) => index + 1))
  t.is((await call('/', { cookie })).body.count, '25')
  t.is(manager.size, 1)
  t.is(manager.stats().rejectedCookies, 0)
})

test('options are validated with errors naming the option', (t) => {
  const manager = new SessionManager({ engine: 'js' })
  const bad: Array<[unknown, new (...args: any[]) => Error, RegExp]> = [
    [{ cookiename: 'sid' }, TypeError, /options has an unknown option "cookiename"/],
    [{ cookie: { samesite: 'lax' } }, TypeError, /options\.cookie has an unknown option "samesite"/],
    [{ cookie: { sameSite: 'loose' } }, RangeError, /options\.cookie\.sameSite must be one of 'lax', 'strict', 'none'/],
    [{ cookie: { sameSite: 'none', secure: false } }, RangeError, /options\.cookie\.sameSite 'none'/],
    [{ cookie: { secure: 'yes' } }, RangeError, /options\.cookie\.secure must be 'auto', true or false/],
    [{ cookie: { secure: 1 } }, TypeError, /options\.cookie\.secure/],
    [{ cookie: { maxAge: -1 } }, RangeError, /options\.cookie\.maxAge/],
    [{ cookie: { maxAge: '1h' } }, TypeError, /options\.cookie\.maxAge/],
    [{ cookie: { path: 'app' } }, RangeError, /options\.cookie\.path/],
    [{ cookie: { path: '/a;b' } }, RangeError, /options\.cookie\.path/],
    [{ cookie: { domain: 'a b' } }, RangeError, /options\.cookie\.domain/],
    [{ cookie: { httpOnly: 'yes' } }, TypeError, /options\.cookie\.httpOnly/],
    [{ cookie: null }, TypeError, /options\.cookie must be (a plain|an) object/],
    [{ cookieName: 'my sid' }, RangeError, /options\.cookieName/],
    [{ cookieName: 1 }, TypeError, /options\.cookieName/],
    [{ secret: '' }, RangeError, /options\.secret must not be empty/],
    [{ secret: [] }, RangeError, /options\.secret must hold at least one secret/],
    [{ secret: [SECRET, 2] }, TypeError, /options\.secret\[1\] must be a string/],
    [{ trustProxy: 'yes' }, TypeError, /options\.trustProxy must be a boolean/],
    ['sid', TypeError, /options must be (a plain|an) object/],
  ]
  for (const [options, type, message] of bad) {
    t.throws(() => sessionMiddleware(manager, options as SessionMiddlewareOptions), { instanceOf: type, message }, JSON.stringify(options))
  }
  t.notThrows(() => sessionMiddleware(manager))
  t.notThrows(() => sessionMiddleware(manager, { cookieName: 'x', secret: [SECRET, 'b'], trustProxy: true, cookie: { secure: 'auto', sameSite: 'none', maxAge: 3_600_000, path: '/', domain: '.example.com', httpOnly: true } }))
})

test('only a response that may carry a cookie has its writeHead hooked, over a wrapper put there meanwhile', async (t) => {
  const manager = new SessionManager({ engine: 'native' })
  t.teardown(() => manager.close())
  const app = express()
  app.use(sessionMiddleware(manager, { secret: SECRET }))
  const wrapperCalls: string[] = []
  // Like on-headers (compression, morgan): a writeHead wrapper added after the session middleware.
  const wrap: express.RequestHandler = (req, res, next) => {
    const inner = res.writeHead
    res.writeHead = function (this: typeof res, ...args: unknown[]) {
      wrapperCalls.push(req.path)
      return (inner as (...a: unknown[]) => typeof res).apply(this, args)
    } as typeof res.writeHead
    next()
  }
  app.get('/read', (req, res) => {
    res.json({ own: Object.hasOwn(res, 'writeHead'), id: (req as unknown as SessionRequest).session?.id ?? null })
  })
  app.post('/login', wrap, (req, res) => {
    const session = (req as unknown as SessionRequest).startSession({ user: 'ann' })
    res.json({ id: session.id })
  })
  app.post('/logout', (req, res) => {
    const before = Object.hasOwn(res, 'writeHead')
    ;(req as unknown as SessionRequest).session?.close()
    res.json({ before, after: Object.hasOwn(res, 'writeHead') })
  })
  const server = app.listen(0, '127.0.0.1')
  t.teardown(() => server.close())
  await new Promise((resolve) => server.once('listening', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const login = await fetch(`${base}/login`, { method: 'POST' })
  const { id } = await login.json() as { id: string }
  const setCookie = login.headers.getSetCookie()
  t.is(setCookie.length, 1)
  t.true(setCookie[0].startsWith(`sid=${id}.`), 'the cookie of the session started after the wrapper went on')
  t.deepEqual(wrapperCalls, ['/login'], 'and the wrapper still ran, once')
  const cookie = setCookie[0].split(';')[0]

  const read = await fetch(`${base}/read`, { headers: { cookie } })
  t.deepEqual(await read.json(), { own: false, id }, 'a plain read of a non-rolling cookie leaves writeHead alone')
  t.deepEqual(read.headers.getSetCookie(), [])

  const logout = await fetch(`${base}/logout`, { method: 'POST', headers: { cookie } })
  t.deepEqual(await logout.json(), { before: false, after: true })
  t.regex(logout.headers.getSetCookie()[0] ?? '', /^sid=;.*Expires=Thu, 01 Jan 1970/, 'closing the session read hooks writeHead to clear the cookie')
})
