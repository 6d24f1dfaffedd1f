/**
 * Issue 18, items 1 and 2: `sessionsOf(user)`, `closeUser(user, { except, reason })` and
 * `maxSessionsPerUser` with `whenUserFull`, on both engines, through the public API: the index
 * follows creates, `session.user`, regenerates, closes and expiry, with close listeners that
 * re-enter and change users meanwhile.
 */
import test from 'ava'
import { type CloseReason, type Session, SessionManager, UserSessionLimitError } from '../ts/index'
import { forEachEngine, makeManager } from './helpers'

const ids = (sessions: readonly Session[]) => sessions.map((session) => session.id)

forEachEngine(test, 'sessionsOf lists a user\'s live sessions, oldest first; anonymous and other users\' sessions are not listed', (t, engine) => {
  const { manager, clock } = makeManager(engine)
  const first = manager.create({ user: 'ada' })
  clock.advance(1)
  manager.create()
  const bobs = manager.create({ user: 'bob' })
  clock.advance(1)
  const second = manager.create({ user: 'ada' })
  t.deepEqual(ids(manager.sessionsOf('ada')), [first.id, second.id])
  t.deepEqual(ids(manager.sessionsOf('bob')), [bobs.id])
  t.deepEqual(manager.sessionsOf('nobody'), [])
  t.deepEqual(manager.sessionsOf(''), [])
  t.throws(() => manager.sessionsOf(42 as unknown as string), { instanceOf: TypeError, message: /user/ })
  t.throws(() => manager.sessionsOf('\uD800'), { instanceOf: RangeError, message: /user/ })
  const before = first.lastActivity
  clock.advance(10)
  manager.sessionsOf('ada')
  t.is(first.lastActivity, before, 'listing does not renew')
})

forEachEngine(test, 'the index follows session.user, regenerate, close and expiry', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 1000 })
  const a = manager.create({ user: 'ada' })
  const b = manager.create()
  b.user = 'ada'
  t.deepEqual(ids(manager.sessionsOf('ada')), [a.id, b.id])
  b.user = 'bob'
  t.deepEqual(ids(manager.sessionsOf('ada')), [a.id])
  t.deepEqual(ids(manager.sessionsOf('bob')), [b.id])
  b.user = undefined
  t.deepEqual(manager.sessionsOf('bob'), [])
  const oldId = a.id
  const newId = a.regenerate()
  t.not(newId, oldId)
  t.deepEqual(ids(manager.sessionsOf('ada')), [newId], 'the new id, not the old one')
  a.close()
  t.deepEqual(manager.sessionsOf('ada'), [])
  const c = manager.create({ user: 'cy' })
  clock.advance(1000)
  t.deepEqual(manager.sessionsOf('cy'), [], 'past its deadline, before the sweep')
  t.is(manager.closeUser('cy'), 0, 'an expired session is not counted')
  t.is(c.closeReason, 'expired')
})

forEachEngine(test, 'the sweep drops expired sessions from the index, with and without close listeners', (t, engine) => {
  for (const listening of [false, true]) {
    const { manager, clock } = makeManager(engine, { idleTimeout: 1000, maxSessionsPerUser: 2, whenUserFull: 'reject' })
    const reasons: CloseReason[] = []
    if (listening) manager.on('close', (_session, reason) => reasons.push(reason))
    manager.create({ user: 'ada' })
    manager.create({ user: 'ada' })
    manager.create()
    clock.advance(1000)
    t.is(manager.sweep(), 3)
    // A handle the sweep released but left in the index would still count against the cap.
    manager.create({ user: 'ada' })
    manager.create({ user: 'ada' })
    t.is(manager.sessionsOf('ada').length, 2)
    t.deepEqual(reasons, listening ? ['expired', 'expired', 'expired'] : [])
    t.is(manager.stats().closed.expired, 3)
  }
})

