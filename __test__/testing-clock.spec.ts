/**
 * Issue 17, item 5: `sessionkeeper/testing`'s TestClock lets an app's tests expire sessions
 * without sleeping: advance(ms) runs the sweeps that come due, at each deadline, in order.
 */
import test from 'ava'
import { SessionManager } from '../ts/index'
import { TestClock } from '../ts/testing'

for (const engine of ['native', 'js'] as const) {
  test(`advance runs the sweeps that come due, close listeners see the deadline's time [${engine}]`, (t) => {
    const clock = new TestClock(1_000_000)
    const manager = clock.track(new SessionManager({ engine, clock: clock.now, idleTimeout: 60_000, resolution: 1000 }))
    const closes: [string, string, number][] = []
    manager.on('close', (session, reason) => closes.push([session.user ?? '', reason, clock.now()]))
    const a = manager.create({ user: 'a' })
    clock.advance(10_000)
    const b = manager.create({ user: 'b', idleTimeout: 5_000 })
    t.is(clock.advance(4_999), 0)
    t.deepEqual(closes, [])
    t.is(clock.advance(100_000), 2)
    t.deepEqual(closes.map(([user, reason]) => [user, reason]), [['b', 'expired'], ['a', 'expired']])
    t.is(closes[0][2], 1_015_000, 'b closed at its deadline')
    t.is(closes[1][2], 1_060_000, 'a closed at its deadline')
    t.is(clock.now(), 1_114_999)
    t.is(a.closeReason, 'expired')
    t.is(b.closeReason, 'expired')
    t.is(manager.stats().closed.expired, 2)
    manager.close()
  })

  test(`a renewed session outlives the advance that would have expired it, and closed managers are dropped [${engine}]`, (t) => {
    const clock = new TestClock()
    const manager = clock.track(new SessionManager({ engine, clock: clock.now, idleTimeout: 1_000 }))
    const session = manager.create()
    clock.advance(900)
    t.truthy(manager.get(session.id))
    clock.advance(900)
    t.false(session.closed)
    clock.advance(100)
    t.is(session.closeReason, 'expired')
    manager.close()
    t.is(clock.advance(1_000), 0)
  })
}

test('advance and set refuse time that is not a forward safe integer', (t) => {
  const clock = new TestClock(0)
  t.throws(() => clock.advance(-1), { instanceOf: RangeError })
  t.throws(() => clock.advance(Number.NaN), { instanceOf: RangeError })
  clock.set(50)
  t.throws(() => clock.set(10), { instanceOf: RangeError })
  t.throws(() => clock.track({} as never), { instanceOf: TypeError })
  t.is(clock.now(), 50)
})
