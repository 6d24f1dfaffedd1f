import test, { type ExecutionContext } from 'ava'
import {
  type EngineConfig, GENERATION_SPACE, REKEY_NOT_ATTACHED, SET_OK, SET_STALE, STATE_ATTACHED, STATE_STALE, slotOf,
} from '../ts/engine'
import { SessionClosedError } from '../ts/errors'
import { JsEngine } from '../ts/js-engine/engine'
import type { Session } from '../ts/index'
import { forEachEngine, makeManager } from './helpers'

/*
 * A handle reaches its own session and never a later one in the same slot. The LIFO free stack
 * hands a slot back after every release with its generation bumped; once the slot has issued its
 * last generation it is retired, never to start over at 0. The default space (2^28 sessions per
 * slot) is out of reach of a test, so the engine-level tests narrow it with the JsEngine's
 * generationSpace knob; crates/core/tests/generations.rs does the same for the Rust engine.
 */

const T0 = 1_700_000_000_000
const HOUR = 3_600_000
type Keys = 'random' | 'caller'
const KEY_MODES: readonly Keys[] = ['random', 'caller']

const engine = (keys: Keys, generationSpace?: number): JsEngine => {
  const config: EngineConfig = { idBytes: 16, idEncoding: 'base64url', keys, maxDataBytes: Infinity, resolution: 1000 }
  return new JsEngine({ ...config, generationSpace })
}

/** A session with a one-hour idle timeout, under `key` in caller mode. */
const create = (e: JsEngine, keys: Keys, key: string): number =>
  keys === 'random' ? e.create(T0, HOUR, 0) : e.createWithKey(key, T0, HOUR, 0)

const fill = (t: ExecutionContext, e: JsEngine, handle: number, owner: string): void => {
  t.is(e.setData(handle, 'owner', owner), SET_OK)
  t.true(e.setUser(handle, owner))
  t.true(e.setRoles(handle, [owner]))
}

/** Every getter and mutator answers "stale" through `handle`. */
const assertStale = (t: ExecutionContext, e: JsEngine, keys: Keys, handle: number): void => {
  const at = `handle ${handle}`
  t.is(e.state(handle), STATE_STALE, at)
  t.false(e.isAlive(handle, T0), at)
  t.is(e.id(handle), undefined, at)
  for (const read of [e.createdAt, e.lastActivity, e.expiresAt, e.idleTimeout, e.absoluteTimeout, e.dataBytes]) {
    t.true(Number.isNaN(read.call(e, handle)), `${read.name} ${at}`)
  }
  t.is(e.getData(handle, 'owner'), undefined, at)
  t.deepEqual(e.dataKeys(handle), [], at)
  t.is(e.user(handle), undefined, at)
  t.deepEqual(e.roles(handle), [], at)
  t.is(e.setData(handle, 'owner', 'mallory'), SET_STALE, at)
  t.is(e.setDataEntries(handle, ['owner', 'mallory']), SET_STALE, at)
  t.false(e.deleteData(handle, 'owner'), at)
  t.false(e.setUser(handle, 'mallory'), at)
  t.false(e.setRoles(handle, ['mallory']), at)
  t.false(e.setIdleTimeout(handle, 1), at)
  t.false(e.setAbsoluteTimeout(handle, 1), at)
  t.false(e.touch(handle, T0 + 1), at)
  if (keys === 'random') t.is(e.regenerate(handle, T0), undefined, at)
  else t.is(e.rekey(handle, 'mallory', T0), REKEY_NOT_ATTACHED, at)
  t.false(e.detach(handle), at)
  t.false(e.release(handle), at)
}

/** The session behind `handle` is attached and exactly as `fill` left it. */
const assertIntact = (t: ExecutionContext, e: JsEngine, handle: number, owner: string): void => {
  t.is(e.state(handle), STATE_ATTACHED)
  t.is(e.getData(handle, 'owner'), owner)
  t.deepEqual(e.dataKeys(handle), ['owner'])
  t.is(e.user(handle), owner)
  t.deepEqual(e.roles(handle), [owner])
  t.is(e.lastActivity(handle), T0)
  t.is(e.idleTimeout(handle), HOUR)
  t.is(e.absoluteTimeout(handle), 0)
  t.is(e.lookup(e.id(handle)!, T0, false), handle)
}

test('JsEngine: a handle kept from an old session never reaches the newest in its slot; the slot retires', (t) => {
  for (const keys of KEY_MODES) {
    for (const generations of [1, 2, 3, 5]) {
      const e = engine(keys, generations)
      // One slot through every generation it has, as a server creating and closing one session
      // at a time uses it, keeping every handle as a WebSocket or a closure would.
      const kept: number[] = []
      for (let generation = 0; generation < generations; generation++) {
        const handle = create(e, keys, 'k')
        t.is(handle, generation * 2 ** 25, `slot 0, generation ${generation}`)
        fill(t, e, handle, 'alice')
        t.true(e.release(handle))
        kept.push(handle)
      }
      const newest = create(e, keys, 'k')
      fill(t, e, newest, 'bob')
      for (const handle of kept) assertStale(t, e, keys, handle)
      assertIntact(t, e, newest, 'bob')
      t.is(e.size, 1)
      t.not(slotOf(newest), 0, 'slot 0 has issued its last generation')
      t.is(newest, slotOf(newest), 'a fresh slot starts at generation 0')
    }
  }
})