forEachEngine(test, 'closeUser closes every live session of the user with close events, and counts them', (t, engine) => {
  const { manager } = makeManager(engine)
  const events: string[] = []
  manager.on('close', (session, reason) => events.push(`${session.user}:${reason}`))
  const adas = [manager.create({ user: 'ada' }), manager.create({ user: 'ada' }), manager.create({ user: 'ada' })]
  const bob = manager.create({ user: 'bob' })
  const anonymous = manager.create()
  t.is(manager.closeUser('ada'), 3)
  t.deepEqual(events, ['ada:destroyed', 'ada:destroyed', 'ada:destroyed'], 'readable during the listeners')
  t.true(adas.every((session) => session.closed && session.closeReason === 'destroyed'))
  t.false(bob.closed)
  t.false(anonymous.closed)
  t.is(manager.closeUser('ada'), 0)
  t.is(manager.closeUser('nobody'), 0)
  t.is(manager.stats().closed.destroyed, 3)
  t.is(manager.size, 2)
})

forEachEngine(test, 'closeUser except: keeps that session; another user\'s or a closed session excepts nothing', (t, engine) => {
  const { manager } = makeManager(engine)
  const [a, b, c] = [manager.create({ user: 'ada' }), manager.create({ user: 'ada' }), manager.create({ user: 'ada' })]
  t.is(manager.closeUser('ada', { except: b }), 2)
  t.true(a.closed && c.closed)
  t.false(b.closed)
  t.deepEqual(ids(manager.sessionsOf('ada')), [b.id])

  const bob = manager.create({ user: 'bob' })
  manager.create({ user: 'ada' })
  t.is(manager.closeUser('ada', { except: bob }), 2, "bob's session is not ada's")
  t.false(bob.closed)

  const d = manager.create({ user: 'ada' })
  t.is(manager.closeUser('ada', { except: a }), 1, 'a closed session excepts nothing')
  t.true(d.closed)
})

forEachEngine(test, 'closeUser options are checked, naming the option', (t, engine) => {
  const { manager } = makeManager(engine)
  const other = makeManager(engine).manager
  const session = manager.create({ user: 'ada' })
  t.throws(() => manager.closeUser(undefined as unknown as string), { instanceOf: TypeError, message: /user/ })
  t.throws(() => manager.closeUser('ada', { except: session.id } as never), { instanceOf: TypeError, message: /options\.except/ })
  t.throws(() => manager.closeUser('ada', { except: other.create({ user: 'ada' }) }), { instanceOf: RangeError, message: /options\.except.*this manager/ })
  t.throws(() => manager.closeUser('ada', { reason: 'expired' } as never), { instanceOf: RangeError, message: /options\.reason/ })
  t.throws(() => manager.closeUser('ada', { reason: 3 } as never), { instanceOf: TypeError, message: /options\.reason/ })
  t.throws(() => manager.closeUser('ada', { excpet: session } as never), { instanceOf: TypeError, message: /excpet/ })
  t.throws(() => manager.closeUser('ada', new Map() as never), { instanceOf: TypeError, message: /options/ })
  t.false(session.closed, 'nothing closed by a refused call')
  const reasons: CloseReason[] = []
  manager.on('close', (_session, reason) => reasons.push(reason))
  t.is(manager.closeUser('ada', { reason: 'evicted' }), 1)
  t.deepEqual(reasons, ['evicted'])
  manager.close()
  t.throws(() => manager.closeUser('ada'), { message: /closed/ })
  t.deepEqual(manager.sessionsOf('ada'), [])
})

forEachEngine(test, 'closeUser from inside a close listener closes each session once', (t, engine) => {
  const { manager } = makeManager(engine)
  const closes = new Map<string, number>()
  const inner: number[] = []
  let entered = false
  manager.on('close', (session) => {
    closes.set(session.id, (closes.get(session.id) ?? 0) + 1)
    if (entered) return
    entered = true
    inner.push(manager.closeUser('ada'))
  })
  const sessions = Array.from({ length: 5 }, () => manager.create({ user: 'ada' }))
  const outer = manager.closeUser('ada')
  t.is(outer + inner[0], 5, 'the outer call counts only what it closed itself')
  t.is(inner[0], 4)
  t.true(sessions.every((session) => closes.get(session.id) === 1))
  t.is(manager.stats().closed.destroyed, 5)
})

