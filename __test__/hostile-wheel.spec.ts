import test from 'ava'
import fc from 'fast-check'
import { type Engine, type EngineConfig } from '../ts/engine'
import { JsEngine } from '../ts/js-engine/engine'
import { loadNativeBinding } from '../ts/load-engine'
import { NativeEngine } from '../ts/native-engine'
import { SessionManager } from '../ts/index'
import { FakeClock, forEachEngine } from './helpers'

/*
 * Hostile review of the deadline wheel (docs/engine-algorithm.md "Deadline wheel"): both engines
 * compared on every result and every getter with many distinct timeouts on every level boundary,
 * past the overflow, clock moves of a slot, a level or ten years (and back: the engines are
 * called directly here, without the facade's clamp), at resolutions 1, 7, 1000 and 2^31 - 1.
 */

const T0 = 1_700_000_000_000
const B6 = 64 ** 6
const TEN_YEARS = 10 * 365.25 * 86_400_000
const MAX_RESOLUTION = 2 ** 31 - 1

function config(resolution: number): EngineConfig {
  return { idBytes: 16, idEncoding: 'base64url', keys: 'caller', maxDataBytes: Infinity, resolution }
}

function pair(resolution: number): [JsEngine, Engine] {
  const binding = loadNativeBinding()
  if (binding instanceof Error) throw binding
  return [new JsEngine(config(resolution)), new NativeEngine(binding, config(resolution))]
}

/** Counts the slots the JsEngine's wheel looks at (each look reads a deadline): work units. */
function visits(engine: JsEngine): { n: number } {
  const wheel = (engine as unknown as { wheel: { deadline: (slot: number) => number } }).wheel
  const counter = { n: 0 }
  const read = wheel.deadline
  wheel.deadline = (slot) => {
    counter.n++
    return read(slot)
  }
  return counter
}

/** Timeouts in ticks on every level boundary ± 1, past the overflow, and random. */
const ticks = fc.oneof(
  fc.constantFrom(0, 1, 2, 63, 64, 65, 4095, 4096, 4097, 64 ** 3 - 1, 64 ** 3, 64 ** 3 + 1, 64 ** 4, 64 ** 5 - 1, 64 ** 5 + 1, B6 - 1, B6, B6 + 1, 3 * B6 + 5),
  fc.integer({ min: 1, max: 100_000 }),
)
/** A timeout in ms: ticks × resolution, ± 1 ms, capped to a safe integer. */
const timeout = (resolution: number): fc.Arbitrary<number> =>
  fc.tuple(ticks, fc.constantFrom(-1, 0, 0, 1)).map(([n, delta]) => (n === 0 ? 0 : Math.min(Math.max(n * resolution + delta, 1), 2 ** 52)))

type Op =
  | { op: 'create'; idle: number; absolute: number; user: string | undefined }
  | { op: 'lookup' | 'touch'; target: number; renew: boolean }
  | { op: 'setIdle' | 'setAbsolute'; target: number; timeout: number }
  | { op: 'setUser'; target: number; user: string | undefined }
  | { op: 'sweep'; room: number }
  | { op: 'sweepRelease'; limit: number }
  | { op: 'evict' | 'detach' | 'release'; target: number }
  | { op: 'clock'; move: 'ms' | 'boundary' | 'before-boundary' | 'timeout' | 'ten-years' | 'back'; by: number }

const ops = (resolution: number): fc.Arbitrary<Op> => fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('create' as const), idle: timeout(resolution), absolute: fc.oneof(fc.constant(0), timeout(resolution)), user: fc.constantFrom(undefined, undefined, '', 'u') }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom('lookup' as const, 'touch' as const), target: fc.nat(60), renew: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom('setIdle' as const, 'setAbsolute' as const), target: fc.nat(60), timeout: timeout(resolution) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('setUser' as const), target: fc.nat(60), user: fc.constantFrom(undefined, '', 'u') }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('sweep' as const), room: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('sweepRelease' as const), limit: fc.nat(4) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('evict' as const, 'detach' as const, 'release' as const), target: fc.nat(60) }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('clock' as const), move: fc.constantFrom('ms' as const, 'boundary' as const, 'before-boundary' as const, 'timeout' as const, 'ten-years' as const, 'back' as const), by: fc.nat(100_000) }) },
)

