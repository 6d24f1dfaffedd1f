/**
 * maxSessionsPerUser and closeUser when listeners re-enter the manager mid-close. A sweep takes a
 * whole batch of expired sessions out of the engine before it closes them one by one: a close
 * listener of one that makes a session of a user whose expired sessions come later in the batch
 * must not find them counted against the cap (they can be neither closed as expired nor evicted).
 */
import test from 'ava'
import { type CloseReason, type Session, SessionManager } from '../ts/index'
import { forEachEngine, makeManager } from './helpers'

/**
 * Ada has one expired session and one live one, behind an anonymous visitor's expired session
 * whose close listener logs ada in again; all expired ones close in one sweep batch.
 */
function setUp(engine: 'native' | 'js', liveIsOlder: boolean, whenUserFull: 'evict-oldest' | 'reject' = 'evict-oldest') {
  let now = 1_700_000_000_000
  const manager = new SessionManager({ engine, clock: () => now, idleTimeout: 1000, maxSessionsPerUser: 2, whenUserFull })
  let made: Session | undefined
  let thrown: unknown
  manager.on('close', (session) => {
    if (session.get('n') !== 'visitor') return
    try {
      made = manager.create({ user: 'ada', data: { n: 'new' } })
    } catch (error) {
      thrown = error
    }
  })
  manager.create({ data: { n: 'visitor' } })
  now += 1
  const first = manager.create({ user: 'ada', data: { n: liveIsOlder ? 'live' : 'stale' }, idleTimeout: liveIsOlder ? 100_000 : 1000 })
  now += 1
  const second = manager.create({ user: 'ada', data: { n: liveIsOlder ? 'stale' : 'live' }, idleTimeout: liveIsOlder ? 1000 : 100_000 })
  now += 1000
  const [live, stale] = liveIsOlder ? [first, second] : [second, first]
  manager.sweep()
  return { manager, live, stale, made, thrown }
}

forEachEngine(test, 'a login from a close listener in a sweep finds the room an expired session of the same batch frees', (t, engine) => {
  const run = setUp(engine, false)
  t.is(run.thrown, undefined)
  t.truthy(run.made)
  t.is(run.stale.closeReason, 'expired')
  t.false(run.live.closed)
  t.deepEqual(run.manager.sessionsOf('ada').map((session) => session.get('n')), ['live', 'new'])
  // Nothing was evicted, and the counts agree.
  const stats = run.manager.stats()
  t.is(stats.closed.evicted, 0)
  t.deepEqual(stats.userLimit, { evicted: 0, rejected: 0 })
})

forEachEngine(test, 'no live session is evicted for a place an expired session of the sweep\'s batch frees', (t, engine) => {
  const run = setUp(engine, true)
  t.is(run.live.closeReason, undefined)
  t.is(run.stale.closeReason, 'expired')
  t.deepEqual(run.manager.sessionsOf('ada').map((session) => session.get('n')), ['live', 'new'])
})

forEachEngine(test, "whenUserFull 'reject' admits a login from a close listener when the sweep's batch frees a place", (t, engine) => {
  const run = setUp(engine, false, 'reject')
  t.is(run.thrown, undefined)
  t.is(run.manager.sessionsOf('ada').length, 2)
  t.is(run.manager.stats().userLimit.rejected, 0)
})

forEachEngine(test, "closeUser: an except past its deadline excepts nothing and closes as 'expired' with the user's others", (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 1000 })
  const events: [string, CloseReason][] = []
  manager.on('close', (session, reason) => events.push([session.get('n') as string, reason]))
  const phone = manager.create({ user: 'ada', data: { n: 'phone' } })
  const laptop = manager.create({ user: 'ada', data: { n: 'laptop' } })
  clock.advance(1000)
  t.is(phone.closeReason, 'expired')
  t.is(manager.closeUser('ada', { except: phone }), 0)
  t.deepEqual(events, [['phone', 'expired'], ['laptop', 'expired']])
  t.is(manager.size, 0)
  t.true(laptop.closed)
})
