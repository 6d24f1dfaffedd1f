import test from 'ava'
import { ManagerClosedError, SessionExistsError, SessionLimitError, SessionManager } from '../ts/index'
import { ENGINES, FakeClock, forEachEngine, makeManager } from './helpers'

// Attacks on the issue 9 fixes (clock, room-making, strict input, inert closed sessions) through
// the public API, on both engines. Each test names the defect it pins; see the review report.

// --- A create must never leave a session inside a manager that closed under it -------------

forEachEngine(test, 'a create whose init getter closes the manager fails with ManagerClosedError and leaves nothing open', (t, engine) => {
  const { manager } = makeManager(engine)
  const init = {
    get user() {
      manager.close()
      return 'alice'
    },
  }
  t.throws(() => manager.create(init), { instanceOf: ManagerClosedError })
  t.is(manager.size, 0, 'no session is left open inside the closed manager')
  t.is(manager.stats().created, 0)
})

forEachEngine(test, 'getOrCreate whose init getter closes the manager fails with ManagerClosedError', (t, engine) => {
  const { manager } = makeManager(engine, { keys: 'caller' })
  const init = {
    get idleTimeout() {
      manager.close()
      return 1000
    },
  }
  t.throws(() => manager.getOrCreate('peer-1', init), { instanceOf: ManagerClosedError })
  t.is(manager.size, 0)
})

forEachEngine(test, "an 'error' listener that closes the manager on a bad clock reading fails the create that read it", (t, engine) => {
  const clock = new FakeClock()
  let broken = false
  const manager = new SessionManager({ engine, clock: () => (broken ? Number.NaN : clock.now) })
  const made: string[] = []
  manager.on('create', (session) => made.push(session.id))
  manager.on('error', () => manager.close())
  broken = true
  t.throws(() => manager.create(), { instanceOf: ManagerClosedError })
  t.is(manager.size, 0, 'no session is left open inside the closed manager')
  t.deepEqual(made, [], 'no create event for a session of a closed manager')
  t.is(manager.stats().created, 0)
})

// --- The room (and the key) an expired caller key's holder leaves belong to the reclaiming create

for (const whenFull of ['evict', 'reject'] as const) {
  forEachEngine(test, `the room an expired caller key's holder leaves belongs to the create that reclaimed it (whenFull: '${whenFull}')`, (t, engine) => {
    const { manager, clock } = makeManager(engine, { keys: 'caller', maxSessions: 2, whenFull })
    const errors: unknown[] = []
    manager.on('error', (error) => errors.push(error))
    manager.create({ key: 'peer-1', idleTimeout: 10 })
    const live = manager.create({ key: 'live', idleTimeout: 0 })
    clock.advance(10)
    manager.on('close', (_session, reason) => {
      if (reason === 'expired') manager.create({ key: 'from-a-listener' })
    })
    const made = manager.create({ key: 'peer-1', user: 'outer' })
    t.is(made.user, 'outer')
    t.false(live.closed, 'no live session is evicted for the listener')
    t.is(errors.length, 1)
    t.true(errors[0] instanceof SessionLimitError)
    t.deepEqual([...manager].map((session) => session.id).sort(), ['live', 'peer-1'])
    manager.close()
  })
}

forEachEngine(test, 'regenerate from a close listener cannot take the caller key a create is reclaiming', (t, engine) => {
  const { manager, clock } = makeManager(engine, { keys: 'caller' })
  const errors: unknown[] = []
  manager.on('error', (error) => errors.push(error))
  manager.create({ key: 'peer-1', idleTimeout: 10 })
  const mover = manager.create({ key: 'mover', idleTimeout: 0 })
  clock.advance(10)
  manager.on('close', (session) => {
    if (session.id === 'peer-1') mover.regenerate('peer-1')
  })
  const made = manager.create({ key: 'peer-1', user: 'outer' })
  t.is(made.user, 'outer')
  t.is(manager.get('peer-1')?.user, 'outer')
  t.is(mover.id, 'mover', 'the listener did not move its session onto the claimed key')
  t.true(errors[0] instanceof SessionExistsError)
  manager.close()
})

forEachEngine(test, 'a create from a close listener cannot take the caller key a regenerate is reclaiming', (t, engine) => {
  const { manager, clock } = makeManager(engine, { keys: 'caller' })
  const errors: unknown[] = []
  manager.on('error', (error) => errors.push(error))
  manager.create({ key: 'peer-1', idleTimeout: 10 })
  const mover = manager.create({ key: 'mover', idleTimeout: 0, user: 'mover' })
  clock.advance(10)
  manager.on('close', (session) => {
    if (session.id === 'peer-1') manager.create({ key: 'peer-1', user: 'from a listener' })
  })
  t.is(mover.regenerate('peer-1'), 'peer-1')
  t.is(manager.get('peer-1')?.user, 'mover')
  t.true(errors[0] instanceof SessionExistsError)
  manager.close()
})

// --- Strict input ---------------------------------------------------------------------------

