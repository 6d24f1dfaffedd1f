/**
 * Issue 18, item 4 on the Redis backend: `page({ cursor, limit })` against a real redis-server,
 * with several managers standing for processes. A session live throughout the paging is in
 * exactly one page, whatever the others do between pages (create, renew, regenerate, destroy,
 * closeUser, expire, sweep, a key dropped by its TTL); forged cursors are a TypeError or
 * RangeError and never read outside the prefix; a session an older release made (not in the
 * paging set) joins it when this release renews it. No test waits for a clock: expiry is made
 * by writing a past last-use time into the record.
 */
import { fork } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { type RedisSession, RedisSessionManager } from '../ts/redis/index'
import { redisSpec } from './redis-spec'

const { test, group } = redisSpec({ touchInterval: 0, idleTimeout: 600_000 })

const ids = (sessions: readonly RedisSession<any>[]) => sessions.map((session) => session.id)
const cursorOf = (id: string) => `i${Buffer.from(id, 'utf8').toString('base64url')}`
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
/** The same bytes spelled with a padding bit set in the last character (22 bytes leave 4 unused bits). */
const strayBits = (cursor: string) => cursor.slice(0, -1) + BASE64URL[BASE64URL.indexOf(cursor.slice(-1)) | 1]

/** Every page from the start, with `between(page number)` run after each; how often each id was seen. */
async function pageAll(manager: RedisSessionManager, limit: number, between: (n: number) => Promise<void> = async () => {}) {
  const seen = new Map<string, number>()
  let cursor: string | undefined
  let pages = 0
  do {
    const page = await manager.page({ cursor, limit })
    if (page.sessions.length > limit) throw new Error(`a page of ${page.sessions.length} for limit ${limit}`)
    for (const id of ids(page.sessions)) seen.set(id, (seen.get(id) ?? 0) + 1)
    cursor = page.cursor
    pages++
    await between(pages)
  } while (cursor !== undefined)
  return { seen, pages }
}

for (const [limit, stayers] of [[1, 40], [7, 300], [10_000, 300]] as const) {
  test(`page (limit ${limit}): each session live throughout is in exactly one page while two processes create, renew, regenerate, destroy, close users, expire and sweep others between pages`, async (t) => {
    const { managers: [a, b], prefix } = await group(t.context.server, 2)
    const { admin } = t.context
    const stay: string[] = []
    for (let index = 0; index < stayers; index++) stay.push((await (index % 2 === 0 ? a : b).create({ user: `stayer${index % 3}` })).id)
    const transient: RedisSession[] = []
    for (let index = 0; index < 30; index++) transient.push(await b.create({ user: 'temp' }))
    let expired = 0
    const { seen, pages } = await pageAll(b, limit, async (n) => {
      const [here, there] = n % 2 === 0 ? [a, b] : [b, a]
      // Created now, some in the same step as this process pages.
      const [made] = await Promise.all([here.create({ user: 'temp' }), there.page({ limit: 3 }), there.create()])
      transient.push(made)
      // Stayers renewed from both processes: their deadlines move, their place in the pages does not.
      await here.get(stay[n % stay.length])
      await there.get(stay[(n * 7) % stay.length])
      const victim = transient.shift()
      if (victim === undefined) return
      switch (n % 6) {
        case 0: await (await there.get(victim.id))?.regenerate(); break
        case 1: await there.destroy(victim.id); break
        case 2: {
          // Expired: past its deadline in Redis; pages skip it and a sweep (under its lease) closes it.
          await admin.hSet(`${prefix}s:${victim.id}`, 'a', '1')
          await admin.zAdd(`${prefix}deadlines`, { score: 2, value: victim.id })
          expired++
          await Promise.all([a.sweep(), b.sweep()])
          break
        }
        case 3: await admin.del(`${prefix}s:${victim.id}`); break // gone by its key's TTL
        case 4: {
          const except = transient[0] === undefined ? undefined : await here.peek(transient[0].id)
          await here.closeUser('temp', { except })
          transient.splice(except === undefined ? 0 : 1)
          break
        }
        default: await (await here.get(victim.id))?.regenerate()
      }
    })
    t.true(expired > 0 || pages < 4)
    if (limit < stayers) t.true(pages > stayers / limit, 'many pages')
    t.deepEqual(stay.filter((id) => seen.get(id) !== 1), [], 'every stayer exactly once')
    t.deepEqual([...seen].filter(([, count]) => count !== 1), [], 'no id in two pages')
  })
}