function moveClock(now: number, resolution: number, step: Extract<Op, { op: 'clock' }>, timeouts: number[]): number {
  const slot = Math.floor(now / resolution) * resolution
  switch (step.move) {
    case 'ms': return now + 1 + (step.by % 5)
    case 'boundary': return slot + resolution
    case 'before-boundary': return slot + resolution - 1
    case 'timeout': return now + (timeouts.length > 0 ? timeouts[step.by % timeouts.length] : step.by)
    case 'ten-years': return step.by % 7 === 0 ? now + TEN_YEARS : now + step.by
    case 'back': return now - 1 - (step.by % (3 * resolution))
  }
}

function run(engine: Engine, handles: number[], step: Op, now: number): unknown {
  const pick = (target: number): number => handles[target % Math.max(handles.length, 1)] ?? -1
  switch (step.op) {
    case 'create': {
      const handle = engine.createWithKey(`k${handles.length}`, now, step.idle, step.absolute)
      handles.push(handle)
      if (step.user !== undefined) engine.setUser(handle, step.user)
      return handle
    }
    case 'lookup': return engine.lookup(`k${step.target % Math.max(handles.length, 1)}`, now, step.renew)
    case 'touch': return engine.touch(pick(step.target), now)
    case 'setIdle': return engine.setIdleTimeout(pick(step.target), step.timeout)
    case 'setAbsolute': return engine.setAbsoluteTimeout(pick(step.target), step.timeout)
    case 'setUser': return engine.setUser(pick(step.target), step.user)
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
    case 'detach': return engine.detach(pick(step.target))
    case 'release': return engine.release(pick(step.target))
    case 'clock': return undefined
  }
}

function observe(engine: Engine, handles: number[], now: number): unknown {
  return [engine.size, engine.nextDeadline(), handles.map((h) => [
    engine.state(h), engine.id(h), engine.createdAt(h), engine.lastActivity(h), engine.expiresAt(h),
    engine.idleTimeout(h), engine.absoluteTimeout(h), engine.user(h), engine.isAlive(h, now),
  ])]
}

for (const resolution of [1, 7, 1000, MAX_RESOLUTION]) {
  test(`differential at resolution ${resolution}: sweep order, eviction, nextDeadline and every getter agree; invariants hold`, (t) => {
    fc.assert(fc.property(fc.array(ops(resolution), { maxLength: 150 }), (steps) => {
      const [js, native] = pair(resolution)
      const handles: [number[], number[]] = [[], []]
      const timeouts: number[] = []
      let now = T0
      steps.forEach((step, index) => {
        if (step.op === 'clock') now = moveClock(now, resolution, step, timeouts)
        if (step.op === 'create') timeouts.push(step.idle, step.absolute)
        if (step.op === 'setIdle' || step.op === 'setAbsolute') timeouts.push(step.timeout)
        const left = JSON.stringify([run(js, handles[0], step, now), observe(js, handles[0], now)])
        const right = JSON.stringify([run(native, handles[1], step, now), observe(native, handles[1], now)])
        if (left !== right) throw new Error(`step ${index} ${JSON.stringify(step)} at ${now}:\njs     ${left}\nnative ${right}`)
        js.checkInvariants()
        // A lower bound of every live deadline: never late.
        const next = js.nextDeadline()
        for (const handle of handles[0]) {
          if (js.state(handle) === 1 && !(next <= js.expiresAt(handle))) {
            throw new Error(`step ${index}: nextDeadline ${next} after ${js.expiresAt(handle)}`)
          }
        }
      })
      // Drain: a sweep loop that wakes at nextDeadline reaches everything, expiring none early,
      // in the same order on both engines.
      for (let wake = 0; wake < 10_000; wake++) {
        const next = js.nextDeadline()
        if (next === Infinity) break
        now = Math.max(now, next)
        const outs = [js, native].map((e) => {
          const out = new Float64Array(8)
          const n = e.sweep(now, out)
          const swept = [...out.subarray(0, n)]
          for (const handle of swept) {
            if (!(e.expiresAt(handle) <= now)) throw new Error(`swept ${handle} early at ${now}`)
            e.release(handle)
          }
          return swept
        })
        if (JSON.stringify(outs[0]) !== JSON.stringify(outs[1])) throw new Error(`drain ${JSON.stringify(outs)}`)
        if (js.nextDeadline() !== native.nextDeadline()) throw new Error('drain nextDeadline')
        js.checkInvariants()
      }
      if (js.nextDeadline() !== Infinity) throw new Error('drain did not end')
    }), { numRuns: resolution === 1000 ? 200 : 120 })
    t.pass()
  })
}

