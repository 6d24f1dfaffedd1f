/**
 * A Redis at its memory limit: what still works under noeviction, and the warning for a policy
 * that may evict what the sessions need.
 */
import express from 'express'
import session from 'express-session'
import { randomBytes, randomUUID } from 'node:crypto'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { RedisUnavailableError } from '../ts/redis/index'
import { redisSpec } from './redis-spec'

const { test, group, managersOn } = redisSpec({ resolution: 50 })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function warningsOf(code: string): { list: Error[]; stop: () => void } {
  const list: Error[] = []
  const onWarning = (warning: Error & { code?: string }) => {
    if (warning.code === code) list.push(warning)
  }
  process.on('warning', onWarning)
  return { list, stop: () => process.off('warning', onWarning) }
}

test.serial('at maxmemory under noeviction gets and touches still renew: a renewal grows nothing', async (t) => {
  const { managers: [a, b] } = await group(t.context.server, 2, { idleTimeout: 60_000, touchInterval: 10 })
  const session = await a.create({ user: 'alice', data: { cart: 3 } })
  const createdActivity = session.lastActivity
  await sleep(50) // a renewal is due
  await t.context.admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  try {
    const got = await b.get(session.id)
    t.is(got?.get('cart'), 3)
    t.true(got!.lastActivity > createdActivity, 'renewed')
    await sleep(20)
    const before = got!.lastActivity
    t.true(await got!.touch())
    t.true(got!.lastActivity > before, 'touched')
    t.true(await got!.setIdleTimeout(120_000), 'a change of timeout grows nothing either')
  } finally {
    await t.context.admin.configSet({ maxmemory: '0' })
  }
  t.is((await a.peek(session.id))?.idleTimeout, 120_000)
})

test.serial('a create refused at maxmemory keeps the near cache of its process: Redis answered, nothing ran', async (t) => {
  const { managers: [a] } = await group(t.context.server, 1, { idleTimeout: 60_000 })
  const other = await a.create({ data: { v: 1 } })
  await a.get(other.id)
  const hits = a.stats().nearCache.hits
  t.truthy(await a.get(other.id))
  t.is(a.stats().nearCache.hits, hits + 1, 'a holds a copy of another session')
  const flushes = a.stats().nearCache.flushes
  await t.context.admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  try {
    const refused = await t.throwsAsync(a.create({ data: { big: 'x'.repeat(100) } }), { instanceOf: RedisUnavailableError })
    t.regex(String((refused?.cause as Error | undefined)?.message), /^OOM/)
    t.is(a.stats().nearCache.flushes, flushes)
    t.truthy(await a.get(other.id))
    t.is(a.stats().nearCache.hits, hits + 2, 'still served from the near cache')
  } finally {
    await t.context.admin.configSet({ maxmemory: '0' })
  }
})

test.serial('at maxmemory under noeviction what grows memory is refused whole, and what frees it runs', async (t) => {
  const { managers: [a, b], prefix } = await group(t.context.server, 2, { idleTimeout: 60_000 })
  const admin = t.context.admin
  const closed: string[] = []
  for (const manager of [a, b]) manager.on('close', (session, reason) => closed.push(`${session.id}:${reason}`))
  const kept = await a.create({ user: 'alice', data: { cart: 3, note: 'x' } })
  const other = await a.create({ user: 'alice' })
  const third = await a.create({ user: 'bob' })
  const expiring = await a.create({ idleTimeout: 100 })
  const keysBefore = await admin.dbSize()
  await admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  try {
    const oom = { instanceOf: RedisUnavailableError }
    await t.throwsAsync(a.create({ user: 'alice' }), oom, 'a create')
    await t.throwsAsync(kept.set('cart', 4), oom, 'a write')
    t.is(await admin.dbSize(), keysBefore, 'the refused calls left nothing behind')
    t.is((await b.peek(kept.id))?.get('cart'), 3)

    t.true(await kept.delete('note'), 'a write that only deletes runs')
    const oldId = kept.id
    t.truthy(await kept.regenerate(), 'a regenerate runs (it moves the record)')
    t.is(await b.peek(oldId), undefined)
    t.true(await third.close(), 'a destroy runs')
    await sleep(150)
    await a.sweep() // if the background sweep has not closed it already
    await b.sweep()
    t.is(await a.closeUser('alice', { except: kept }), 1, 'closeUser runs')
    t.deepEqual(closed.sort(), [`${third.id}:destroyed`, `${expiring.id}:expired`, `${other.id}:destroyed`].sort())
    t.is(await admin.exists(`${prefix}s:${expiring.id}`), 0)
  } finally {
    await admin.configSet({ maxmemory: '0' })
  }
  t.is((await b.get(kept.id))?.get('note'), undefined)
  await kept.set('cart', 4)
  t.is((await b.get(kept.id))?.get('cart'), 4, 'writes go through once Redis has room')
})