test('page from this process while another process (a child) creates, renews, regenerates, destroys and sweeps between pages: each session live throughout exactly once', async (t) => {
  const base = `t-${randomUUID()}:`
  const { managers: [a] } = await group(t.context.server, 1, {}, base)
  const stay: string[] = []
  for (let index = 0; index < 120; index++) stay.push((await a.create()).id)
  const child = fork(join(__dirname, 'redis-paging-worker.ts'), [], {
    execArgv: ['--import=tsx'], env: { ...process.env, REDIS_URL: t.context.server.url, REDIS_PREFIX: base },
  })
  t.teardown(() => { if (child.exitCode === null) child.kill() })
  const next = () => new Promise<Record<string, unknown>>((resolve, reject) => {
    const exited = (code: number | null) => reject(new Error(`the child exited (${code})`))
    child.once('exit', exited)
    child.once('message', (message: Record<string, unknown>) => {
      child.off('exit', exited)
      if (typeof message.error === 'string') reject(new Error(message.error))
      else resolve(message)
    })
  })
  t.deepEqual(await next(), { ready: true })
  const { seen, pages } = await pageAll(a, 6, async (n) => {
    const answer = next()
    child.send({ churn: [stay[n % stay.length], stay[(n * 5) % stay.length]] })
    t.deepEqual(await answer, { done: n })
  })
  child.send({ stop: true })
  t.true(pages > 20)
  t.deepEqual(stay.filter((id) => seen.get(id) !== 1), [], 'every stayer exactly once')
  t.deepEqual([...seen].filter(([, count]) => count !== 1), [], 'no id in two pages')
})

test('page: an empty Redis is one last page; the cursor of a session closed since still continues after it', async (t) => {
  const { managers: [a, b], prefix } = await group(t.context.server, 2)
  t.deepEqual(await a.page(), { sessions: [], cursor: undefined })
  t.deepEqual(await a.page({ limit: 1 }), { sessions: [], cursor: undefined })
  const made = []
  for (let index = 0; index < 5; index++) made.push((await a.create()).id)
  made.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)) // ASCII ids: code units order as bytes
  const first = await b.page({ limit: 2 })
  t.deepEqual(ids(first.sessions), made.slice(0, 2), 'id order, bytes')
  t.is(first.cursor, cursorOf(made[1]))
  await a.destroy(made[1])
  const rest = await b.page({ cursor: first.cursor, limit: 3 })
  t.deepEqual(ids(rest.sessions), made.slice(2))
  t.is(rest.cursor, undefined, 'no more: the last page says so, not an empty one after it')
  const seen: string[] = []
  for await (const session of b) seen.push(session.id)
  t.deepEqual(seen, [made[0], ...made.slice(2)], 'for await walks the same pages')
  // A regenerated session is paged under its new id only; one past its deadline (not yet swept) not at all.
  const newId = await (await a.get(made[0]))!.regenerate()
  await t.context.admin.hSet(`${prefix}s:${made[2]}`, 'a', '1')
  t.deepEqual(ids((await b.page()).sessions).sort(), [newId, ...made.slice(3)].sort())
})