test('opening the overflow never moves the cursor past now: later deadlines stay on the levels, eviction goes by deadline', (t) => {
  for (const engine of pair(1)) {
    const far = engine.createWithKey('far', 0, 3 * B6, 0)
    const now = B6 + 5
    t.is(engine.sweepRelease(now, 10), 0)
    const near = Array.from({ length: 1000 }, (_, i) => engine.createWithKey(`s${i}`, now, 60_000 + i, 0))
    t.is(engine.evictionCandidate(), near[0])
    let swept = 0
    for (let i = 0; i < 1000; i++) swept += engine.sweepRelease(now + 60_000 + i, 10)
    t.is(swept, 1000)
    t.is(engine.evictionCandidate(), far)
  }
  // In work units: 100 sweeps a ms apart, each expiring one, looked at 995,150 slots before the
  // fix (every sweep walked the whole current bucket); now a cascade or two of one bucket.
  const js = new JsEngine(config(1))
  js.createWithKey('far', 0, 3 * B6, 0)
  const now = B6 + 5
  js.sweepRelease(now, 10)
  for (let i = 0; i < 10_000; i++) js.createWithKey(`s${i}`, now, 60_000 + i, 0)
  const work = visits(js)
  let worst = 0
  for (let ms = 0; ms < 100; ms++) {
    work.n = 0
    js.sweepRelease(now + 60_000 + ms, 256)
    worst = Math.max(worst, work.n)
  }
  t.log(`worst single sweep after opening the overflow: ${worst} slots looked at`)
  t.true(worst <= 1100)
  js.checkInvariants()
})

test('a sweep loop on a fake clock wakes with nothing due a bounded number of times, never spinning', (t) => {
  for (const resolution of [1, 7, 1000, MAX_RESOLUTION]) {
    for (const engine of pair(resolution)) {
      // Sessions on every level boundary, renewed at slot boundaries so their filings go stale.
      const timeouts = [1, 63, 64, 65, 4095, 4096, 4097, 64 ** 3 + 1, 64 ** 4 - 1, 64 ** 5 + 1, B6 - 1, B6 + 1].map((n) => n * resolution)
      let now = T0 - (T0 % resolution)
      const handles = timeouts.map((idle, i) => engine.createWithKey(`k${i}`, now, idle, 0))
      now += resolution
      for (const handle of handles) engine.touch(handle, now)
      let wakes = 0
      let empty = 0
      let late = 0
      let last = -Infinity
      for (;;) {
        const next = engine.nextDeadline()
        if (next === Infinity) break
        // The expiry timer: at nextDeadline, never more often than every resolution ms.
        now = Math.max(now, next, last + resolution)
        last = now
        wakes++
        const out = new Float64Array(16)
        const n = engine.sweep(now, out)
        if (n === 0) empty++
        for (const handle of out.subarray(0, n)) {
          const deadline = engine.expiresAt(handle)
          t.true(deadline <= now)
          if (now - deadline > resolution) late++
          engine.release(handle)
        }
        if (wakes > 1000) break
      }
      t.is(late, 0)
      t.is(engine.size, 0)
      // Each filing cascades at most once per level on its way down, plus the overflow.
      t.true(empty <= 7 * timeouts.length, `resolution ${resolution}: ${empty} empty wakes of ${wakes}`)
    }
  }
})

