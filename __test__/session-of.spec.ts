/**
 * Issue 17, item 1 at run time: sessionOf(req) and startSession(req, init) in an express app are
 * the request's session and its login, with the cookie rules of req.startSession; without the
 * middleware they fail loudly rather than read an anonymous request.
 */
import test from 'ava'
import express from 'express'
import type { AddressInfo } from 'node:net'
import { SessionManager } from '../ts/index'
import { sessionMiddleware, sessionOf, startSession } from '../ts/integrations/express'
import { SECRET } from './http-fixtures'

test('sessionOf and startSession: login, read, logout over express, no cast', async (t) => {
  const manager = new SessionManager<{ visits: number }>({ engine: 'js' })
  const app = express()
  app.use(sessionMiddleware(manager, { secret: SECRET }))
  app.post('/login', (req, res) => {
    const session = startSession<{ visits: number }>(req, { user: 'ada', data: { visits: 0 } })
    res.json({ id: session.id, current: manager.current()?.id })
  })
  app.get('/', (req, res) => {
    const session = sessionOf<{ visits: number }>(req)
    session?.set('visits', (session.get('visits') ?? 0) + 1)
    res.json({ user: session?.user ?? null, visits: session?.get('visits') ?? null })
  })
  app.post('/logout', (req, res) => { res.json({ closed: sessionOf(req)?.close() ?? false }) })
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  t.teardown(() => { server.close(); manager.close() })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.deepEqual(await (await fetch(`${url}/`)).json(), { user: null, visits: null })
  const login = await fetch(`${url}/login`, { method: 'POST' })
  const { id, current } = await login.json() as { id: string; current: string }
  t.is(current, id)
  const cookie = login.headers.getSetCookie()[0].split(';')[0]
  t.deepEqual(await (await fetch(`${url}/`, { headers: { cookie } })).json(), { user: 'ada', visits: 1 })
  const logout = await fetch(`${url}/logout`, { method: 'POST', headers: { cookie } })
  t.deepEqual(await logout.json(), { closed: true })
  t.regex(logout.headers.getSetCookie()[0], /Max-Age=0/)
})

test('without sessionMiddleware on the request, sessionOf and startSession throw a TypeError saying so', (t) => {
  const req = {} as import('node:http').IncomingMessage
  t.throws(() => sessionOf(req), { instanceOf: TypeError, message: /sessionMiddleware has not run/ })
  t.throws(() => startSession(req), { instanceOf: TypeError, message: /sessionMiddleware has not run/ })
})
