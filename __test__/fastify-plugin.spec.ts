/**
 * Issue 17, item 2: `sessionkeeper/fastify`, a Fastify 5 plugin with the middleware's behaviour,
 * tested over a listening socket: request.session and request.startSession, signed cookies with
 * secure defaults, manager.current() through the handler's async code (after a parsed body too),
 * the per-request cookie rules under concurrency, and refusal beside @fastify/session.
 */
import fastifyCookie from '@fastify/cookie'
import test from 'ava'
import Fastify, { type FastifyInstance } from 'fastify'
import { SessionManager } from '../ts/index'
import { sessionPlugin, type SessionPluginOptions } from '../ts/integrations/fastify'
import { SECRET } from './http-fixtures'

interface Reply {
  status: number
  body: any
  setCookies: string[]
  cookie: string | undefined
}

async function startApp(t: import('ava').ExecutionContext, options: Partial<SessionPluginOptions> = {}, fastifyOptions = {}) {
  const manager = new SessionManager({ engine: 'native' })
  const app: FastifyInstance = Fastify(fastifyOptions)
  await app.register(sessionPlugin, { manager, secret: SECRET, ...options })
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  app.get('/', async (request) => {
    const session = request.session
    return session === undefined ? { anonymous: true } : { id: session.id, user: session.user ?? null, visits: session.get('visits') ?? 0 }
  })
  app.post('/login', async (request) => {
    const body = request.body as { user: string }
    const session = request.startSession({ user: body.user, data: { visits: 0 }, keep: ['cart'] })
    await new Promise((resolve) => setTimeout(resolve, 2))
    return { id: session.id, current: manager.current()?.id ?? null, cart: session.get('cart') ?? null }
  })
  app.post('/visit', async (request) => {
    const session = request.session
    if (session === undefined) return { anonymous: true }
    session.set('visits', Number(session.get('visits') ?? 0) + 1)
    session.set('cart', ['book'])
    return { visits: session.get('visits') }
  })
  app.get('/slow', async (request) => {
    await gate
    return { id: request.session?.id ?? null, closed: request.session?.closed ?? null }
  })
  app.post('/logout', async (request) => ({ closed: request.session?.close() ?? false }))
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => {
    release()
    await app.close()
    manager.close()
  })
  const call = async (method: string, path: string, cookie?: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> => {
    const response = await fetch(`${address}${path}`, {
      method,
      headers: { ...(cookie ? { cookie } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const setCookies = response.headers.getSetCookie()
    return { status: response.status, body: await response.json(), setCookies, cookie: setCookies[0]?.split(';')[0] }
  }
  return { app, manager, call, release: () => release() }
}

test('login over a socket: a signed, HttpOnly, SameSite=Lax cookie; request.session and current() follow it through an awaited handler with a parsed body', async (t) => {
  const { manager, call } = await startApp(t)
  t.deepEqual((await call('GET', '/')).body, { anonymous: true })
  const login = await call('POST', '/login', undefined, { user: 'ada' })
  t.is(login.status, 200)
  t.is(login.body.current, login.body.id, 'manager.current() is the new session after an await')
  t.is(login.setCookies.length, 1)
  t.regex(login.setCookies[0], new RegExp(`^sid=${login.body.id}\\.[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Lax$`))
  const cookie = login.cookie as string
  t.deepEqual((await call('POST', '/visit', cookie)).body, { visits: 1 })
  const home = await call('GET', '/', cookie)
  t.deepEqual(home.body, { id: login.body.id, user: 'ada', visits: 1 })
  t.deepEqual(home.setCookies, [], 'a read sets no cookie (no maxAge)')
  t.is(manager.size, 1)
})

test('a login on a request with a session closes it, keeps only the listed keys, and a concurrent request that read the old id never learns the new one', async (t) => {
  const { manager, call, release } = await startApp(t)
  const first = await call('POST', '/login', undefined, { user: 'anon' })
  await call('POST', '/visit', first.cookie)
  const slow = call('GET', '/slow', first.cookie)
  await new Promise((resolve) => setTimeout(resolve, 50))
  const second = await call('POST', '/login', first.cookie, { user: 'bob' })
  t.not(second.body.id, first.body.id)
  t.deepEqual(second.body.cart, ['book'], 'keep carried the cart over')
  t.is(manager.stats().closed.destroyed, 1, 'the old session is closed')
  release()
  const slowReply = await slow
  t.deepEqual(slowReply.body, { id: first.body.id, closed: true })
  t.deepEqual(slowReply.setCookies, [], 'the slow request neither sets nor clears the cookie')
  t.deepEqual((await call('GET', '/', second.cookie)).body.user, 'bob')
})

test('logout clears the cookie; an unknown or badly signed cookie is ignored, never cleared, and counted', async (t) => {
  const { manager, call } = await startApp(t)
  const login = await call('POST', '/login', undefined, { user: 'ada' })
  const logout = await call('POST', '/logout', login.cookie)
  t.true(logout.body.closed)
  t.regex(logout.setCookies[0], /^sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=\/; HttpOnly; SameSite=Lax$/)
  const forged = await call('GET', '/', `sid=${login.body.id}.AAAA`)
  t.deepEqual(forged.body, { anonymous: true })
  t.deepEqual(forged.setCookies, [])
  t.is(manager.stats().rejectedCookies, 1)
})

test("cookie.secure 'auto' follows Fastify's trustProxy (request.protocol); a rolling maxAge is re-sent", async (t) => {
  const { call } = await startApp(t, { cookie: { maxAge: 60_000 } }, { trustProxy: true })
  const login = await call('POST', '/login', undefined, { user: 'ada' }, { 'x-forwarded-proto': 'https' })
  t.regex(login.setCookies[0], /; Max-Age=60; .*Secure/)
  const again = await call('GET', '/', login.cookie, undefined, { 'x-forwarded-proto': 'https' })
  t.regex(again.setCookies[0] ?? '', /^sid=.*Max-Age=60/, 'rolling: the cookie is re-sent')
  const plain = await call('POST', '/login', undefined, { user: 'ada' })
  t.notRegex(plain.setCookies[0], /Secure/)
})

test('refuses to register beside @fastify/session (registered after it: a clear error with a code)', async (t) => {
  const manager = new SessionManager({ engine: 'js' })
  t.teardown(() => manager.close())
  // Imported by a computed name: its declaration of FastifyRequest.session would clash with the
  // plugin's in this program, as it would in an app (the plugin refuses it at run time too).
  const fastifySession = (await import(['@fastify', 'session'].join('/'))).default
  const app = Fastify()
  await app.register(fastifyCookie)
  await app.register(fastifySession, { secret: SECRET })
  const error = await t.throwsAsync(async () => { await app.register(sessionPlugin, { manager, secret: SECRET }) })
  t.is((error as Error & { code?: string }).code, 'ERR_SESSIONKEEPER_FASTIFY_SESSION')
  t.regex(error?.message ?? '', /@fastify\/session/)
  await app.close().catch(() => {})
})

test('options are checked: a manager is required, trustProxy belongs to Fastify, short secrets are refused', async (t) => {
  const manager = new SessionManager({ engine: 'js' })
  t.teardown(() => manager.close())
  await t.throwsAsync(async () => { await Fastify().register(sessionPlugin, { secret: SECRET } as never) }, { instanceOf: TypeError, message: /manager/ })
  await t.throwsAsync(async () => { await Fastify().register(sessionPlugin, { manager, trustProxy: 1 } as never) }, { instanceOf: TypeError, message: /trustProxy/ })
  await t.throwsAsync(async () => { await Fastify().register(sessionPlugin, { manager, secret: 'short' }) }, { instanceOf: RangeError })
})

// Issue 16: the plugin's asyncContext option, as sessionMiddleware's.
for (const engine of ['native', 'js'] as const) {
  test(`asyncContext: false in the Fastify plugin leaves current() unbound [${engine}]`, async (t) => {
    const manager = new SessionManager({ engine })
    t.teardown(() => manager.close())
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(sessionPlugin, { manager, secret: SECRET, asyncContext: false })
    app.post('/login', async (request) => {
      request.startSession({ user: 'bo' })
      return { current: manager.current()?.user ?? null }
    })
    app.get('/', async (request) => ({ user: request.session?.user ?? null, current: manager.current()?.user ?? null }))
    const login = await app.inject({ method: 'POST', url: '/login' })
    t.deepEqual(login.json(), { current: null })
    const cookie = String(login.headers['set-cookie']).split(';')[0]
    t.deepEqual((await app.inject({ url: '/', headers: { cookie } })).json(), { user: 'bo', current: null })
  })

}
