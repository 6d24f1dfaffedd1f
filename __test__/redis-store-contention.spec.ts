// SessionkeeperStore in Redis mode, several processes (each its own client and store) saving and
// touching one session at once: every save that answered goes in, none fails, no process's change
// is written over by another's merged against an older copy (the record's data version), and a
// touch never cuts short a lifetime saved meanwhile.
import express from 'express'
import session from 'express-session'
import { randomUUID } from 'node:crypto'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import type { RedisServer } from './redis-fixtures'
import { redisSpec } from './redis-spec'
import { aboutAMonth, call, listen, MONTH, sidOf } from './store-race-app'
import { racingFastify } from './store-race-fastify-app'

const { test, cleanup } = redisSpec()
const SECRET = 'a secret of at least thirty-two characters'

/**
 * One "process": its own client, store and express app. `/inc/:name` adds 1 to the session's
 * `name`; `/remember` is a "remember me" (a cookie of 30 days); `/whoami` reads.
 */
async function processOf(server: RedisServer, prefix: string, options: { touchInterval?: number; rolling?: boolean } = {}) {
  const store = new SessionkeeperStore({ redis: server.client(), prefix, ...(options.touchInterval === undefined ? {} : { touchInterval: options.touchInterval }) })
  const errors: string[] = []
  cleanup(() => store.close())
  const app = express()
  app.use(session({ store, secret: SECRET, resave: false, saveUninitialized: false, rolling: options.rolling ?? false, cookie: { maxAge: 60_000 } }))
  app.post('/login', (req, res) => {
    ;(req.session as any).user = 'ann'
    res.json({ ok: true })
  })
  app.post('/inc/:name', (req, res) => {
    const data = req.session as any
    data[req.params.name] = Number(data[req.params.name] ?? 0) + 1
    res.json({ ok: true })
  })
  app.post('/remember', (req, res) => {
    req.session.cookie.maxAge = MONTH
    ;(req.session as any).remember = true
    res.json({ ok: true })
  })
  app.get('/whoami', (req, res) => res.json({ user: (req.session as any).user ?? null }))
  app.use((error: any, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    // express-session reports a failed save here after the 200 has gone out.
    errors.push(`${error.name}: ${error.message} (${error.cause?.message ?? ''})`)
    if (res.headersSent) return
    res.status(503).json({ code: error.code ?? null, message: String(error.message), cause: String(error.cause?.message ?? '') })
  })
  const { base, server: http } = await listen(app)
  cleanup(() => {
    http.closeAllConnections()
    return new Promise((resolve) => http.close(resolve))
  })
  return { base, store, errors }
}

for (const [processes, loops, rounds] of [[2, 1, 150], [2, 4, 40], [4, 4, 25]] as const) {
  test.serial(`${processes} processes x ${loops} request loops, each incrementing its own key: no save fails, no increment is lost`, async (t) => {
    const prefix = `s-${randomUUID()}:`
    const procs = await Promise.all(Array.from({ length: processes }, () => processOf(t.context.server, prefix)))
    const { cookie } = await call(procs[0].base, 'POST', '/login', '')
    const ok = new Map<string, number>()
    const failures: unknown[] = []
    await Promise.all(procs.flatMap((proc, p) => Array.from({ length: loops }, async (_, l) => {
      const name = `k${p}_${l}`
      ok.set(name, 0)
      for (let round = 0; round < rounds; round++) {
        const reply = await call(proc.base, 'POST', `/inc/${name}`, cookie)
        if (reply.status === 200) ok.set(name, ok.get(name)! + 1)
        else failures.push(reply.body)
      }
    })))
    const raw = t.context.admin
    const stored = JSON.parse((await raw.hGet(`${prefix}1:s:${sidOf(cookie)}`, 'd:express-session'))!)
    const lost: string[] = []
    for (const [name, count] of ok) if (stored[name] !== count) lost.push(`${name}: stored ${stored[name]}, ${count} saves answered 200`)
    const saveErrors = procs.flatMap((proc) => proc.errors)
    t.deepEqual(failures.slice(0, 3), [], `${failures.length} of ${processes * loops * rounds} requests failed`)
    t.deepEqual(saveErrors.slice(0, 2), [], `${saveErrors.length} saves failed (after their 200)`)
    t.deepEqual(lost, [])
  })
}

test('a page view\'s touch in one process does not cut short a "remember me" another process saved after the touch read the session', async (t) => {
  const prefix = `s-${randomUUID()}:`
  const a = await processOf(t.context.server, prefix, { touchInterval: 50, rolling: true })
  const b = await processOf(t.context.server, prefix, { touchInterval: 50, rolling: true })
  const { cookie } = await call(a.base, 'POST', '/login', '')
  await new Promise((resolve) => setTimeout(resolve, 120)) // past touchInterval: A's page view renews in Redis
  // The page view's touch reads the session (its peek), and B's "remember me" goes in before the
  // touch's write: the ordinary peek-then-write window of a touch (two round trips).
  const manager = a.store.redisManager!
  const peek = manager.peek.bind(manager)
  let calls = 0
  manager.peek = async (id: string) => {
    const found = await peek(id)
    if (++calls === 2) t.is((await call(b.base, 'POST', '/remember', cookie)).status, 200)
    return found
  }
  t.is((await call(a.base, 'GET', '/whoami', cookie)).body.user, 'ann')
  t.is(calls, 2, 'the get, then the touch')
  const raw = t.context.admin
  const key = `${prefix}1:s:${sidOf(cookie)}`
  const stored = JSON.parse((await raw.hGet(key, 'd:express-session'))!)
  t.true(aboutAMonth(stored.cookie.originalMaxAge), `the record keeps the remember-me cookie (originalMaxAge ${stored.cookie.originalMaxAge})`)
  const ttl = await raw.pTTL(key)
  t.true(ttl > MONTH - 3_600_000, `the session ends in ${Math.round(ttl / 1000)} s, its cookie in 30 days`)
})

// @fastify/session's rolling (its default) saves every request's session, so page views are
// saves: each bumps the record's data version. One process changes the session while the user's
// other tabs in another process only read it.
test('@fastify/session (rolling): a change saves while another process serves page views of the session', async (t) => {
  const prefix = `s-${randomUUID()}:`
  const stores = [0, 1].map(() => {
    const store = new SessionkeeperStore({ redis: t.context.server.client(), prefix })
    cleanup(() => store.close())
    return store
  })
  const [a, b] = await Promise.all(stores.map(async (store) => {
    const app = await racingFastify(store)
    cleanup(() => app.close())
    return app
  }))
  const { cookie } = await call(a.base, 'POST', '/login', '')
  let done = false
  const readers = Array.from({ length: 6 }, async () => {
    while (!done) await call(b.base, 'GET', '/whoami', cookie)
  })
  const failed: unknown[] = []
  let last = ''
  for (let round = 0; round < 100; round++) {
    const reply = await call(a.base, 'POST', `/set/step?value=${round}`, cookie)
    if (reply.status === 200) last = String(round)
    else failed.push(reply.body)
  }
  done = true
  await Promise.all(readers)
  t.deepEqual(failed.slice(0, 2), [], `${failed.length} of 100 changes failed to save`)
  t.is((await call(b.base, 'GET', '/whoami', cookie)).body.step, last)
})
