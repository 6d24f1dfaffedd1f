import test from 'ava'
import { slotOf } from '../ts/engine'
import type { CloseReason, Session } from '../ts/index'
import { forEachEngine, makeManager } from './helpers'

/** Every read of a closed session answers as an empty session does. */
function assertEmpty(t: import('ava').ExecutionContext, session: Session): void {
  t.is(session.user, undefined)
  t.deepEqual(session.roles, [])
  t.false(session.hasRole('admin'))
  t.is(session.get('theme'), undefined)
  t.deepEqual(session.keys(), [])
  t.is(session.getObject('socket'), undefined)
}

/** Every write, setter and renewal of a closed session changes nothing, and none throws. */
function assertInert(t: import('ava').ExecutionContext, session: Session): void {
  t.false(session.set('theme', 'light'))
  t.false(session.delete('theme'))
  t.false(session.removeObject('socket'))
  t.false(session.touch())
  t.is(session.regenerate(), undefined)
  session.user = 'mallory'
  session.roles = ['admin']
  session.idleTimeout = 60_000
  session.absoluteTimeout = 60_000
  t.true(session.closed)
  assertEmpty(t, session)
}

forEachEngine(test, 'a destroyed session is inert: empty reads, false writes, ignored setters, no throw', (t, engine) => {
  const { manager } = makeManager(engine)
  const regenerations: string[] = []
  manager.on('regenerate', (_s, oldId) => regenerations.push(oldId))
  const session = manager.create({ user: 'ann', roles: ['admin'], data: { theme: 'dark' } })
  t.is(session.closeReason, undefined, 'undefined while open')
  t.true(session.set('lang', 'en'), 'set returns true on an open session')
  t.true(session.putObject('socket', {}))
  const other = manager.get(session.id)!
  const id = session.id
  t.true(session.close())
  for (const handle of [session, other]) {
    assertInert(t, handle)
    t.is(handle.closeReason, 'destroyed')
    t.is(handle.id, id)
    t.true(Number.isNaN(handle.createdAt) && Number.isNaN(handle.lastActivity) && Number.isNaN(handle.expiresAt))
    t.true(Number.isNaN(handle.idleTimeout) && Number.isNaN(handle.absoluteTimeout))
  }
  t.deepEqual(regenerations, [], 'no regenerate event for a closed session')
  t.is(manager.get(id), undefined, 'nothing revived it')
  t.is(manager.size, 0)
  t.false(session.close())
  manager.close()
})

forEachEngine(test, 'arguments are still validated on a closed session', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  session.close()
  t.throws(() => session.set('k', undefined as never), { instanceOf: TypeError, message: /the value of "k" must be a JSON value/ })
  t.throws(() => session.get(undefined as never), { instanceOf: TypeError, message: /key must be a string/ })
  t.throws(() => { session.idleTimeout = -1 }, { instanceOf: RangeError, message: /idleTimeout/ })
  t.throws(() => session.putObject('k', {}, 'nope' as never), { instanceOf: TypeError, message: /dispose/ })
  manager.close()
})

forEachEngine(test, 'putObject on a closed session disposes the value at once and keeps nothing', async (t, engine) => {
  const { manager } = makeManager(engine)
  const disposed: string[] = []
  const errors: unknown[] = []
  manager.on('error', (error) => errors.push(error))
  const session = manager.create()
  session.putObject('kept', { name: 'kept' }, (value) => disposed.push(value.name))
  session.close()
  t.deepEqual(disposed, ['kept'])
  t.false(session.putObject('late', { name: 'by callback' }, (value) => disposed.push(value.name)))
  t.false(session.putObject('late', { [Symbol.dispose]: () => disposed.push('by Symbol.dispose') }))
  t.false(session.putObject('late', { [Symbol.asyncDispose]: async () => { disposed.push('by Symbol.asyncDispose') } }))
  t.false(session.putObject('late', {}, () => { throw new Error('disposer failed') }))
  await new Promise((resolve) => setImmediate(resolve))
  t.deepEqual(disposed, ['kept', 'by callback', 'by Symbol.dispose', 'by Symbol.asyncDispose'])
  t.deepEqual(errors.map((error) => (error as Error).message), ['disposer failed'], 'a failing disposer is reported, not thrown')
  t.is(session.getObject('late'), undefined)
  manager.close()
})

forEachEngine(test, 'putObject from a close listener disposes at once and leaves the session\'s own objects alone', (t, engine) => {
  const { manager } = makeManager(engine)
  const log: string[] = []
  manager.on('close', (s) => {
    t.false(s.putObject('socket', 'replacement', () => log.push('replacement disposed')))
    t.false(s.removeObject('socket'))
    log.push(`listener sees ${String(s.getObject('socket'))}`)
  })
  const session = manager.create()
  session.putObject('socket', 'original', () => log.push('original disposed'))
  session.close()
  t.deepEqual(log, ['replacement disposed', 'listener sees original', 'original disposed'])
  manager.close()
})