test('JsEngine: no slot and generation is ever issued twice', (t) => {
  for (const keys of KEY_MODES) {
    const e = engine(keys, 3)
    const issued = new Set<number>()
    const released: number[] = []
    const live: number[] = []
    // Sessions come and go a few at a time, in an order that mixes the free stack.
    for (let step = 0; step < 200; step++) {
      if (step % 3 !== 2 || live.length === 0) {
        const handle = create(e, keys, `k${step}`)
        t.false(issued.has(handle), `handle ${handle} issued twice`)
        issued.add(handle)
        fill(t, e, handle, `owner${step}`)
        live.push(handle)
      } else {
        const [handle] = live.splice((step * 7) % live.length, 1)
        t.true(e.release(handle))
        released.push(handle)
      }
    }
    for (const handle of released) assertStale(t, e, keys, handle)
    t.is(e.size, live.length)
    for (const handle of live) t.is(e.state(handle), STATE_ATTACHED)
  }
})

test('JsEngine: retiring a slot frees what its last session held', (t) => {
  for (const keys of KEY_MODES) {
    const e = engine(keys, 2)
    const long = 'k'.repeat(200)
    const first = create(e, keys, long)
    fill(t, e, first, 'x'.repeat(1000))
    t.true(e.release(first))
    const before = e.memoryBytes()
    const last = create(e, keys, long)
    t.is(last, 2 ** 25, 'slot 0, its last generation')
    fill(t, e, last, 'x'.repeat(1000))
    t.true(e.memoryBytes() > before + 1000)
    t.true(e.release(last))
    t.is(e.memoryBytes(), before)
    t.is(e.size, 0)
  }
})

test('JsEngine: the generation space is checked', (t) => {
  for (const bad of [0, -1, 1.5, GENERATION_SPACE + 1, NaN]) {
    t.throws(() => engine('random', bad), { instanceOf: RangeError }, String(bad))
  }
  t.is(engine('random', GENERATION_SPACE).size, 0)
  t.is(engine('random').create(T0, 0, 0), 0)
})

/** What a call on a closed Session gave: its value, or 'closed' when it threw SessionClosedError. */
const attempt = (call: () => unknown): unknown => {
  try {
    return call()
  } catch (error) {
    if (error instanceof SessionClosedError) return 'closed'
    throw error
  }
}

forEachEngine(test, 'a Session kept from a closed session never reads, writes or closes a later one in its slot', (t, engineName) => {
  for (const keys of KEY_MODES) {
    const { manager } = makeManager(engineName, { keys, idleTimeout: HOUR })
    const closes: string[] = []
    manager.on('close', (session, reason) => closes.push(`${session.id} ${reason}`))
    const init = (n: number) => ({ key: keys === 'caller' ? 'peer' : undefined, user: `user${n}`, data: { owner: `user${n}` } })
    const kept: Session[] = []
    let newest = manager.create(init(0))
    for (let n = 1; n <= 50; n++) {
      const old = newest
      const oldId = old.id
      t.true(old.close())
      newest = manager.create(init(n))
      t.is(slotOf(newest.handle), slotOf(old.handle), 'the free stack hands the slot back')
      t.not(newest.handle, old.handle)
      kept.push(old)
      for (const stale of kept) {
        // A closed session reads as empty or throws SessionClosedError; either way it must not
        // see the newest session, and its writes, touch and close must not land there.
        t.true(stale.closed)
        t.not(attempt(() => stale.get('owner')), newest.get('owner'))
        t.not(attempt(() => stale.user), newest.user)
        const keys = attempt(() => stale.keys())
        t.true(keys === 'closed' || (Array.isArray(keys) && keys.length === 0))
        const set = attempt(() => stale.set('owner', 'mallory'))
        t.true(set === 'closed' || set === false)
        t.not(attempt(() => stale.touch()), true)
        t.false(stale.close())
      }
      t.is(old.id, oldId)
      t.false(newest.closed)
      t.is(newest.get('owner'), `user${n}`)
      t.is(newest.user, `user${n}`)
      t.is(manager.size, 1)
      t.is(manager.get(newest.id)?.handle, newest.handle)
    }
    if (keys === 'random') {
      // A regenerate makes every Session re-read its id: the kept ones keep their own.
      const ids = kept.map((session) => session.id)
      newest.regenerate()
      t.deepEqual(kept.map((session) => session.id), ids)
    }
    t.is(closes.length, 50)
    manager.close()
  }
})
