import test from 'ava'
import { setTimeout as sleep } from 'node:timers/promises'
import { SessionManager } from '../ts/index'
import { forEachEngine, makeManager } from './helpers'

forEachEngine(test, 'an idle session is alive until its deadline and gone at it, even before the sweep', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 1000 })
  const closes: string[] = []
  manager.on('close', (_s, reason) => closes.push(reason))
  const session = manager.create()
  clock.advance(999)
  t.truthy(manager.peek(session.id))
  clock.advance(1)
  t.is(manager.get(session.id), undefined)
  t.false(manager.has(session.id))
  t.false(manager.destroy(session.id))
  t.false(session.touch())
  t.true(session.closed, 'closed for every call at its deadline')
  t.false(session.set('k', 'v'), 'a write to an expired session changes nothing')
  session.idleTimeout = 10_000
  t.is(manager.get(session.id), undefined, 'a setter cannot revive it')
  t.deepEqual(closes, [], 'the close event waits for the sweep')
  t.is(manager.size, 1)
  t.is(manager.sweep(), 1)
  t.deepEqual(closes, ['expired'])
  t.true(session.closed)
  manager.close()
})

forEachEngine(test, 'closing an expired session closes it with reason expired and returns false', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 100 })
  const reasons: string[] = []
  manager.on('close', (_s, reason) => reasons.push(reason))
  const session = manager.create()
  clock.advance(100)
  t.false(session.close())
  t.deepEqual(reasons, ['expired'])
  t.is(manager.sweep(), 0)
  manager.close()
})

forEachEngine(test, 'current() is undefined once its session has expired', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 100 })
  const session = manager.create()
  manager.run(session, () => {
    t.is(manager.current()?.id, session.id)
    clock.advance(100)
    t.is(manager.current(), undefined)
  })
  manager.close()
})

forEachEngine(test, 'use renews the idle deadline (rolling)', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 1000 })
  const session = manager.create()
  for (let step = 0; step < 10; step++) {
    clock.advance(900)
    t.truthy(manager.get(session.id))
    t.is(manager.sweep(), 0)
  }
  clock.advance(900)
  t.true(session.touch())
  clock.advance(1000)
  t.is(manager.get(session.id), undefined)
  manager.close()
})

forEachEngine(test, 'the absolute timeout ends a session however much it is used', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 1000, absoluteTimeout: 2500 })
  const session = manager.create()
  clock.advance(900); manager.get(session.id)
  clock.advance(900); manager.get(session.id)
  t.is(session.expiresAt, session.createdAt + 2500)
  clock.advance(699)
  t.truthy(manager.get(session.id))
  clock.advance(1)
  t.is(manager.get(session.id), undefined)
  manager.close()
})

forEachEngine(test, 'per-session timeouts from create and setters, 0 meaning none', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 1000 })
  const forever = manager.create({ idleTimeout: 0 })
  const short = manager.create({ idleTimeout: 10 })
  const capped = manager.create()
  t.is(forever.expiresAt, Infinity)
  t.is(forever.idleTimeout, 0)
  t.is(short.idleTimeout, 10)
  capped.absoluteTimeout = 50
  t.is(capped.absoluteTimeout, 50)
  t.is(capped.expiresAt, capped.createdAt + 50)
  clock.advance(20)
  t.is(manager.sweep(), 1)
  t.true(short.closed)
  clock.advance(40)
  t.is(manager.sweep(), 1)
  t.true(capped.closed)
  clock.advance(10 ** 9)
  t.is(manager.sweep(), 0)
  t.false(forever.closed)
  forever.idleTimeout = 5
  t.is(forever.expiresAt, forever.lastActivity + 5)
  t.is(manager.sweep(), 1)
  manager.close()
})

forEachEngine(test, 'a setter that shortens the deadline below older sessions is honoured by the sweep', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 10_000 })
  const sessions = Array.from({ length: 20 }, () => { clock.advance(1); return manager.create() })
  sessions[15].idleTimeout = 5
  clock.advance(5)
  t.is(manager.sweep(), 1)
  t.true(sessions[15].closed)
  t.is(manager.size, 19)
  manager.close()
})

forEachEngine(test, 'an absolute timeout set on an older session is honoured before newer ones', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 0 })
  const older = manager.create()
  clock.advance(10)
  const newer = manager.create({ absoluteTimeout: 100 })
  older.absoluteTimeout = 100
  clock.advance(90)
  t.is(manager.sweep(), 1)
  t.true(older.closed)
  t.false(newer.closed)
  t.is(manager.sweep(), 0)
  clock.advance(10)
  t.is(manager.sweep(), 1)
  manager.close()
})

forEachEngine(test, 'the background timer closes expired sessions within resolution, on real time', async (t, engine) => {
  const manager = new SessionManager({ engine, idleTimeout: 30, resolution: 10 })
  const closed: string[] = []
  manager.on('close', (session, reason) => closed.push(`${session.id}:${reason}`))
  const session = manager.create()
  const keep = manager.create({ idleTimeout: 0 })
  for (let waited = 0; waited < 5000 && closed.length === 0; waited += 10) await sleep(10)
  t.deepEqual(closed, [`${session.id}:expired`])
  t.false(keep.closed)
  manager.close()
})

forEachEngine(test, 'mass expiry in the background is sliced and closes everything', async (t, engine) => {
  const manager = new SessionManager({ engine, idleTimeout: 20, resolution: 5 })
  for (let index = 0; index < 50_000; index++) manager.create()
  for (let waited = 0; waited < 20_000 && manager.size > 0; waited += 10) await sleep(10)
  t.is(manager.size, 0)
  t.is(manager.stats().closed.expired, 50_000)
  manager.close()
})

forEachEngine(test, 'a background slice closes fewer sessions per batch when each close is slow, so it ends near its millisecond', async (t, engine) => {
  let now = 1_700_000_000_000
  const manager = new SessionManager({ engine, clock: () => now, idleTimeout: 60_000, resolution: 1 })
  t.teardown(() => manager.close())
  for (let index = 0; index < 120; index++) manager.create()
  // Closes in one turn of the event loop: a slice checks the time only between its batches.
  const perTurn: number[] = []
  manager.on('close', () => {
    if (perTurn.length === 0 || perTurn.at(-1) === -1) {
      perTurn.push(0)
      queueMicrotask(() => perTurn.push(-1))
    }
    perTurn[perTurn.length - 1]++
    // A listener that takes 2 ms: a batch of 256 such closes blocked the loop for half a second.
    const until = performance.now() + 2
    while (performance.now() < until);
  })
  manager.create().idleTimeout = 1
  now += 3_600_000
  for (let waited = 0; waited < 20_000 && manager.size > 0; waited += 10) await sleep(10)
  t.is(manager.size, 0)
  const turns = perTurn.filter((closes) => closes >= 0)
  // The first batch knows nothing of the cost (16); every later one closes a single session.
  t.true(turns[0] <= 16 && turns.slice(1).every((closes) => closes === 1), `closes per turn: ${turns.join(', ')}`)
})