forEachEngine(test, 'roles with a hole are refused before anything is stored, on create and on the setter', (t, engine) => {
  const { manager } = makeManager(engine)
  const created: unknown[] = []
  manager.on('create', (session) => created.push(session))
  // eslint-disable-next-line no-sparse-arrays
  const holey = [, 'admin'] as unknown as string[]
  t.throws(() => manager.create({ roles: holey }), { instanceOf: TypeError, message: /roles\[0\]/ })
  t.is(manager.size, 0, 'no session without a create event')
  t.is(manager.stats().created, 0)
  t.deepEqual(created, [])
  const session = manager.create({ roles: ['user'] })
  t.throws(() => {
    session.roles = holey
  }, { instanceOf: TypeError })
  t.deepEqual(session.roles, ['user'])
  manager.close()
})

test('an event name that cannot be described is still a RangeError', (t) => {
  const manager = new SessionManager({ engine: 'js' })
  const revoked = Proxy.revocable({}, {})
  revoked.revoke()
  class Hostile {
    static get name(): string {
      throw new Error('name getter')
    }
  }
  const trap = new Proxy({}, {
    getPrototypeOf() {
      throw new Error('getPrototypeOf trap')
    },
  })
  for (const event of [revoked.proxy, new Hostile(), trap]) {
    t.throws(() => manager.on(event as never, () => {}), { instanceOf: RangeError })
    t.throws(() => manager.once(event as never, () => {}), { instanceOf: RangeError })
  }
  manager.close()
})

forEachEngine(test, 'create reads each own property of init and init.data once, and refuses an unknown one before checking values', (t, engine) => {
  const { manager } = makeManager(engine)
  const reads: string[] = []
  const counted = <T>(name: string, value: T) => ({ enumerable: true, get: () => { reads.push(name); return value } })
  const data = Object.defineProperties({}, { cart: counted('data.cart', 'x'), hidden: { enumerable: false, value: 'y' } })
  const init = Object.defineProperties({}, { user: counted('user', 'ada'), roles: counted('roles', ['a']), data: counted('data', data) })
  const session = manager.create(init)
  t.deepEqual(reads.sort(), ['data', 'data.cart', 'roles', 'user'])
  t.is(session.user, 'ada')
  t.deepEqual(session.keys(), ['cart'], 'a non-enumerable key is not data')
  // The unknown key comes after a bad value: the unknown key is what is reported.
  t.throws(() => manager.create({ idleTimeout: -1, colour: 'red' } as never), { instanceOf: TypeError, message: /unknown option "colour"/ })
  t.is(manager.size, 1)
  manager.close()
})

forEachEngine(test, 'options and init read their own properties only: a polluted Object.prototype grants no roles', (t, engine) => {
  const proto = Object.prototype as Record<string, unknown>
  proto.roles = ['admin']
  proto.user = 'root'
  proto.maxSessions = 1
  try {
    const { manager } = makeManager(engine)
    const first = manager.create()
    const second = manager.create({})
    t.deepEqual(first.roles, [])
    t.is(second.user, undefined)
    t.false(first.closed, 'maxSessions was not taken from the prototype')
    manager.close()
    const bare = new SessionManager()
    const one = bare.create()
    bare.create()
    t.false(one.closed, 'nor by a manager made without options')
    t.deepEqual(one.roles, [])
    bare.close()
  } finally {
    delete proto.roles
    delete proto.user
    delete proto.maxSessions
  }
})

// --- closeReason is the reason the close event carries -----------------------------------------

forEachEngine(test, 'close(): a session that expires while earlier close listeners run closes as it reads, expired', (t, engine) => {
  const { manager, clock } = makeManager(engine)
  const first = manager.create({ idleTimeout: 0 })
  const later = manager.create({ idleTimeout: 100 })
  const events: string[] = []
  manager.on('close', (session, reason) => {
    events.push(`${session.id === first.id ? 'first' : 'later'}: ${reason}`)
    if (session.id === first.id) {
      clock.advance(200)
      events.push(`later reads ${later.closeReason}`)
    }
  })
  manager.close()
  t.deepEqual(events, ['first: shutdown', 'later reads expired', 'later: expired'])
  t.is(later.closeReason, 'expired')
  t.deepEqual(manager.stats().closed, { destroyed: 0, expired: 1, evicted: 0, shutdown: 1 })
})

// --- closeReason after slot reuse -------------------------------------------------------------

for (const engine of ENGINES) test(`closeReason of a destroyed session survives later sessions in its slot [${engine}]`, (t) => {
  // README: closeReason is "the reason of its 'close' event". The LIFO free stack hands the same
  // slot to the next create, so under churn a kept handle (a WebSocket holding req.session) of a
  // logged-out session sees its slot closed again and again; it must still read 'destroyed'.
  const { manager } = makeManager(engine)
  const kept = manager.create()
  kept.close()
  for (let index = 0; index < 1000; index++) manager.create().close()
  t.is(kept.closeReason, 'destroyed')
  manager.close()
})