forEachEngine(test, 'closeUser reads the user\'s sessions when it starts: listeners that move, close or add sessions', (t, engine) => {
  const { manager } = makeManager(engine)
  const [a, b, c] = [manager.create({ user: 'ada' }), manager.create({ user: 'ada' }), manager.create({ user: 'ada' })]
  let added: Session | undefined
  manager.on('close', (session) => {
    if (session.id !== a.id) return
    b.user = 'bob'          // taken from ada before closeUser reaches it
    c.close()               // closed by the listener
    added = manager.create({ user: 'ada' })
  })
  t.is(manager.closeUser('ada'), 1, 'only a: c was closed by the listener, b is no longer ada\'s')
  t.false(b.closed)
  t.is(b.user, 'bob')
  t.is(c.closeReason, 'destroyed')
  t.false(added?.closed, 'a session that became ada\'s during the call stays')
  t.deepEqual(ids(manager.sessionsOf('ada')), [added?.id])
})

forEachEngine(test, 'a user with 10^4 sessions among anonymous ones: listed in order, closed in one call', (t, engine) => {
  const { manager, clock } = makeManager(engine)
  const created: string[] = []
  for (let index = 0; index < 10_000; index++) {
    manager.create()
    created.push(manager.create({ user: 'many' }).id)
    if (index % 100 === 0) clock.advance(1)
  }
  const listed = manager.sessionsOf('many')
  t.is(listed.length, 10_000)
  t.deepEqual(ids(listed), created)
  t.is(manager.closeUser('many', { except: listed[5000] }), 9_999)
  t.is(manager.size, 10_001)
  t.deepEqual(ids(manager.sessionsOf('many')), [created[5000]])
})

forEachEngine(test, '3 * 10^4 sessions of 6,000 users, changed and closed at random: sessionsOf agrees with a plain model for every user', (t, engine) => {
  // The index keeps its records in pages of 4,096 slots and of 4,096 user numbers: lists that
  // cross pages, numbers given back and reused, and slots reused by other users' sessions.
  const { manager } = makeManager(engine)
  let seed = 7
  const random = (below: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    return seed % below
  }
  const live: Session[] = []
  const model = new Map<string, string[]>()
  const file = (user: string, id: string) => model.set(user, [...(model.get(user) ?? []), id])
  const unfile = (user: string, id: string) => model.set(user, model.get(user)!.filter((other) => other !== id))
  for (let step = 0; step < 30_000; step++) {
    const choice = random(10)
    if (choice < 6 || live.length === 0) {
      const user = `user-${random(6000)}`
      const session = manager.create({ user })
      live.push(session)
      file(user, session.id)
    } else if (choice < 8) {
      const [session] = live.splice(random(live.length), 1)
      unfile(session.user!, session.id)
      session.close()
    } else {
      const session = live[random(live.length)]
      const user = `user-${random(6000)}`
      if (user === session.user) continue // Unchanged: it keeps its place in the list.
      unfile(session.user!, session.id)
      session.user = user
      file(user, session.id)
    }
  }
  const wrong = [...model].filter(([user, expected]) => ids(manager.sessionsOf(user)).join() !== expected.join())
  t.deepEqual(wrong.slice(0, 3), [])
  t.is(manager.size, live.length)
  t.true(Math.max(...live.map((session) => session.handle % 2 ** 25)) >= 4096 * 2, 'the sessions span three pages of slots')
  manager.close()
})

forEachEngine(test, 'a clock that jumps back changes neither the index nor the order of sessionsOf', (t, engine) => {
  let now = 1_700_000_000_000
  const manager = new SessionManager({ engine, clock: () => now })
  const first = manager.create({ user: 'ada' })
  now -= 60_000
  const second = manager.create({ user: 'ada' })
  t.deepEqual(ids(manager.sessionsOf('ada')), [first.id, second.id], 'time is clamped, never goes back')
  t.is(manager.closeUser('ada'), 2)
})

// maxSessionsPerUser