forEachEngine(test, 'a session past its deadline is closed at once, reason expired, before the sweep; reads are empty', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 1000 })
  const seen: unknown[] = []
  manager.on('close', (s, reason) => seen.push({ reason, closeReason: s.closeReason, user: s.user, theme: s.get('theme') }))
  const session = manager.create({ user: 'ann', data: { theme: 'dark' } })
  const deadline = session.expiresAt
  clock.advance(1000)
  t.true(session.closed)
  t.is(session.closeReason, 'expired')
  assertInert(t, session)
  t.is(session.expiresAt, deadline, 'timestamps stay readable while the engine still holds it')
  t.is(session.idleTimeout, 1000, 'the ignored setter changed nothing')
  t.is(manager.get(session.id), undefined, 'nothing revived it')
  t.deepEqual(seen, [])
  t.is(manager.sweep(), 1)
  t.deepEqual(seen, [{ reason: 'expired', closeReason: 'expired', user: 'ann', theme: 'dark' }], 'the close listener still reads it')
  t.is(session.closeReason, 'expired')
  manager.close()
})

forEachEngine(test, 'closeReason tells every reason, also after the slot was reused', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 100, maxSessions: 2 })
  const destroyed = manager.create()
  t.true(manager.destroy(destroyed.id))
  const evicted = manager.create()
  manager.create()
  manager.create()
  t.is(evicted.closeReason, 'evicted')
  // The sweep frees expired sessions inside the engine when nobody listens: no record is made.
  clock.advance(100)
  t.is(manager.sweep(), 2)
  const survivor = manager.create()
  const handles: Session[] = []
  for (let index = 0; index < 5; index++) {
    const churn = manager.create()
    handles.push(churn)
    churn.close()
  }
  const shutdown = manager.create()
  manager.close()
  const reasons: Record<string, CloseReason | undefined> = {
    destroyed: destroyed.closeReason, evicted: evicted.closeReason, survivor: survivor.closeReason, shutdown: shutdown.closeReason,
  }
  t.deepEqual(reasons, { destroyed: 'destroyed', evicted: 'evicted', survivor: 'shutdown', shutdown: 'shutdown' })
  t.true(handles.every((handle) => handle.closeReason === 'destroyed'))
  t.is(slotOf(handles[0].handle), slotOf(handles[4].handle), 'the churn reused one slot')
  manager.close()
})

forEachEngine(test, 'closeReason of a session freed by the sweep inside the engine is expired, after its slot was reused and closed again', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 100 })
  const expired = manager.create()
  clock.advance(100)
  t.is(manager.sweep(), 1)
  const reuse = manager.create()
  t.is(slotOf(reuse.handle), slotOf(expired.handle))
  reuse.close()
  t.is(reuse.closeReason, 'destroyed')
  t.is(expired.closeReason, 'expired')
  manager.close()
})

forEachEngine(test, 'closeReason is kept for 10^4 sessions closed far from slot order, across pages of records, and for the churn of one slot', (t, engine) => {
  // The records live in pages of 4,096 slots made on a slot's first close: closes that start at
  // the highest slot, then fill in below it, then reuse slots, must all read back.
  const { manager, clock } = makeManager(engine, { idleTimeout: 1000 })
  const count = 10_000
  const sessions = Array.from({ length: count }, () => manager.create())
  const expected: CloseReason[] = new Array(count)
  for (let index = count - 1; index >= 0; index -= 3) {
    t.true(manager.destroy(sessions[index].id))
    expected[index] = 'destroyed'
  }
  // The rest expire, read by a listener so that the sweep records them.
  manager.on('close', () => {})
  clock.advance(1000)
  manager.sweep()
  for (let index = 0; index < count; index++) expected[index] ??= 'expired'
  // Churn: the freed slots are reused and closed again; the first sessions' reasons stay.
  const churn: Session[] = []
  for (let index = 0; index < 64; index++) {
    const session = manager.create()
    churn.push(session)
    session.close()
  }
  const wrong = sessions.map((session, index) => [index, session.closeReason, expected[index]] as const)
    .filter(([, reason, wanted]) => reason !== wanted)
  t.deepEqual(wrong.slice(0, 5), [])
  t.true(churn.every((session) => session.closeReason === 'destroyed'))
  t.true(Math.max(...sessions.map((session) => slotOf(session.handle))) >= 4096 * 2, 'the sessions span three pages')
  manager.close()
})

forEachEngine(test, 'current() is undefined once the session is closed, and the closed handle stays inert inside run()', (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create({ user: 'ann' })
  manager.run(session, () => {
    manager.destroy(session.id)
    t.is(manager.current(), undefined)
    t.is(session.user, undefined)
    t.false(session.set('k', 'v'))
  })
  manager.close()
})
