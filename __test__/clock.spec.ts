import test from 'ava'
import { SessionManager } from '../ts/index'
import { ENGINES, FakeClock, forEachEngine, makeManager } from './helpers'

const MINUTE = 60_000

forEachEngine(test, 'a clock stepped back strands no session: close() closes and disposes every one', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: MINUTE })
  const reasons = new Map<string, number>()
  manager.on('close', (_session, reason) => reasons.set(reason, (reasons.get(reason) ?? 0) + 1))
  let disposed = 0
  manager.create().putObject('socket', {}, () => disposed++)
  clock.advance(-10 * MINUTE)
  for (let index = 0; index < 1000; index++) manager.create().putObject('socket', {}, () => disposed++)
  clock.advance(2 * MINUTE)
  manager.close()
  t.is(manager.size, 0)
  t.is(disposed, 1001)
  t.deepEqual([...reasons], [['shutdown', 1001]])
})

forEachEngine(test, 'time never goes backwards: sessions made during a step back expire once the clock catches up', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: MINUTE })
  const first = manager.create()
  clock.advance(-10 * MINUTE)
  const later = Array.from({ length: 1000 }, () => manager.create())
  t.is(later[0].createdAt, first.createdAt, 'the latest reading is used while the clock is behind it')
  t.is(later[0].expiresAt, first.createdAt + MINUTE)
  clock.advance(10 * MINUTE + MINUTE - 1)
  t.is(manager.sweep(), 0, 'expiry is never early')
  clock.advance(1)
  t.is(manager.sweep(), 1001)
  t.is(manager.size, 0)
  manager.close()
})

forEachEngine(test, 'a bad clock reading is reported once and replaced by the latest good one', (t, engine) => {
  const clock = new FakeClock()
  let next: unknown
  const read = (): number => {
    const reading = next ?? clock.now
    next = undefined
    return reading as number
  }
  const manager = new SessionManager({ engine, clock: read, idleTimeout: 1000 })
  const errors: unknown[] = []
  manager.on('error', (error) => errors.push(error))
  const good = clock.now
  for (const bad of [Number.NaN, Infinity, -Infinity, 2 ** 53 + 2, '1700000000000', undefined, null]) {
    next = bad ?? 'absent'
    const session = manager.create()
    t.is(session.createdAt, good, `reading ${String(bad)}`)
    t.is(session.expiresAt, good + 1000, `reading ${String(bad)}`)
    manager.sweep() // a good reading: the next bad one starts a new run
  }
  t.is(manager.stats().clockErrors, 7)
  t.is(errors.length, 7, 'each bad reading between good ones is reported')
  t.true(errors.every((error) => error instanceof RangeError && /options\.clock returned/.test(error.message)))
  clock.advance(1000)
  t.is(manager.sweep(), 7, 'sessions made during bad readings expire on time')
  manager.close()
})

forEachEngine(test, 'a clock stuck on NaN is reported once, not once per call', (t, engine) => {
  let broken = false
  const clock = new FakeClock()
  const manager = new SessionManager({ engine, clock: () => (broken ? Number.NaN : clock.now), idleTimeout: 1000 })
  const errors: unknown[] = []
  manager.on('error', (error) => errors.push(error))
  const session = manager.create()
  broken = true
  for (let index = 0; index < 100; index++) manager.get(session.id)
  t.is(errors.length, 1)
  t.is(manager.stats().clockErrors, 100)
  broken = false
  clock.advance(1000)
  t.is(manager.sweep(), 1)
  manager.close()
})

forEachEngine(test, 'a clock that throws on its first reading, or returns no time, is refused at construction', (t, engine) => {
  t.throws(() => new SessionManager({ engine, clock: () => { throw new Error('no time') } }), {
    instanceOf: TypeError, message: /options\.clock threw/,
  })
  t.throws(() => new SessionManager({ engine, clock: () => Number.NaN }), {
    instanceOf: RangeError, message: /options\.clock must return a finite safe number/,
  })
  t.throws(() => new SessionManager({ engine, clock: (() => '5') as unknown as () => number }), { instanceOf: RangeError })
})

forEachEngine(test, 'a clock that throws during background expiry is reported and expiry goes on', async (t, engine) => {
  const clock = new FakeClock()
  let throwing = false
  const read = (): number => {
    if (throwing) throw new Error('clock source unavailable')
    return clock.now
  }
  const manager = new SessionManager({ engine, clock: read, idleTimeout: 20, resolution: 1 })
  const errors: unknown[] = []
  manager.on('error', (error) => errors.push(error))
  const closed = new Promise<string>((resolve) => manager.on('close', (_session, reason) => resolve(reason)))
  manager.create()
  throwing = true
  // Real time passes while the clock throws: the background timer wakes and must survive it.
  await new Promise((resolve) => setTimeout(resolve, 60))
  t.true(errors.length >= 1)
  t.true(errors[0] instanceof Error && /options\.clock threw/.test((errors[0] as Error).message))
  t.is(((errors[0] as Error).cause as Error).message, 'clock source unavailable')
  throwing = false
  clock.advance(20)
  // The manager's timers are unref'd: this one keeps the test process waiting for them.
  const keepAlive = setTimeout(() => {}, 60_000)
  t.is(await closed, 'expired', 'the next wake-up after the clock recovers expires the session')
  clearTimeout(keepAlive)
  manager.close()
})

// Serial: the warning listener is process-wide, so another test's warnings must not reach it.
for (const engine of ENGINES) test.serial(`without an error listener a bad clock reading becomes a process warning [${engine}]`, async (t) => {
  let bad = false
  const clock = new FakeClock()
  const manager = new SessionManager({ engine, clock: () => (bad ? Number.NaN : clock.now) })
  const warnings: Error[] = []
  const onWarning = (warning: Error) => warnings.push(warning)
  process.on('warning', onWarning)
  try {
    bad = true
    manager.create()
    await new Promise((resolve) => setImmediate(resolve))
    const ours = warnings.filter((warning) => warning.name === 'SessionkeeperClockError')
    t.is(ours.length, 1)
    t.is((ours[0] as Error & { code?: string }).code, 'SESSIONKEEPER_CLOCK_ERROR')
  } finally {
    process.off('warning', onWarning)
    manager.close()
  }
})

forEachEngine(test, 'close() closes expired sessions the sweep has not reached as expired, the rest as shutdown', (t, engine) => {
  const { manager, clock } = makeManager(engine)
  const reasons: string[] = []
  manager.on('close', (session, reason) => reasons.push(`${session.user} ${reason}`))
  manager.create({ user: 'long', idleTimeout: 10_000 })
  manager.create({ user: 'short', idleTimeout: 10 })
  manager.create({ user: 'none', idleTimeout: 0 })
  clock.advance(100)
  manager.close()
  t.deepEqual(reasons.sort(), ['long shutdown', 'none shutdown', 'short expired'])
})