test.serial('a write that must seal a plain record first, at maxmemory, says Redis is full', async (t) => {
  const { managers: [plain, sealed] } = await managersOn(t.context.server, [{}, { key: new Uint8Array(randomBytes(32)) }])
  const written = await plain.create({ data: { cart: 1, note: 'x' } }) // by a process without the key
  await t.context.admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  const loaded = await sealed.peek(written.id) // its sealing refused: the record stays plain
  try {
    const refused = await t.throwsAsync(loaded!.set('cart', 2), { instanceOf: RedisUnavailableError })
    t.regex(String((refused?.cause as Error | undefined)?.message), /^OOM/, 'not "its values changed during each attempt"')
  } finally {
    await t.context.admin.configSet({ maxmemory: '0' })
  }
  t.true(await loaded!.set('cart', 2))
})

test.serial('express-session over the store at maxmemory: a request that changes nothing renews and reports no error', async (t) => {
  const store = new SessionkeeperStore({ redis: t.context.server.client(), prefix: `s-${randomUUID()}:`, touchInterval: 10 })
  t.teardown(() => store.close())
  const app = express()
  app.use(session({ store, secret: 'a secret of at least thirty-two characters', resave: false, saveUninitialized: false, cookie: { maxAge: 60_000 } }))
  app.post('/login', (req, res) => {
    ;(req.session as unknown as Record<string, unknown>).user = 'ann'
    res.json({ ok: true })
  })
  app.get('/whoami', (req, res) => {
    res.json({ user: (req.session as unknown as Record<string, unknown>).user ?? null })
  })
  const passedOn: unknown[] = []
  app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    passedOn.push(error)
    if (!res.headersSent) res.status(503).json({ error: error.name })
  })
  const server: Server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const cookie = (await fetch(base + '/login', { method: 'POST' })).headers.get('set-cookie')!.split(';')[0]!
  await sleep(50) // the store's touch is due
  const manager = store.redisManager!
  const { unavailable } = manager.stats()
  await t.context.admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  try {
    for (let index = 0; index < 3; index++) {
      const response = await fetch(base + '/whoami', { headers: { cookie } })
      t.is(response.status, 200)
      t.deepEqual(await response.json(), { user: 'ann' })
    }
  } finally {
    await t.context.admin.configSet({ maxmemory: '0' })
  }
  t.deepEqual(passedOn.map(String), [], 'no error passed to next()')
  t.is(manager.stats().unavailable, unavailable, 'no call rejected')
})

test.serial('the store at maxmemory reads a connect-redis session it cannot move over yet, and moves it later', async (t) => {
  const store = new SessionkeeperStore({ redis: t.context.server.client(), prefix: `s-${randomUUID()}:`, migrateConnectRedis: true })
  t.teardown(() => store.close())
  const sid = randomUUID()
  await t.context.admin.set(`sess:${sid}`, JSON.stringify({ cookie: { originalMaxAge: 60_000 }, user: 'ann' }), { PX: 60_000 })
  const read = () => new Promise<{ error: unknown; session: unknown }>((resolve) => store.get(sid, (error, found) => resolve({ error, session: found })))
  await t.context.admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  let full: { error: unknown; session: unknown }
  try {
    full = await read()
  } finally {
    await t.context.admin.configSet({ maxmemory: '0' })
  }
  t.falsy(full.error)
  t.is((full.session as { user?: string } | null)?.user, 'ann')
  t.is(await t.context.admin.exists(`sess:${sid}`), 1, 'left where it was')
  t.is(((await read()).session as { user?: string } | null)?.user, 'ann')
  t.is(await t.context.admin.exists(`sess:${sid}`), 0, 'moved over once Redis has room')
})

test.serial('a Redis that may evict keys at its memory limit is reported once per manager, with the policy named', async (t) => {
  const warnings = warningsOf('SESSIONKEEPER_REDIS_EVICTION_POLICY')
  try {
    await t.context.admin.configSet({ maxmemory: '1gb', 'maxmemory-policy': 'allkeys-lru' })
    const { managers: [a] } = await group(t.context.server, 1)
    await a.count() // replies come in order: the policy's has been read
    await sleep(0)
    t.is(warnings.list.length, 1)
    t.regex(warnings.list[0]!.message, /allkeys-lru/)
    t.is(warnings.list[0]!.name, 'SessionkeeperRedisWarning')

    await t.context.admin.configSet({ 'maxmemory-policy': 'noeviction' })
    const { managers: [b] } = await group(t.context.server, 1)
    await t.context.admin.configSet({ maxmemory: '0', 'maxmemory-policy': 'volatile-lru' })
    const { managers: [c] } = await group(t.context.server, 1)
    await b.count()
    await c.count()
    await sleep(0)
    t.is(warnings.list.length, 1, 'noeviction, or no memory limit, is not reported')
  } finally {
    warnings.stop()
    await t.context.admin.configSet({ maxmemory: '0', 'maxmemory-policy': 'noeviction' })
  }
})
