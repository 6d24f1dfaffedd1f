import test from 'ava'
import { ManagerClosedError, SessionExistsError, SessionLimitError, type SessionManager } from '../ts/index'
import { forEachEngine, makeManager } from './helpers'

/** Every way a create makes room runs close listeners; each must leave nothing open in a closed manager. */
function closesOnFirstClose(manager: SessionManager): void {
  manager.once('close', () => manager.close())
}

forEachEngine(test, 'a close listener that closes the manager while create evicts fails that create cleanly', (t, engine) => {
  const { manager } = makeManager(engine, { maxSessions: 2 })
  manager.create()
  manager.create()
  closesOnFirstClose(manager)
  t.throws(() => manager.create(), { instanceOf: ManagerClosedError })
  t.is(manager.size, 0, 'no session is left open inside the closed manager')
  t.is(manager.stats().created, 2)
})

forEachEngine(test, 'a close listener that closes the manager while create clears expired sessions at the limit', (t, engine) => {
  const { manager, clock } = makeManager(engine, { maxSessions: 2, whenFull: 'reject', idleTimeout: 10 })
  manager.create()
  manager.create()
  clock.advance(10)
  closesOnFirstClose(manager)
  t.throws(() => manager.create(), { instanceOf: ManagerClosedError })
  t.is(manager.size, 0)
})

forEachEngine(test, 'a close listener that closes the manager while create reclaims an expired caller key', (t, engine) => {
  const { manager, clock } = makeManager(engine, { keys: 'caller', idleTimeout: 10 })
  manager.create({ key: 'peer-1' })
  clock.advance(10)
  closesOnFirstClose(manager)
  t.throws(() => manager.create({ key: 'peer-1' }), { instanceOf: ManagerClosedError })
  t.is(manager.size, 0)
})

for (const whenFull of ['evict', 'reject'] as const) {
  forEachEngine(test, `the room expired sessions leave belongs to the create that cleared them (whenFull: '${whenFull}')`, (t, engine) => {
    const { manager, clock } = makeManager(engine, { maxSessions: 2, whenFull })
    const errors: unknown[] = []
    manager.on('error', (error) => errors.push(error))
    manager.create({ idleTimeout: 10 })
    const live = manager.create({ user: 'live', idleTimeout: 0 })
    clock.advance(10)
    const reasons: string[] = []
    manager.on('close', (_session, reason) => {
      reasons.push(reason)
      if (reason === 'expired') manager.create({ user: 'from a listener' })
    })
    const made = manager.create({ user: 'outer' })
    t.is(made.user, 'outer')
    t.false(live.closed, 'no live session is evicted for the listener')
    t.deepEqual(reasons, ['expired'])
    t.is(errors.length, 1)
    t.true(errors[0] instanceof SessionLimitError)
    t.deepEqual([...manager].map((session) => session.user).sort(), ['live', 'outer'])
    t.is(manager.stats().rejected, 1)
    manager.close()
  })
}

forEachEngine(test, 'a create from a close listener may take the room left beyond the outer create', (t, engine) => {
  const { manager, clock } = makeManager(engine, { maxSessions: 3, whenFull: 'reject', idleTimeout: 10 })
  for (let index = 0; index < 3; index++) manager.create()
  clock.advance(10)
  const nested: string[] = []
  manager.on('close', () => {
    try {
      manager.create({ user: 'nested' })
      nested.push('made')
    } catch (error) {
      nested.push((error as Error).name)
    }
  })
  t.is(manager.create({ user: 'outer' }).user, 'outer')
  t.deepEqual(nested, ['made', 'made', 'SessionLimitError'])
  t.is(manager.size, 3)
  manager.close()
})

forEachEngine(test, 'a caller key reclaimed from an expired session belongs to the create that reclaimed it', (t, engine) => {
  const { manager, clock } = makeManager(engine, { keys: 'caller', idleTimeout: 10 })
  const errors: unknown[] = []
  manager.on('error', (error) => errors.push(error))
  manager.create({ key: 'peer-1', user: 'old' })
  clock.advance(10)
  manager.on('close', () => manager.create({ key: 'peer-1', user: 'from a listener' }))
  const made = manager.create({ key: 'peer-1', user: 'outer' })
  t.is(made.user, 'outer')
  t.is(manager.get('peer-1')?.user, 'outer')
  t.true(errors[0] instanceof SessionExistsError)
  manager.close()
})

forEachEngine(test, 'getOrCreate at the limit follows the same rules', (t, engine) => {
  const { manager } = makeManager(engine, { maxSessions: 1 })
  manager.create()
  closesOnFirstClose(manager)
  t.throws(() => manager.getOrCreate('AAAAAAAAAAAAAAAAAAAAAA'), { instanceOf: ManagerClosedError })
  t.is(manager.size, 0)
})
