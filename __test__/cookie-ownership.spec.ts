/**
 * Issue 10, item 1: a response's Set-Cookie follows only what its own request did. A slow
 * request that read a session before another request logged in or regenerated it must not
 * receive the new id, nor clear the cookie the other response set.
 */
import test from 'ava'
import { once } from 'node:events'
import { ENGINES } from './helpers'
import { SECRET, splitRequest, STACKS, startServer, valueOf } from './http-fixtures'

for (const stack of STACKS) {
  for (const engine of ENGINES) {
    const name = `[${stack}, ${engine}]`

    test(`a slow request that read the session before a login gets no Set-Cookie ${name}`, async (t) => {
      const server = await startServer(t, stack, engine, { secret: SECRET })
      const planted = await server.call('/cart?item=book', { method: 'POST' })
      const x = planted.cookie as string
      const arrived = once(server.hooks, 'arrived')
      const slow = splitRequest(server.port, `POST /count HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${x}`, 'body', async () => {
        await arrived
        const login = await server.call('/login?user=alice', { method: 'POST', cookie: x })
        t.not(login.cookie, x)
        t.is(login.body.user, 'alice')
      })
      const reply = await slow
      t.is(reply.status, 200)
      t.deepEqual(reply.setCookies, [], 'neither the new id nor a clearing cookie')
    })

    test(`a slow request that read the session before a regenerate gets no Set-Cookie, rolling or not ${name}`, async (t) => {
      for (const cookie of [{}, { maxAge: 60_000 }]) {
        const server = await startServer(t, stack, engine, { secret: SECRET, cookie })
        const login = await server.call('/login?user=alice', { method: 'POST' })
        const x = login.cookie as string
        const arrived = once(server.hooks, 'arrived')
        const reply = await splitRequest(server.port, `POST /count HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${x}`, 'body', async () => {
          await arrived
          const moved = await server.call('/regenerate', { method: 'POST', cookie: x })
          t.true(moved.cookie?.startsWith(`sid=${moved.body.newId}.`))
        })
        t.is(reply.status, 200)
        t.deepEqual(reply.setCookies, [], JSON.stringify(cookie))
      }
    })

    test(`a slow request does not clear the cookie a logout and login of other requests set ${name}`, async (t) => {
      const server = await startServer(t, stack, engine, { secret: SECRET })
      const x = (await server.call('/login?user=ann', { method: 'POST' })).cookie as string
      const arrived = once(server.hooks, 'arrived')
      const reply = await splitRequest(server.port, `POST /count HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${x}`, 'body', async () => {
        await arrived
        const logout = await server.call('/logout', { method: 'POST', cookie: x })
        t.regex(logout.setCookies[0] ?? '', /^sid=; Max-Age=0/, 'the request that closed it clears it')
        const login = await server.call('/login?user=bob', { method: 'POST' })
        t.regex(login.cookie ?? '', /^sid=./)
      })
      t.deepEqual(reply.setCookies, [])
    })

    test(`unknown, expired, closed, malformed and badly signed cookies are ignored, never cleared, and counted ${name}`, async (t) => {
      const server = await startServer(t, stack, engine, { secret: SECRET }, { idleTimeout: 1000 })
      const live = (await server.call('/login', { method: 'POST' })).cookie as string
      const expired = (await server.call('/login', { method: 'POST' })).cookie as string
      const closed = (await server.call('/login', { method: 'POST' })).cookie as string
      await server.call('/logout', { method: 'POST', cookie: closed })
      server.clock.advance(600)
      t.is((await server.call('/', { cookie: live })).body.user, 'ann')
      server.clock.advance(600)
      const id = valueOf(live)
      const bad = [expired, closed, 'sid=abc', `sid=${'A'.repeat(22)}.${'s'.repeat(43)}`, `sid=${id.slice(0, -1)}!`, `sid=${id.split('.')[0]}`, `sid="${id}"`]
      for (const cookie of bad) {
        const reply = await server.call('/', { cookie })
        t.is(reply.status, 200, cookie)
        t.is(reply.body.id, null, cookie)
        t.deepEqual(reply.setCookies, [], cookie)
      }
      t.is(server.manager.stats().rejectedCookies, bad.length)
      t.is((await server.call('/', { cookie: live })).body.user, 'ann')
    })

    test(`a request's own regenerate, login and logout still set and clear the cookie ${name}`, async (t) => {
      const server = await startServer(t, stack, engine, { secret: SECRET })
      const login = await server.call('/login', { method: 'POST' })
      t.true(login.cookie?.startsWith(`sid=${login.body.id}.`))
      const moved = await server.call('/regenerate', { method: 'POST', cookie: login.cookie })
      t.true(moved.cookie?.startsWith(`sid=${moved.body.newId}.`))
      const logout = await server.call('/logout', { method: 'POST', cookie: moved.cookie })
      t.true(logout.body.closed)
      t.regex(logout.setCookies[0] ?? '', /^sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=\/; HttpOnly; SameSite=Lax$/)
      t.is(logout.setCookies.length, 1)
    })
  }
}
