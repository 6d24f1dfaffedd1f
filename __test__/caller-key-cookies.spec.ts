/**
 * Issue 10, item 5: session cookies over a `keys: 'caller'` manager. A key that cannot be a
 * cookie value is refused where it is given, before anything changes (it used to throw from
 * the writeHead hook: an uncaughtException), and an unsigned cookie, which would let a client
 * name any key, is refused at construction.
 */
import test from 'ava'
import { createServer } from 'node:http'
import { SessionManager } from '../ts/index'
import { sessionMiddleware } from '../ts/integrations/express'
import { readSession, sessionFor } from '../ts/integrations/http'
import { ENGINES } from './helpers'
import { fetchReply, listen, SECRET, STACKS, startServer } from './http-fixtures'

for (const stack of STACKS) {
  for (const engine of ENGINES) {
    const name = `[${stack}, ${engine}]`

    test(`startSession and regenerate with a key that cannot be a cookie value throw to the caller and change nothing ${name}`, async (t) => {
      const server = await startServer(t, stack, engine, { secret: SECRET }, { keys: 'caller' })
      const login = await server.call('/login?user=alice&key=peer-1', { method: 'POST' })
      t.is(login.body.id, 'peer-1')
      t.true(login.cookie?.startsWith('sid=peer-1.'))
      for (const key of ['a b', 'semi;colon', 'quo"te', 'caf\u00e9']) {
        const relogin = await server.call(`/login?user=bob&key=${encodeURIComponent(key)}`, { method: 'POST', cookie: login.cookie })
        t.is(relogin.status, 400, key)
        t.is(relogin.body.error, 'RangeError', key)
        t.regex(relogin.body.message, /^init\.key .* cannot be a session cookie value/, key)
        t.is(relogin.body.id, 'peer-1', `${key}: the session is still peer-1`)
        t.is(relogin.body.user, 'alice', key)
        t.deepEqual(relogin.setCookies, [], key)
        const moved = await server.call(`/regenerate?key=${encodeURIComponent(key)}`, { method: 'POST', cookie: login.cookie })
        t.is(moved.status, 400, key)
        t.regex(moved.body.message, /^newKey .* cannot be a session cookie value/, key)
        t.is(moved.body.id, 'peer-1', key)
        t.deepEqual(moved.setCookies, [], key)
      }
      const anonymous = await server.call('/login?key=a%20b', { method: 'POST' })
      t.is(anonymous.status, 400)
      t.is(server.manager.size, 1)
      t.is(server.manager.stats().created, 1, 'no session was made and closed on the way')
      server.manager.create({ key: 'peer-9', user: 'zed' })
      const taken = await server.call('/login?user=bob&key=peer-9', { method: 'POST', cookie: login.cookie })
      t.is(taken.body.error, 'SessionExistsError')
      t.is(taken.body.id, 'peer-1', 'a key a live session holds is refused before the old session closes')
      t.deepEqual(taken.setCookies, [])
      server.manager.destroy('peer-9')
      t.is((await server.call('/', { cookie: login.cookie })).body.user, 'alice')
      const relogin = await server.call('/login?user=bob&key=peer-2', { method: 'POST', cookie: login.cookie })
      t.true(relogin.cookie?.startsWith('sid=peer-2.'))
      const same = await server.call('/login?user=carol&key=peer-2', { method: 'POST', cookie: relogin.cookie })
      t.is(same.body.user, 'carol', 'a login may reuse the key of the session it replaces')
      t.true(same.cookie?.startsWith('sid=peer-2.'))
      t.is(server.manager.size, 1)
    })
  }
}

test('a synchronous node:http handler gets the RangeError; the process gets no uncaughtException', async (t) => {
  for (const engine of ENGINES) {
    const manager = new SessionManager({ engine, keys: 'caller' })
    t.teardown(() => manager.close())
    const sessions = sessionFor(manager, { secret: SECRET })
    const errors: string[] = []
    const base = await listen(t, createServer((req, res) => {
      const request = sessions.attach(req, res)
      try {
        request.startSession({ key: new URL(req.url ?? '/', 'http://x').searchParams.get('key') as string })
      } catch (error) {
        errors.push((error as Error).name)
        res.statusCode = 400
      }
      res.end(request.session?.id ?? '')
    }))
    const first = await fetchReply(`${base}/?key=peer-1`)
    t.is(first.body.text, 'peer-1')
    const bad = await fetchReply(`${base}/?key=a%20b`, { cookie: first.cookie })
    t.is(bad.status, 400)
    t.is(bad.body.text, 'peer-1')
    t.deepEqual(errors, ['RangeError'])
  }
})

test("sessionMiddleware, sessionFor and readSession refuse a keys: 'caller' manager without a secret", (t) => {
  for (const engine of ENGINES) {
    const manager = new SessionManager({ engine, keys: 'caller' })
    t.teardown(() => manager.close())
    const message = /options\.secret is required over a keys: 'caller' manager/
    t.throws(() => sessionMiddleware(manager), { instanceOf: TypeError, message })
    t.throws(() => sessionFor(manager, { cookieName: 'peer' }), { instanceOf: TypeError, message })
    t.throws(() => readSession(manager, { headers: { cookie: 'sid=user-alice' } } as never), { instanceOf: TypeError, message })
    t.notThrows(() => sessionFor(manager, { secret: SECRET }))
  }
})

test("a client cannot name a caller key: an unsigned key in the cookie is no session", async (t) => {
  const server = await startServer(t, 'http', 'native', { secret: SECRET }, { keys: 'caller' })
  server.manager.create({ key: 'user-alice', user: 'alice' })
  const reply = await server.call('/', { cookie: 'sid=user-alice' })
  t.is(reply.body.user, null)
  t.is(server.manager.stats().rejectedCookies, 1)
})
