import test from 'ava'
import fc from 'fast-check'
import { type Engine, type EngineConfig } from '../ts/engine'
import { JsEngine } from '../ts/js-engine/engine'
import { loadNativeBinding } from '../ts/load-engine'
import { NativeEngine } from '../ts/native-engine'
import { SessionManager } from '../ts/index'
import { FakeClock, forEachEngine } from './helpers'

/*
 * The deadline wheel (docs/engine-algorithm.md "Deadline wheel"): both engines file, sweep and
 * evict in the same order, whatever the resolution and the spread of timeouts, and the JsEngine's
 * invariant checker holds after every step.
 */

const T0 = 1_700_000_000_000

function pair(config: EngineConfig): [JsEngine, Engine] {
  const binding = loadNativeBinding()
  if (binding instanceof Error) throw binding
  return [new JsEngine(config), new NativeEngine(binding, config)]
}

type Op =
  | { op: 'create'; idle: number; absolute: number }
  | { op: 'lookup'; target: number; renew: boolean }
  | { op: 'setIdle' | 'setAbsolute'; target: number; timeout: number }
  | { op: 'setUser'; target: number; user: boolean }
  | { op: 'sweep'; room: number }
  | { op: 'sweepRelease'; limit: number }
  | { op: 'evict' }
  | { op: 'release'; target: number }
  | { op: 'advance'; ms: number }

// Spread from one ms to past the 64^6-tick overflow at resolution 1, so every level is used.
const timeout = fc.oneof(
  fc.constantFrom(0, 1, 63, 64, 65, 4095, 4096, 4097, 262_144, 64 ** 6 + 3),
  fc.integer({ min: 1, max: 10_000 }),
)
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('create' as const), idle: timeout, absolute: fc.oneof(fc.constant(0), timeout) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('lookup' as const), target: fc.nat(40), renew: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('setIdle' as const, 'setAbsolute' as const), target: fc.nat(40), timeout }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('setUser' as const), target: fc.nat(40), user: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('sweep' as const), room: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('sweepRelease' as const), limit: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('evict' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('release' as const), target: fc.nat(40) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: -3, max: 100 }), fc.integer({ min: 0, max: 70_000 })) }) },
)

function run(engine: Engine, handles: number[], ids: Map<number, string>, step: Op, now: number): unknown {
  const pick = (target: number): number => handles[target % Math.max(handles.length, 1)] ?? -1
  switch (step.op) {
    case 'create': {
      const handle = engine.createWithKey(`k${handles.length}`, now, step.idle, step.absolute)
      handles.push(handle)
      ids.set(handle, `k${handles.length - 1}`)
      return handle
    }
    case 'lookup': return engine.lookup(ids.get(pick(step.target)) ?? 'none', now, step.renew)
    case 'setIdle': return [engine.setIdleTimeout(pick(step.target), step.timeout), engine.expiresAt(pick(step.target))]
    case 'setAbsolute': return [engine.setAbsoluteTimeout(pick(step.target), step.timeout), engine.expiresAt(pick(step.target))]
    case 'setUser': return engine.setUser(pick(step.target), step.user ? 'u' : undefined)
    case 'sweep': {
      const out = new Float64Array(step.room)
      const n = engine.sweep(now, out)
      for (const handle of out.subarray(0, n)) engine.release(handle)
      return [...out.subarray(0, n)]
    }
    case 'sweepRelease': return engine.sweepRelease(now, step.limit)
    case 'evict': {
      const victim = engine.evictionCandidate()
      if (victim >= 0) engine.release(victim)
      return victim
    }
    case 'release': return engine.release(pick(step.target))
    case 'advance': return undefined
  }
}

