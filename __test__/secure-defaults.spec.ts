/**
 * Issue 10, item 7: secure defaults. `cookie.secure: 'auto'` follows express's own decision
 * (its `trust proxy`), and elsewhere reads X-Forwarded-Proto only from the trusted hop;
 * `__Host-`/`__Secure-` names force Secure; the signing secret has at least 32 characters.
 */
import test from 'ava'
import { createHmac } from 'node:crypto'
import { SessionManager } from '../ts/index'
import { sessionMiddleware, type SessionMiddlewareOptions } from '../ts/integrations/express'
import { ENGINES } from './helpers'
import { SECRET, startServer } from './http-fixtures'

const attributes = (setCookie: string | undefined) => (setCookie ?? '').split(';').slice(1).map((part) => part.trim())

for (const engine of ENGINES) {
  test(`under express, Secure follows express's trust proxy setting, not the raw header [${engine}]`, async (t) => {
    const trusting = await startServer(t, 'express', engine, {}, {}, (app) => app.set('trust proxy', 'loopback'))
    const https = await trusting.call('/login', { method: 'POST', headers: { 'x-forwarded-proto': 'https' } })
    t.true(attributes(https.setCookies[0]).includes('Secure'), 'express trusts the loopback proxy')
    const http = await trusting.call('/login', { method: 'POST', headers: { 'x-forwarded-proto': 'http' } })
    t.false(attributes(http.setCookies[0]).includes('Secure'))
    const distrusting = await startServer(t, 'express', engine, { trustProxy: true }, {}, (app) => app.set('trust proxy', false))
    const ignored = await distrusting.call('/login', { method: 'POST', headers: { 'x-forwarded-proto': 'https' } })
    t.false(attributes(ignored.setCookies[0]).includes('Secure'), "express's decision wins: it trusts no proxy")
  })

  test(`on node:http, trustProxy reads X-Forwarded-Proto from the trusted hop, never the client's value [${engine}]`, async (t) => {
    const cases: Array<[SessionMiddlewareOptions['trustProxy'], string | undefined, boolean]> = [
      [true, 'https', true],
      [true, 'http', false],
      [true, 'https, http', false],
      [true, 'http, https', true],
      [true, 'https,\thttp', false],
      [1, 'HTTPS', true],
      [2, 'https, http, https', false],
      [2, 'http, https, http', true],
      [2, 'https', true],
      [true, undefined, false],
      [false, 'https', false],
      [0, 'https', false],
    ]
    for (const [trustProxy, proto, secure] of cases) {
      const server = await startServer(t, 'http', engine, { trustProxy })
      const headers: Record<string, string> = proto === undefined ? {} : { 'x-forwarded-proto': proto }
      const reply = await server.call('/login', { method: 'POST', headers })
      t.is(attributes(reply.setCookies[0]).includes('Secure'), secure, `${trustProxy} ${proto}`)
    }
  })

  test(`__Host- and __Secure- names force Secure, and __Host- a host-only Path=/ cookie [${engine}]`, async (t) => {
    for (const cookieName of ['__Host-sid', '__Secure-sid', '__host-sid']) {
      for (const stack of ['express', 'http'] as const) {
        const server = await startServer(t, stack, engine, { cookieName, cookie: { secure: 'auto' } })
        const reply = await server.call('/login', { method: 'POST' })
        t.true(reply.cookie?.startsWith(`${cookieName}=`))
        t.deepEqual(attributes(reply.setCookies[0]), ['Path=/', 'HttpOnly', 'SameSite=Lax', 'Secure'], `${cookieName} ${stack}`)
        t.is((await server.call('/', { cookie: reply.cookie })).body.user, 'ann')
      }
    }
  })
}

test('cookie prefixes and secrets are checked at construction, with errors naming the option', (t) => {
  const manager = new SessionManager({ engine: 'js' })
  t.teardown(() => manager.close())
  const bad: Array<[unknown, new (...args: any[]) => Error, RegExp]> = [
    [{ cookieName: '__Host-sid', cookie: { secure: false } }, RangeError, /options\.cookie\.secure false is refused for options\.cookieName "__Host-sid"/],
    [{ cookieName: '__Secure-sid', cookie: { secure: false } }, RangeError, /options\.cookie\.secure false is refused/],
    [{ cookieName: '__HOST-sid', cookie: { secure: false } }, RangeError, /options\.cookie\.secure false is refused/],
    [{ cookieName: '__Host-sid', cookie: { path: '/app' } }, RangeError, /options\.cookie\.path must be '\/' for options\.cookieName "__Host-sid"/],
    [{ cookieName: '__Host-sid', cookie: { domain: 'example.com' } }, RangeError, /options\.cookie\.domain must be absent/],
    [{ secret: 'x'.repeat(31) }, RangeError, /options\.secret signs the cookies and must be at least 32 characters, received 31/],
    [{ secret: ['short', SECRET] }, RangeError, /options\.secret\[0\] signs the cookies and must be at least 32 characters, received 5/],
    [{ trustProxy: 'yes' }, TypeError, /options\.trustProxy must be a boolean or a number of proxies/],
    [{ trustProxy: -1 }, RangeError, /options\.trustProxy must be an integer from 0 to 32/],
    [{ trustProxy: 1.5 }, RangeError, /options\.trustProxy/],
  ]
  for (const [options, type, message] of bad) {
    t.throws(() => sessionMiddleware(manager, options as SessionMiddlewareOptions), { instanceOf: type, message }, JSON.stringify(options))
  }
  t.notThrows(() => sessionMiddleware(manager, { secret: 'x'.repeat(32) }))
  t.notThrows(() => sessionMiddleware(manager, { cookieName: '__Secure-sid', cookie: { path: '/app', domain: 'example.com', secure: true } }))
})

test('a short verify-only secret is accepted with one warning, so cookies signed with it still work', async (t) => {
  const warnings: Error[] = []
  const onWarning = (warning: Error) => warnings.push(warning)
  process.on('warning', onWarning)
  t.teardown(() => process.off('warning', onWarning))
  const legacy = 'old short secret'
  const server = await startServer(t, 'express', 'native', { secret: [SECRET, legacy] })
  await startServer(t, 'http', 'js', { secret: [SECRET, legacy] })
  const session = server.manager.create({ user: 'ann' })
  const signedWithLegacy = `sid=${session.id}.${createHmac('sha256', legacy).update(session.id).digest('base64url')}`
  const reply = await server.call('/', { cookie: signedWithLegacy })
  t.is(reply.body.user, 'ann')
  t.true(reply.cookie?.startsWith(`sid=${session.id}.`), 're-signed with the new secret')
  t.not(reply.cookie, signedWithLegacy)
  t.is((await server.call('/', { cookie: reply.cookie })).body.user, 'ann')
  await new Promise((resolve) => setImmediate(resolve))
  t.is(warnings.filter((warning) => (warning as { code?: string }).code === 'SESSIONKEEPER_SHORT_SECRET').length, 1)
  t.regex(warnings[0]?.message ?? '', /options\.secret holds a verify-only secret shorter than 32 characters/)
})
