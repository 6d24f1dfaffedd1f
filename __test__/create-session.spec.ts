import test from 'ava'
import { type Engine, type EngineConfig, CREATE_TABLE_FULL } from '../ts/engine'
import { JsEngine } from '../ts/js-engine/engine'
import { loadNativeBinding } from '../ts/load-engine'
import { NativeEngine } from '../ts/native-engine'

/*
 * `createSession` is the facade's create of a random-id session in one call (one binding
 * crossing for the native engine): it must leave exactly what `create`, `setDataEntries` and
 * `id` leave, on both engines.
 */

const T0 = 1_700_000_000_000
const HOUR = 3_600_000

function engines(maxDataBytes = Infinity): Array<[string, Engine]> {
  const config: EngineConfig = { idBytes: 16, idEncoding: 'base64url', keys: 'random', maxDataBytes, resolution: 1000 }
  const binding = loadNativeBinding()
  if (binding instanceof Error) throw binding
  return [['js', new JsEngine(config)], ['native', new NativeEngine(binding, config)]]
}

const ENTRY_SETS: string[][] = [
  [],
  ['theme', 'dark', 'locale', 'en-GB'],
  ['', '', ':', '3:', '0:', '12:ab'],
  ['é', '😀 x', 'k\u0000', '\u0000j', 'ünï', 'c\u00f3de'],
  ['big', 'x'.repeat(10_000), 'after', 'y'],
]

test('createSession stores the entries in order and gives the id of the handle it returns', (t) => {
  for (const [kind, engine] of engines()) {
    for (const entries of ENTRY_SETS) {
      const at = `${kind} ${JSON.stringify(entries).slice(0, 60)}`
      const handle = engine.createSession(T0, HOUR, 0, entries)
      t.true(handle >= 0, at)
      t.is(engine.id(handle), engine.createdId, at)
      t.is(engine.lookup(engine.createdId, T0, false), handle, at)
      t.deepEqual(engine.dataKeys(handle), entries.filter((_, index) => index % 2 === 0), at)
      for (let index = 0; index < entries.length; index += 2) t.is(engine.getData(handle, entries[index]), entries[index + 1], at)
      t.is(engine.dataBytes(handle), entries.reduce((sum, text) => sum + Buffer.byteLength(text), 0), at)
      t.is(engine.expiresAt(handle), T0 + HOUR, at)
    }
    t.is(engine.size, ENTRY_SETS.length)
  }
})

test('createSession stops at the first entry over maxDataBytes, as setDataEntries does, on both engines', (t) => {
  const entries = ['a', '1', 'b', '22', 'c', '3']
  const kept = engines(5).map(([kind, engine]) => {
    const handle = engine.createSession(T0, HOUR, 0, entries)
    t.true(handle >= 0, kind)
    return [engine.dataKeys(handle), engine.dataBytes(handle)]
  })
  t.deepEqual(kept[0], [['a', 'b'], 5])
  t.deepEqual(kept[1], kept[0])
})

test('the binding refuses a malformed packing before creating anything', (t) => {
  const binding = loadNativeBinding()
  if (binding instanceof Error) throw binding
  const engine = binding.createEngine(16, 'base64url', 'random', Infinity, 1000)
  // The scratch the facade keeps: the new handle in its first 8 bytes, then the lengths.
  const scratch = (lengths: number[]): ArrayBuffer => {
    const buffer = new ArrayBuffer(8 + 4 * lengths.length)
    new Uint32Array(buffer, 8).set(lengths)
    return buffer
  }
  // Lengths that do not cut the text exactly: too few, past its end, inside a character, text left over.
  const malformed: [string, number[], number][] = [
    ['a', [1], 1], ['ab', [1, 2], 1], ['abc', [1, 1], 1], ['😀a', [1, 2], 1], ['a', [0, 0], 1], ['ab', [1, 1], 2],
  ]
  for (const [packed, lengths, pairs] of malformed) {
    t.throws(() => binding.createSession(engine, T0, HOUR, 0, pairs, packed, scratch(lengths)), { message: /malformed/ }, packed)
  }
  // No room for the handle; no ArrayBuffer at all (a typed array is not one).
  t.throws(() => binding.createSession(engine, T0, HOUR, 0, 0, '', new ArrayBuffer(4)), { message: /room for the handle/ })
  t.throws(() => binding.createSession(engine, T0, HOUR, 0, 0, '', new Float64Array(2) as unknown as ArrayBuffer), { message: /ArrayBuffer/ })
  // Memory another thread could write while the engine reads it: refused.
  t.throws(() => binding.createSession(engine, T0, HOUR, 0, 0, '', new SharedArrayBuffer(64) as unknown as ArrayBuffer), { message: /ArrayBuffer/ })
  // A detached scratch (transferred away) has no room left.
  const detached = new ArrayBuffer(64)
  structuredClone(detached, { transfer: [detached] })
  t.throws(() => binding.createSession(engine, T0, HOUR, 0, 0, '', detached), { message: /room for the handle/ })
  // Packed data that is no string, read only inside the call: refused, nothing created.
  t.throws(() => binding.createSession(engine, T0, HOUR, 0, 0, 42 as unknown as string, scratch([])), { message: /string/ })
  // A pair count out of all proportion: more pairs than lengths.
  t.throws(() => binding.createSession(engine, T0, HOUR, 0, 2 ** 32 - 1, 'ab', scratch([1, 1])), { message: /malformed/ })
  // Lengths the scratch would hold only partly (an odd number of bytes past the handle).
  const cut = new ArrayBuffer(8 + 4 * 2 - 1)
  t.throws(() => binding.createSession(engine, T0, HOUR, 0, 1, 'ab', cut), { message: /malformed/ })
  t.is(binding.size(engine), 0)
  // Lengths beyond the pairs' (the facade's scratch is reused) are not read.
  const reused = scratch([1, 1, 7, 7])
  const id = binding.createSession(engine, T0, HOUR, 0, 1, 'ab', reused)
  t.is(typeof id, 'string')
  const handle = new Float64Array(reused, 0, 1)[0]
  t.is(binding.getData(engine, handle, 'a'), 'b')
  t.not(handle, CREATE_TABLE_FULL)
})

test('packed data longer than the stack buffer, and wide text, store as they were given', (t) => {
  const [, [, engine]] = engines()
  // Packed texts of 1,012 to 1,028 UTF-8 bytes (around the 1 KiB stack copy) and of about 5,000, in
  // one-byte and multi-byte text, with more pairs than the reused lengths array holds at first.
  const keyBytes = 110 // k0..k39
  for (const unit of ['x', 'é', '😀']) {
    const unitBytes = Buffer.byteLength(unit)
    const sizes = [5000]
    for (let total = 1012; total <= 1028; total++) sizes.push(Math.floor((total - keyBytes - 39 * unitBytes) / unitBytes))
    for (const size of sizes) {
      const entries: string[] = []
      for (let index = 0; index < 40; index++) entries.push(`k${index}`, index === 7 ? unit.repeat(size) : unit)
      const handle = engine.createSession(T0, HOUR, 0, entries)
      t.deepEqual(engine.dataKeys(handle), entries.filter((_, index) => index % 2 === 0))
      t.is(engine.getData(handle, 'k7'), unit.repeat(size))
      t.is(engine.setDataEntries(handle, ['k39', unit.repeat(size), 'new', '']), 0)
      t.is(engine.getData(handle, 'k39'), unit.repeat(size))
      t.is(engine.getData(handle, 'new'), '')
    }
  }
})
