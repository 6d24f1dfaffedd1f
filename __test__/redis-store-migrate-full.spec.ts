/**
 * Redis mode with migrateConnectRedis: while Redis is full, get() answers a connect-redis record
 * it could not move over. A save of that loaded session, which finds no session of the store, is
 * a save of a session still to be moved over (its connect-redis key is there), not of one that
 * ended: it goes in, or Redis's refusal reaches the app; it is never dropped silently (a hostile
 * review's finding).
 */
import anyTest, { type TestFn } from 'ava'
import express from 'express'
import session from 'express-session'
import { randomUUID } from 'node:crypto'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { RedisServer } from './redis-fixtures'
import { listen } from './store-race-app'

const test = anyTest as TestFn<{ server: RedisServer }>
const SECRET = 'a secret of at least thirty-two characters'

test.before(async (t) => {
  t.context.server = await RedisServer.start()
})
test.after.always(async (t) => {
  await t.context.server?.stop()
})

test('a change to a connect-redis session saved while Redis is full is either kept or reported, never silently dropped', async (t) => {
  const admin = t.context.server.client()
  await admin.connect().catch(() => {})
  const store = new SessionkeeperStore({ redis: t.context.server.client(), prefix: `r-${randomUUID()}:`, migrateConnectRedis: true })
  const app = express()
  app.use(session({ store, secret: SECRET, resave: false, saveUninitialized: false, cookie: { maxAge: 60_000 } }))
  app.post('/cart', (req, res) => {
    ;(req.session as any).cart = ['book']
    res.json({ user: (req.session as any).user })
  })
  app.get('/whoami', (req, res) => res.json({ user: (req.session as any).user ?? null, cart: (req.session as any).cart ?? null }))
  const errors: unknown[] = []
  app.use((error: { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    // express-session has answered already (it ends the response whether or not its save failed).
    errors.push(error)
    if (!res.headersSent) res.status(503).json({ code: error.code ?? null })
  })
  const { base, server } = await listen(app)
  try {
    // A session connect-redis wrote (its default prefix 'sess:'), signed as express-session signs.
    const sid = randomUUID()
    await admin.set(`sess:${sid}`, JSON.stringify({ cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() + 60_000).toISOString(), httpOnly: true, path: '/' }, user: 'ann' }), { PX: 60_000 })
    // @ts-expect-error cookie-signature ships no types
    const { sign } = (await import('cookie-signature')) as { sign(value: string, secret: string): string }
    const cookie = `connect.sid=${encodeURIComponent('s:' + sign(sid, SECRET))}`
    await admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
    let status: number
    let body: any
    try {
      const response = await fetch(`${base}/cart`, { method: 'POST', headers: { cookie } })
      status = response.status
      body = await response.json()
    } finally {
      await admin.configSet({ maxmemory: '0' })
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
    const after = await (await fetch(`${base}/whoami`, { headers: { cookie } })).json() as any
    t.is(after.user, 'ann', 'the session is still there (moved over now)')
    t.log({ status, body, after })
    t.true(errors.length > 0 || after.cart !== null, `the save reported no error (${errors.length}), yet the cart is ${JSON.stringify(after.cart)}`)
  } finally {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await store.close()
  }
})