forEachEngine(test, 'eviction classes: user cleared moves to the anonymous class, users set at create are kept, no deadline is evicted last in its class', (t, engine) => {
  const clock = new FakeClock()
  const manager = new SessionManager({ engine, clock: clock.read, maxSessions: 1000, idleTimeout: 60_000 })
  const users = Array.from({ length: 100 }, (_, i) => manager.create({ user: `user${i}` }))
  const forever = manager.create({ idleTimeout: 0 })
  const dropped = users[0]
  dropped.user = undefined
  clock.advance(5)
  const evicted: string[] = []
  manager.on('close', (session, reason) => {
    if (reason === 'evicted') evicted.push(session.id)
  })
  for (let i = 0; i < 5000; i++) {
    if (i % 100 === 0) clock.advance(3)
    manager.create()
  }
  t.true(dropped.closed, 'a session whose user was cleared is anonymous')
  t.true(users.slice(1).every((s) => !s.closed))
  t.is(evicted.length, 100 + 1 + 5000 - 1000)
  t.is(evicted[0], dropped.id)
  // The anonymous session without a deadline goes only once no anonymous one has a deadline.
  t.false(forever.closed)
  manager.close()
})

forEachEngine(test, 'eviction takes the closest to expiry first when timeouts differ', (t, engine) => {
  const clock = new FakeClock()
  const manager = new SessionManager({ engine, clock: clock.read, maxSessions: 3, idleTimeout: 60_000, resolution: 1 })
  const long = manager.create({ idleTimeout: 10 * B6 })
  const mid = manager.create({ idleTimeout: 4096 * 64 })
  const short = manager.create({ idleTimeout: 64 })
  manager.create()
  t.true(short.closed)
  manager.create()
  t.true(mid.closed || !long.closed)
  t.false(long.closed)
  manager.close()
})

test('work per sweep call, in slots looked at (JsEngine): the budget bounds re-filings, not slots kept in the current tick', (t) => {
  // K sessions due later in the current 1 s tick sit ahead of M renewed ones in one bucket: each
  // call walks the K kept ones again before re-filing up to its budget of M. Measured, not fixed.
  const js = new JsEngine(config(1000))
  const K = 2000
  const M = 20_000
  for (let i = 0; i < K; i++) js.createWithKey(`k${i}`, 0, 60_001 + (i % 998), 0)
  for (let i = 0; i < M; i++) js.createWithKey(`m${i}`, 0, 60_000, 0)
  for (let i = 0; i < M; i++) js.lookup(`m${i}`, 5000, true)
  const work = visits(js)
  let calls = 0
  let worst = 0
  let total = 0
  for (;;) {
    work.n = 0
    const n = js.sweepRelease(60_000, 256)
    calls++
    worst = Math.max(worst, work.n)
    total += work.n
    if (n < 256 && js.nextDeadline() > 60_000) break
  }
  t.log(`${calls} calls, worst ${worst} slots, total ${total} for ${K + M} sessions`)
  t.true(calls <= Math.ceil(M / 1024) + 1)
  t.true(worst <= K + 1024 + 1)
  js.checkInvariants()
})

test('sessions due later in the current tick are sorted once, not walked at every sweep call; expiry stays exact (both engines agree)', (t) => {
  // 70,000 sessions due across one 1 s tick, swept every ms (as creates at maxSessions do).
  // Before, every call walked all that was left: 3.5 x 10^7 slots looked at.
  const K = 70_000
  const [js, native] = pair(1000)
  const start = 61_000
  for (const e of [js, native]) {
    for (let i = 0; i < K; i++) e.createWithKey(`k${i}`, 0, start + ((i * 7) % 1000) + 0.5, 0)
  }
  const work = visits(js)
  let closed = 0
  for (let now = start; now <= start + 1000; now++) {
    for (;;) {
      const a = js.sweepRelease(now, 256)
      t.is(native.sweepRelease(now, 256), a, `sweep at ${now}`)
      closed += a
      if (a < 256) break
    }
    t.is(js.nextDeadline(), native.nextDeadline(), `next deadline at ${now}`)
    // Exact: everything due by now is closed, nothing else.
    t.is(closed, Math.min(now - start, 1000) * (K / 1000), `closed by ${now}`)
  }
  t.is(js.size, 0)
  t.log(`${work.n} slots looked at for ${K} sessions due within one tick, swept every ms`)
  t.true(work.n <= 3 * K, `${work.n} slots looked at`)
  js.checkInvariants()
})

