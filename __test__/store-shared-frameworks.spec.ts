/**
 * One SessionkeeperStore serving express-session and @fastify/session, and records stored
 * without a cookie (other code's `set`): a hostile review's cases against stop 43's marking of
 * answers only while the store had not seen express-session alone. After a restart, one express
 * request was enough to leave @fastify/session's next loads unmarked (a logout undone, a change
 * lost); and a cookieless record answered with an added cookie changed what express-session did
 * with it (served with its default cookie, where it fails). Every answer is marked now, and
 * express-session gets its record as stored.
 */
import test from 'ava'
import { Signer } from '@fastify/cookie'
import express from 'express'
import session from 'express-session'
import { createHmac } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { call, listen, racingApp } from './store-race-app'
import { racingFastify, SECRET } from './store-race-fastify-app'

const cleanups: (() => unknown)[] = []
test.after.always(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

/**
 * Both frameworks' apps over one store with a session file; each logs a user in, and the process
 * restarts: the new store has seen neither, and the express app serves the first request.
 */
async function restartedShared(engine: 'native' | 'js') {
  const dir = mkdtempSync(join(tmpdir(), 'sk-shared-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'sessions.skdb')
  const open = async () => {
    const store = new SessionkeeperStore({ managerOptions: { engine, persist: { path } } })
    const express = await listen(racingApp(store).app)
    const fast = await racingFastify(store, { rolling: false })
    return { expBase: express.base, fast, close: async () => { await fast.close(); express.server.close(); store.close() } }
  }
  const first = await open()
  const fastCookie = (await call(first.fast.base, 'POST', '/login', '')).cookie
  const expCookie = (await call(first.expBase, 'POST', '/login', '')).cookie
  await first.close()
  const second = await open()
  cleanups.push(() => second.close())
  const served = (await call(second.expBase, 'GET', '/whoami', expCookie)).body
  return { fast: second.fast, fastCookie, served }
}

for (const engine of ['native', 'js'] as const) {
  test.serial(`shared store, restarted: an express request first, then a @fastify/session logout is not undone [${engine}]`, async (t) => {
    const { fast, fastCookie, served } = await restartedShared(engine)
    t.deepEqual(served, { user: 'ann', cart: ['book'] })
    const slow = await fast.hold(fastCookie, 'upload')
    t.is((await call(fast.base, 'POST', '/logout', fastCookie)).status, 200)
    t.is(await slow.release(), 200)
    t.deepEqual((await call(fast.base, 'GET', '/whoami', fastCookie)).body, {}, 'the @fastify/session logout was undone')
  })

  test.serial(`shared store, restarted: an express request first, then overlapping @fastify/session changes are both kept [${engine}]`, async (t) => {
    const { fast, fastCookie } = await restartedShared(engine)
    const slow = await fast.hold(fastCookie, 'upload')
    const theme = await fast.hold(fastCookie, 'theme')
    t.is(await theme.release(), 200)
    t.is(await slow.release(), 200)
    t.deepEqual((await call(fast.base, 'GET', '/whoami', fastCookie)).body, { user: 'ann', cart: ['book'], theme: 'set by theme', upload: 'set by upload' })
  })
}

// A record stored without a cookie fails every express-session request (its createSession reads
// sess.cookie.expires), as with MemoryStore and connect-redis: the first as the later ones.
test.serial('express-session: a cookieless record is treated the same on the first request and later ones', async (t) => {
  const store = new SessionkeeperStore()
  cleanups.push(() => store.close())
  const app = express()
  app.use(session({ store, secret: SECRET, resave: false, saveUninitialized: false, rolling: true, cookie: { maxAge: 60_000, sameSite: 'strict' } }))
  app.get('/whoami', (req, res) => {
    const { cookie, ...data } = req.session as unknown as Record<string, unknown>
    res.json({ data, cookie })
  })
  app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json({ error: error.message })
  })
  const { base, server } = await listen(app)
  cleanups.push(() => server.close())
  const set = promisify(store.set.bind(store)) as (sid: string, sess: object) => Promise<void>
  await set('handoff-1', { user: 'ann' })
  await set('handoff-2', { user: 'bob' })
  // express-session's signed cookie (cookie-signature's form: value, '.', HMAC-SHA256 in base64 without padding).
  const sign = (value: string) => `${value}.${createHmac('sha256', SECRET).update(value).digest('base64').replace(/=+$/, '')}`
  const cookieOf = (sid: string) => `connect.sid=${encodeURIComponent('s:' + sign(sid))}`
  const firstResponse = await fetch(`${base}/whoami`, { headers: { cookie: cookieOf('handoff-1') } })
  const first = { status: firstResponse.status, body: await firstResponse.json(), setCookie: firstResponse.headers.get('set-cookie') }
  const laterResponse = await fetch(`${base}/whoami`, { headers: { cookie: cookieOf('handoff-2') } })
  const later = { status: laterResponse.status, body: await laterResponse.json() }
  t.is(first.status, later.status, 'the first request and a later one answer the same stored record differently')
  if (first.setCookie !== null) t.regex(first.setCookie, /SameSite=Strict/, 'a cookie without the app\'s SameSite was sent')
})

// @fastify/session restores a cookieless record as before (no expiry: not regenerated), and all()
// answers records unmarked and unchanged.
test.serial('@fastify/session and all() with a cookieless record', async (t) => {
  const store = new SessionkeeperStore()
  cleanups.push(() => store.close())
  const fast = await racingFastify(store, { rolling: false })
  cleanups.push(() => fast.close())
  const set = promisify(store.set.bind(store)) as (sid: string, sess: object) => Promise<void>
  await set('handoff-3', { user: 'cy' })
  const cookie = `sessionId=${encodeURIComponent(new Signer(SECRET).sign('handoff-3'))}`
  t.deepEqual((await call(fast.base, 'GET', '/whoami', cookie)).body, { user: 'cy' })
  const all = await promisify(store.all.bind(store))() as Record<string, unknown>
  t.deepEqual(all['handoff-3'], { user: 'cy' })
  t.deepEqual(Object.getOwnPropertySymbols(all['handoff-3'] as object), [])
  t.is(await promisify(store.length.bind(store))(), 1)
})