test('page: forged cursors are a TypeError or RangeError naming options.cursor; a well-formed one starts after its id and reads only this prefix', async (t) => {
  const { managers: [a] } = await group(t.context.server, 1)
  const made = (await a.create()).id
  const long = 'A'.repeat(400)
  const bad = [
    '', 'i', 'r0', 'r18446744073709551615', 'p12', `I${cursorOf(made).slice(1)}`, `${cursorOf(made)}=`, `${cursorOf(made)}!`,
    cursorOf('short'), cursorOf(`${made}x`), `i${long}`, `i${Buffer.from('//79', 'base64').toString('base64url')}`,
    // Stray bits in the last character: decodes to the same bytes but is not page()'s spelling.
    strayBits(cursorOf(made)),
  ]
  for (const cursor of bad) {
    await t.throwsAsync(() => a.page({ cursor }), { instanceOf: RangeError, message: /options\.cursor/ }, JSON.stringify(cursor))
  }
  for (const cursor of [1, null, {}, ['i']]) {
    await t.throwsAsync(() => a.page({ cursor: cursor as never }), { instanceOf: TypeError, message: /options\.cursor/ }, JSON.stringify(cursor))
  }
  await t.throwsAsync(() => a.page({ limit: 0 }), { instanceOf: RangeError, message: /options\.limit/ })
  await t.throwsAsync(() => a.page({ limit: 10_001 }), { instanceOf: RangeError, message: /options\.limit/ })
  await t.throwsAsync(() => a.page({ after: 'x' } as never), { instanceOf: TypeError, message: /after/ })
  t.deepEqual(ids((await a.page({ cursor: cursorOf('-'.repeat(22)) })).sessions), [made], 'an id no session has: after it')
  t.deepEqual(await a.page({ cursor: cursorOf('z'.repeat(22)) }), { sessions: [], cursor: undefined }, 'after every id')

  // Caller keys: any text is an id, so any text is a cursor; it is only ever a bound in this
  // prefix's set: another prefix's sessions and keys named like the cursor are never read.
  const base = `t-${randomUUID()}:`
  const { managers: [own] } = await group(t.context.server, 1, { keys: 'caller' }, base)
  const { managers: [other] } = await group(t.context.server, 1, { keys: 'caller' })
  await other.create({ key: 'b-other' })
  await own.create({ key: 'c-own' })
  await t.context.admin.hSet(`${base}1:s:a-planted`, { v: '2', m: '1', c: '1', a: '1', i: '0', x: '0' })
  for (const cursor of ['', '../', '1:s:', '}{', 'b-other', 's:c-own', '\u{10ffff}'.repeat(60)]) {
    const page = await own.page(cursor === '' ? {} : { cursor: cursorOf(cursor) })
    t.true(ids(page.sessions).every((id) => id === 'c-own'), cursor)
  }
  t.deepEqual(ids((await own.page({ cursor: cursorOf('b') })).sessions), ['c-own'])
  t.deepEqual(ids((await own.page({ cursor: cursorOf('c-own') })).sessions), [])
  await t.throwsAsync(() => own.page({ cursor: cursorOf('x'.repeat(256)) }), { instanceOf: RangeError, message: /options\.cursor/ }, 'longer than any caller key')
})

test('rolling deploy: a session an older release made (not in the paging set) is paged once this release renews it; one an older release closed leaves the set at the next page', async (t) => {
  const { managers: [a, b], prefix } = await group(t.context.server, 2)
  const { admin } = t.context
  const older = await a.create()
  const kept = await a.create()
  const closedByOlder = await a.create()
  // As an older release leaves them: its create never filed the id; its destroy never removed it.
  await admin.zRem(`${prefix}ids`, older.id)
  await admin.del(`${prefix}s:${closedByOlder.id}`)
  await admin.zRem(`${prefix}deadlines`, closedByOlder.id)
  t.deepEqual(ids((await b.page()).sessions), [kept.id])
  t.is(await admin.zScore(`${prefix}ids`, closedByOlder.id), null, 'the stale member left the set')
  t.truthy(await b.get(older.id), 'a renewal by this release')
  t.deepEqual(ids((await b.page()).sessions).sort(), [older.id, kept.id].sort())
  t.is(await admin.zScore(`${prefix}ids`, older.id), 0)
})