test('a session filed out of order unsorts the current bucket until the next full walk; a renewal inside the tick is filed again, so nothing is held back (both engines agree)', (t) => {
  const [js, native] = pair(1000)
  for (const e of [js, native]) {
    e.createWithKey('b', 0, 61_200, 0)
    e.createWithKey('a', 60_900, 200, 0)
    for (let i = 0; i < 50; i++) e.createWithKey(`c${i}`, 0, 61_300 + ((i * 13) % 600), 0)
  }
  const step = (now: number, renew?: string): void => {
    if (renew !== undefined) t.is(js.lookup(renew, now, true) >= 0, native.lookup(renew, now, true) >= 0)
    t.is(js.sweepRelease(now, 256), native.sweepRelease(now, 256), `sweep at ${now}`)
    t.is(js.nextDeadline(), native.nextDeadline(), `next deadline at ${now}`)
    t.is(js.evictionCandidate(), native.evictionCandidate())
    js.checkInvariants()
  }
  step(61_050)
  t.is(js.nextDeadline(), 61_100)
  step(61_099, 'a')
  t.true(js.nextDeadline() <= 61_200, 'a, renewed inside the tick, was filed again behind b')
  step(61_250)
  t.is(js.nextDeadline(), 61_299)
  t.is(js.size, 51, 'b (due 61,200) closed exactly; a (61,299) and the 50 others left')
  js.createWithKey('late', 61_260, 5, 0)
  native.createWithKey('late', 61_260, 5, 0)
  step(61_265)
  t.is(js.lookup('late', 61_265, false), -1)
  for (let now = 61_266; now <= 62_000; now += 17) step(now)
  step(62_000)
  t.is(js.size, 0)
  t.is(native.size, 0)
})

test('the JsEngine invariant checker catches a corrupted wheel: occupancy, tail, current floor, cursor, a loop', (t) => {
  type Ring = { cur: number; curFloor: number; head: Int32Array; tail: Int32Array; occupied: Int32Array }
  const make = (): [JsEngine, Ring, number[]] => {
    const e = new JsEngine(config(1))
    const slots = [e.createWithKey('current', 0, 0.5, 0), e.createWithKey('five', 0, 5, 0), e.createWithKey('five-b', 0, 5.5, 0), e.createWithKey('level1', 0, 100, 0)]
    e.checkInvariants()
    const ring = (e as unknown as { wheel: { rings: Ring[] } }).wheel.rings[0]
    return [e, ring, slots]
  }
  let [e, ring] = make()
  ring.occupied[0] &= ~(1 << 5)
  t.throws(() => e.checkInvariants(), { message: /occupancy bit/ })
  ;[e, ring] = make()
  ring.tail[5] = ring.head[5]
  t.throws(() => e.checkInvariants(), { message: /tail is not the last slot/ })
  ;[e, ring] = make()
  ring.curFloor = 1
  t.throws(() => e.checkInvariants(), { message: /below the current floor/ })
  ;[e, ring] = make()
  ring.cur = 10
  t.throws(() => e.checkInvariants(), { message: /behind the cursor|filed after its deadline/ })
  ;[e, ring] = make()
  const links = (e as unknown as { i32: Int32Array }).i32
  // Point the tail of bucket 5 back at its head: the list loops (or a link disagrees).
  const wheel = (e as unknown as { wheel: { next: number; stride: number } }).wheel
  links[ring.tail[5] * wheel.stride + wheel.next] = ring.head[5]
  t.throws(() => e.checkInvariants(), { message: /loops|wrong link/ })
})