forEachEngine(test, 'maxSessionsPerUser options are checked, naming the option', (t, engine) => {
  t.throws(() => new SessionManager({ engine, maxSessionsPerUser: 0 }), { instanceOf: RangeError, message: /options\.maxSessionsPerUser/ })
  t.throws(() => new SessionManager({ engine, maxSessionsPerUser: 1.5 }), { instanceOf: RangeError, message: /options\.maxSessionsPerUser/ })
  t.throws(() => new SessionManager({ engine, maxSessionsPerUser: '3' as never }), { instanceOf: TypeError, message: /options\.maxSessionsPerUser/ })
  t.throws(() => new SessionManager({ engine, whenUserFull: 'evict' as never }), { instanceOf: RangeError, message: /options\.whenUserFull/ })
  t.throws(() => new SessionManager({ engine, whenUserFull: true as never }), { instanceOf: TypeError, message: /options\.whenUserFull/ })
  new SessionManager({ engine, maxSessionsPerUser: Infinity, whenUserFull: 'reject' }).close()
  t.pass()
})

forEachEngine(test, "maxSessionsPerUser 'evict-oldest': the user's session created first goes, never the one joining", (t, engine) => {
  const { manager, clock } = makeManager(engine, { maxSessionsPerUser: 2 })
  const events: string[] = []
  manager.on('close', (session, reason) => events.push(`${session.id}:${session.user}:${reason}`))
  const early = manager.create()             // the oldest of all; joins ada at the very end
  clock.advance(1)
  const oldest = manager.create()            // created before a, joins ada after it
  clock.advance(1)
  const a = manager.create({ user: 'ada' })
  clock.advance(1)
  oldest.user = 'ada'                        // ada has 2 now
  const b = manager.create({ user: 'ada' })  // evicts `oldest` by createdAt, though it joined last
  t.is(oldest.closeReason, 'evicted')
  clock.advance(1)
  const mover = manager.create({ user: 'bob' })
  mover.user = 'ada'                         // an assignment evicts too: a, the oldest other
  t.is(a.closeReason, 'evicted')
  t.deepEqual(ids(manager.sessionsOf('ada')), [b.id, mover.id])
  t.deepEqual(manager.sessionsOf('bob'), [])
  early.user = 'ada'                         // older than both: b goes, not `early` itself
  t.is(b.closeReason, 'evicted')
  t.false(early.closed)
  t.deepEqual(ids(manager.sessionsOf('ada')), [early.id, mover.id])
  t.deepEqual(events, [`${oldest.id}:ada:evicted`, `${a.id}:ada:evicted`, `${b.id}:ada:evicted`])
  t.deepEqual(manager.stats().userLimit, { evicted: 3, rejected: 0 })
  t.is(manager.stats().closed.evicted, 3)
})

forEachEngine(test, "maxSessionsPerUser 'reject': create and session.user throw UserSessionLimitError and change nothing", (t, engine) => {
  const { manager } = makeManager(engine, { maxSessionsPerUser: 2, whenUserFull: 'reject' })
  const [a, b] = [manager.create({ user: 'ada' }), manager.create({ user: 'ada' })]
  const error = t.throws(() => manager.create({ user: 'ada', data: { x: 1 } }), { instanceOf: UserSessionLimitError })
  t.is(error?.code, 'ERR_USER_SESSION_LIMIT')
  t.is(error?.user, 'ada')
  t.is(error?.maxSessionsPerUser, 2)
  t.is(manager.size, 2)
  const other = manager.create({ user: 'bob' })
  t.throws(() => { other.user = 'ada' }, { instanceOf: UserSessionLimitError })
  t.is(other.user, 'bob', 'unchanged')
  t.deepEqual(ids(manager.sessionsOf('bob')), [other.id])
  a.user = 'ada'                              // its own user: no change, no check
  b.close()
  other.user = 'ada'                          // room now
  t.deepEqual(ids(manager.sessionsOf('ada')), [a.id, other.id])
  t.deepEqual(manager.stats().userLimit, { evicted: 0, rejected: 2 })
  t.is(manager.stats().rejected, 0, 'rejected counts maxSessions refusals only')
})

forEachEngine(test, 'maxSessionsPerUser: expired sessions of the user make room before anything is evicted', (t, engine) => {
  const { manager, clock } = makeManager(engine, { maxSessionsPerUser: 1, whenUserFull: 'reject' })
  const reasons: CloseReason[] = []
  manager.on('close', (_session, reason) => reasons.push(reason))
  const short = manager.create({ user: 'ada', idleTimeout: 10 })
  clock.advance(10)
  const fresh = manager.create({ user: 'ada' })
  t.is(short.closeReason, 'expired')
  t.deepEqual(reasons, ['expired'])
  t.false(fresh.closed)
})

