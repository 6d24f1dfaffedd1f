import test from 'ava'
import { Buffer } from 'node:buffer'
import { type EngineConfig } from '../ts/engine'
import { JsEngine } from '../ts/js-engine/engine'
import { writeSessionTail } from './helpers'

/*
 * The JsEngine when the OS refuses an allocation (RangeError: Array buffer allocation failed), as
 * a strict overcommit policy does to a reservation for maxSessions or to any growth: the engine
 * stays consistent, holds nothing it did not hold before, and works afterwards.
 */
const T0 = 1_700_000_000_000
const random = (over: Partial<EngineConfig> = {}): JsEngine =>
  new JsEngine({ idBytes: 32, idEncoding: 'base64url', keys: 'random', maxDataBytes: Infinity, resolution: 1, ...over })
const caller = (over: Partial<EngineConfig> = {}): JsEngine =>
  new JsEngine({ idBytes: 32, idEncoding: 'base64url', keys: 'caller', maxDataBytes: Infinity, resolution: 1, ...over })

/** Runs `fn` with `new Int32Array(length)` refused (RangeError) the `nth` time it is asked for `length`. */
function refusingInt32Array<T>(length: number, nth: number, fn: () => T): T {
  const Real = globalThis.Int32Array
  let seen = 0
  globalThis.Int32Array = class extends Real {
    constructor(...args: unknown[]) {
      if (args[0] === length && ++seen === nth) throw new RangeError('Array buffer allocation failed')
      super(...(args as []))
    }
  } as Int32ArrayConstructor
  try {
    return fn()
  } finally {
    globalThis.Int32Array = Real
  }
}

/** Runs `fn` with the first `new ArrayBuffer` over `bytes` refused. */
function refusingArrayBuffer<T>(bytes: number, fn: () => T): T {
  const Real = globalThis.ArrayBuffer
  let armed = true
  globalThis.ArrayBuffer = class extends Real {
    constructor(size: number) {
      if (armed && size > bytes) {
        armed = false
        throw new RangeError('Array buffer allocation failed')
      }
      super(size)
    }
  } as ArrayBufferConstructor
  try {
    return fn()
  } finally {
    globalThis.ArrayBuffer = Real
  }
}

for (const nth of [1, 2, 3]) {
  test(`a refused PackedSides.grow (allocation ${nth} of 3) leaves later packed records readable`, (t) => {
    // Were the count of held slots raised before packed.grow() succeeded, nothing would retry
    // it: the packed arrays would stay at 1024 slots while slots past them are packed.
    const source = Buffer.alloc(256)
    const end0 = writeSessionTail(source, 0, 'v0')
    const end1 = writeSessionTail(source, end0, 'v1')
    const engine = random({ maxSessions: 70_000 })
    const first = engine.create(T0, 60_000, 0)
    engine.loadRecord(first, source, 0, end0, 4, false)
    engine.endLoad()
    for (let i = 1; i < 1024; i++) engine.create(T0, 60_000, 0)
    t.throws(() => refusingInt32Array(2048, nth, () => engine.create(T0, 60_000, 0)), { instanceOf: RangeError })
    const later = engine.create(T0, 60_000, 0)
    t.true(later >= 0)
    t.notThrows(() => engine.loadRecord(later, source, end0, end1, 4, false))
    engine.endLoad()
    t.true(Number.isFinite(engine.dataBytes(later)))
    t.is(engine.dataBytes(later), engine.dataBytes(first))
    t.deepEqual(engine.dataKeys(later), ['k'])
    t.is(engine.getData(later, 'k'), 'v1')
    t.deepEqual(engine.dataKeys(first), ['k'])
  })
}

test('a refused growth of the records leaves no lost slot, and caller-key creates work afterwards', (t) => {
  // Were `used` raised before grow() succeeded, a refusal would lose the slot, and the `ids`
  // array would fall one behind `used`, so every later createWithKey of a fresh slot would throw
  // a TypeError (keyCost(undefined)). Reachable without a cap, past a cap, or after a refused
  // reservation (the engine then grows by doubling).
  const engine = caller()
  for (let i = 0; i < 1024; i++) engine.createWithKey(`k${i}`, T0, 60_000, 0)
  t.throws(() => refusingArrayBuffer(64 << 10, () => engine.createWithKey('refused', T0, 60_000, 0)), { instanceOf: RangeError })
  for (let i = 1024; i < 1100; i++) t.true(engine.createWithKey(`k${i}`, T0, 60_000, 0) >= 0, `k${i}`)
  t.notThrows(() => engine.checkInvariants())
  t.is(engine.size, 1100)
})

test('a reservation the OS refuses keeps no per-slot id words of the cap', (t) => {
  // Were the id index's per-slot words made (and swapped in) before the records' buffer was
  // refused, 1,000,448 slots of them (32 MB here, 512 MiB at 2^25 with 16-byte ids) would stay
  // allocated for good: charged in full under a strict overcommit policy, the very case the
  // fallback is for.
  const engine = refusingArrayBuffer(1 << 20, () => random({ maxSessions: 1_000_000 }))
  const words = (engine as unknown as { randomIds: { slotWords: Int32Array } }).randomIds.slotWords
  t.is((engine as unknown as { capacity: number }).capacity, 1024)
  t.is(words.length, 1024 * 8, `${words.byteLength} bytes of id words held after the refusal`)
})