test('both engines file, sweep and evict alike at every resolution; the invariants hold after every step', (t) => {
  fc.assert(fc.property(fc.constantFrom(1, 7, 1000), fc.array(op, { maxLength: 120 }), (resolution, ops) => {
    const config: EngineConfig = { idBytes: 16, idEncoding: 'base64url', keys: 'caller', maxDataBytes: Infinity, resolution }
    const [js, native] = pair(config)
    const state = [js, native].map(() => ({ handles: [] as number[], ids: new Map<number, string>() }))
    let now = T0
    ops.forEach((step, index) => {
      if (step.op === 'advance') now += step.ms
      const expected = run(js, state[0].handles, state[0].ids, step, now)
      const actual = run(native, state[1].handles, state[1].ids, step, now)
      const seen = (e: Engine): unknown => [e.size, e.nextDeadline()]
      const left = JSON.stringify([expected, seen(js)])
      const right = JSON.stringify([actual, seen(native)])
      if (left !== right) throw new Error(`step ${index} ${JSON.stringify(step)}: js ${left} vs native ${right}`)
      js.checkInvariants()
      // Never late: the next deadline is at or before every live session's deadline.
      for (const handle of state[0].handles) {
        if (js.state(handle) === 1 && !(js.nextDeadline() <= js.expiresAt(handle))) {
          throw new Error(`step ${index}: nextDeadline ${js.nextDeadline()} after ${js.expiresAt(handle)}`)
        }
      }
    })
  }), { numRuns: 300 })
  t.pass()
})

test('the invariant checker fails when an invariant is broken on purpose', (t) => {
  const make = (): [JsEngine, number, number] => {
    const e = new JsEngine({ idBytes: 16, idEncoding: 'base64url', keys: 'caller', maxDataBytes: Infinity, resolution: 1 })
    const a = e.createWithKey('a', T0, 100, 0)
    const b = e.createWithKey('b', T0, 200, 0)
    e.checkInvariants()
    return [e, a, b]
  }
  type Internals = { f64: Float64Array; data: ({ user: string | undefined } | undefined)[]; index: Map<string, number>; attached: number }
  // A deadline moved earlier behind the wheel's back: the session is filed after its deadline.
  let [e, a] = make()
  ;(e as unknown as Internals).f64[a * 8 + 2] = 5
  t.throws(() => e.checkInvariants(), { message: /after its deadline/ })
  // A user set behind the wheel's back: filed in the wrong class.
  ;[e, a] = make()
  e.setData(a, 'k', 'v')
  ;(e as unknown as Internals).data[a]!.user = 'mallory'
  t.throws(() => e.checkInvariants(), { message: /filed in class 0/ })
  // Unindexed while attached.
  ;[e] = make()
  ;(e as unknown as Internals).index.delete('b')
  t.throws(() => e.checkInvariants(), { message: /not found under its own id/ })
  // A miscounted table.
  ;[e] = make()
  ;(e as unknown as Internals).attached++
  t.throws(() => e.checkInvariants(), { message: /counted/ })
  // A block's count of attached sessions off (a scan would skip a block that holds one).
  ;[e] = make()
  ;(e as unknown as { attachedInBlock: Int32Array }).attachedInBlock[0]--
  t.throws(() => e.checkInvariants(), { message: /block 0 holds 2 attached sessions, counted 1/ })
})

forEachEngine(test, 'a flood of anonymous creates at maxSessions never evicts a logged-in session', (t, engine) => {
  const clock = new FakeClock()
  const manager = new SessionManager({ engine, clock: clock.read, maxSessions: 10_000, idleTimeout: 30 * 60_000 })
  const users = Array.from({ length: 100 }, (_, index) => manager.create({ user: `user${index}` }))
  let evicted = 0
  manager.on('close', (session, reason) => {
    if (reason !== 'evicted') return
    evicted++
    if (session.user !== undefined) t.fail(`evicted ${session.user}`)
  })
  for (let index = 0; index < 100_000; index++) {
    if (index % 1000 === 0) clock.advance(7)
    manager.create()
  }
  t.is(manager.size, 10_000)
  t.is(evicted, 100_000 + 100 - 10_000)
  t.true(users.every((session) => !session.closed))
  manager.close()
})

forEachEngine(test, 'sessions with 10^4 distinct timeouts all expire in one sweep, none early', (t, engine) => {
  const clock = new FakeClock()
  const manager = new SessionManager({ engine, clock: clock.read, resolution: 10 })
  let early = 0
  manager.on('close', (session) => {
    if (session.expiresAt > clock.now) early++
  })
  for (let index = 0; index < 10_000; index++) manager.create({ idleTimeout: 1 + ((index * 7919) % 10_000) * 13 })
  clock.advance(65_000)
  const half = manager.sweep()
  t.true(half > 4000 && half < 6000)
  clock.advance(65_000)
  t.is(half + manager.sweep(), 10_000)
  t.is(early, 0)
  t.is(manager.size, 0)
  manager.close()
})