forEachEngine(test, 'maxSessionsPerUser: a close listener that adds sessions of the evicted user cannot loop', (t, engine) => {
  const { manager } = makeManager(engine, { maxSessionsPerUser: 2 })
  const refused: unknown[] = []
  manager.on('close', () => {
    try {
      manager.create({ user: 'ada' })
    } catch (error) {
      refused.push(error)
    }
  })
  manager.create({ user: 'ada' })
  manager.create({ user: 'ada' })
  const third = manager.create({ user: 'ada' })
  t.is(refused.length, 1)
  t.true(refused[0] instanceof UserSessionLimitError)
  t.false(third.closed)
  t.is(manager.sessionsOf('ada').length, 2)
  t.deepEqual(manager.stats().userLimit, { evicted: 1, rejected: 1 })
})

forEachEngine(test, 'maxSessionsPerUser: an eviction listener that closes the session being assigned leaves it closed', (t, engine) => {
  const { manager } = makeManager(engine, { maxSessionsPerUser: 1 })
  manager.create({ user: 'ada' })
  const moving = manager.create({ user: 'bob' })
  manager.once('close', () => moving.close())
  moving.user = 'ada'
  t.true(moving.closed)
  t.deepEqual(manager.sessionsOf('ada'), [])
  t.deepEqual(manager.sessionsOf('bob'), [])
})

forEachEngine(test, 'maxSessionsPerUser with maxSessions: the user\'s own eviction makes the room, no anonymous session goes', (t, engine) => {
  const { manager } = makeManager(engine, { maxSessions: 3, maxSessionsPerUser: 2 })
  const anonymous = manager.create()
  manager.create({ user: 'ada' })
  manager.create({ user: 'ada' })
  manager.create({ user: 'ada' })
  t.false(anonymous.closed)
  t.is(manager.size, 3)
  t.deepEqual(manager.stats().closed.evicted, 1)
})

forEachEngine(test, "maxSessionsPerUser with caller keys: a create refused for a taken key evicts nothing, and a live key is never taken by evicting its holder", (t, engine) => {
  const { manager } = makeManager(engine, { keys: 'caller', maxSessionsPerUser: 1 })
  const closes: string[] = []
  manager.on('close', (session, reason) => closes.push(`${session.id}:${reason}`))
  const laptop = manager.create({ key: 'laptop', user: 'ada' })
  manager.create({ key: 'taken' })
  t.throws(() => manager.create({ key: 'taken', user: 'ada' }), { name: 'SessionExistsError' })
  t.false(laptop.closed, 'a refused create evicts nothing')
  // The key's holder is the user's oldest session: evicting it must not make the key free.
  t.throws(() => manager.create({ key: 'laptop', user: 'ada' }), { name: 'SessionExistsError' })
  t.false(laptop.closed)
  t.deepEqual(closes, [])
  t.deepEqual(manager.stats().userLimit, { evicted: 0, rejected: 0 })
  t.deepEqual(ids(manager.sessionsOf('ada')), ['laptop'])
})

forEachEngine(test, "maxSessionsPerUser with maxSessions 'reject': the place the user's eviction frees is the create's, not a close listener's", (t, engine) => {
  const { manager } = makeManager(engine, { maxSessions: 2, whenFull: 'reject', maxSessionsPerUser: 1 })
  const laptop = manager.create({ user: 'ada' })
  manager.create()
  const refused: unknown[] = []
  manager.once('close', () => {
    try {
      manager.create()
    } catch (error) {
      refused.push(error)
    }
  })
  // Refusing this create after evicting laptop would log ada out and still not log her in.
  const phone = manager.create({ user: 'ada' })
  t.true(laptop.closed)
  t.deepEqual(ids(manager.sessionsOf('ada')), [phone.id])
  t.is(refused.length, 1)
  t.is((refused[0] as Error).name, 'SessionLimitError')
  t.is(manager.size, 2)
})
