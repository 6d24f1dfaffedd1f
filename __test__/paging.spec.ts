/**
 * Issue 18, item 4: `manager.page({ cursor, limit })`. A session live throughout the paging is
 * in exactly one page, while sessions are created and closed between pages; cursors are opaque
 * and checked: a forged one is an error or a scan from some slot, never a crash.
 */
import test from 'ava'
import { type Session, SessionManager } from '../ts/index'
import { forEachEngine, makeManager } from './helpers'

function pageAll(manager: SessionManager, limit: number, between: (page: number) => void = () => {}): { seen: string[]; pages: number } {
  const seen: string[] = []
  let cursor: string | undefined
  let pages = 0
  do {
    const page = manager.page({ cursor, limit })
    t_assertLimit(page.sessions.length, limit)
    for (const session of page.sessions) seen.push(session.id)
    cursor = page.cursor
    between(pages++)
  } while (cursor !== undefined)
  return { seen, pages }
}

function t_assertLimit(length: number, limit: number): void {
  if (length > limit) throw new Error(`a page of ${length} sessions over its limit ${limit}`)
}

forEachEngine(test, 'paging visits every live session once, in pages of at most limit', (t, engine) => {
  const { manager } = makeManager(engine)
  const created = Array.from({ length: 1000 }, () => manager.create().id)
  const { seen, pages } = pageAll(manager, 64)
  t.deepEqual([...seen].sort(), [...created].sort())
  t.is(new Set(seen).size, 1000)
  t.true(pages >= 16)
  t.deepEqual(manager.page({ limit: 1000 }).sessions.length, 1000)
  const all = manager.page({ limit: 10_000 })
  t.is(all.cursor, undefined, 'fewer than limit: the last page')
  t.deepEqual(new SessionManager({ engine }).page(), { sessions: [], cursor: undefined })
})

forEachEngine(test, 'a session live throughout appears exactly once while others are created and closed between pages', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 10_000 })
  const stay: Session[] = []
  const churn: Session[] = []
  for (let index = 0; index < 500; index++) {
    stay.push(manager.create())
    churn.push(manager.create({ idleTimeout: 50 }))
  }
  let made = 0
  const { seen } = pageAll(manager, 37, (page) => {
    // Free slots before and after the cursor (closes, expiry) and fill them again.
    for (let index = page; index < churn.length; index += 7) churn[index].close()
    for (let index = 0; index < 20; index++) {
      manager.create()
      made++
    }
    clock.advance(3)
  })
  const counts = new Map<string, number>()
  for (const id of seen) counts.set(id, (counts.get(id) ?? 0) + 1)
  t.true(made > 0)
  t.true(stay.every((session) => counts.get(session.id) === 1), 'every stayer exactly once')
  t.true([...counts.values()].every((count) => count === 1), 'no session twice')
})

forEachEngine(test, 'a stayer regenerated between pages is still in exactly one page', (t, engine) => {
  const { manager } = makeManager(engine)
  // Each stayer is the only session of its own user, so a page entry names it whatever its id.
  for (let index = 0; index < 300; index++) {
    manager.create({ user: `u${index}` })
    manager.create()
  }
  const users = new Map<string, number>()
  let cursor: string | undefined
  let page = 0
  do {
    const found = manager.page({ cursor, limit: 7 })
    for (const session of found.sessions) if (session.user !== undefined) users.set(session.user, (users.get(session.user) ?? 0) + 1)
    // Fewer creates per page than the page holds, or the scan would never reach the table's end.
    for (let index = 0; index < 4; index++) manager.create()
    for (const session of manager.page({ limit: 5 }).sessions) if (session.user === undefined) session.close()
    manager.sessionsOf(`u${(page * 37) % 300}`)[0].regenerate()
    cursor = found.cursor
    page++
  } while (cursor !== undefined)
  t.is(users.size, 300)
  t.true([...users.values()].every((count) => count === 1))
})

forEachEngine(test, 'page options and forged cursors are checked, naming the option', (t, engine) => {
  const { manager } = makeManager(engine)
  for (let index = 0; index < 5; index++) manager.create()
  const first = manager.page({ limit: 2 })
  t.is(typeof first.cursor, 'string')
  t.is(manager.page({ cursor: first.cursor, limit: 10 }).sessions.length, 3)
  for (const cursor of ['', 'p', 'x1', 'p-1', 'pZZ', 'p123456', 'pzzzzz', 'p1 ', `p${(2 ** 25 + 1).toString(36)}`]) {
    t.throws(() => manager.page({ cursor }), { instanceOf: RangeError, message: /options\.cursor/ }, JSON.stringify(cursor))
  }
  t.throws(() => manager.page({ cursor: 5 as never }), { instanceOf: TypeError, message: /options\.cursor/ })
  // Well-formed cursors past the table's end are simply the end.
  t.deepEqual(manager.page({ cursor: `p${(2 ** 25).toString(36)}` }), { sessions: [], cursor: undefined })
  t.deepEqual(manager.page({ cursor: 'p9999' }).sessions, [])
  for (const limit of [0, -1, 1.5, 10_001, NaN, Infinity]) {
    t.throws(() => manager.page({ limit }), { instanceOf: RangeError, message: /options\.limit/ }, String(limit))
  }
  t.throws(() => manager.page({ limit: '10' as never }), { instanceOf: TypeError, message: /options\.limit/ })
  t.throws(() => manager.page({ after: 'p0' } as never), { instanceOf: TypeError, message: /after/ })
  t.is(manager.page().sessions.length, 5, 'limit 100 by default')
})

forEachEngine(test, 'paging skips sessions past their deadline and does not renew; after close() it is an empty last page', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 100 })
  const short = manager.create({ idleTimeout: 10 })
  const long = manager.create()
  clock.advance(10)
  const page = manager.page()
  t.deepEqual(page.sessions.map((session) => session.id), [long.id])
  t.true(short.closed)
  t.is(long.lastActivity, clock.now - 10, 'not renewed')
  manager.close()
  t.deepEqual(manager.page(), { sessions: [], cursor: undefined })
})
