import test from 'ava'
import { loadNativeBinding } from '../ts/load-engine'
import { encodeHeader, FLAG_CLEAN } from '../ts/persist/format'

/*
 * Every binding function that takes an ArrayBuffer or a typed array takes only a plain
 * ArrayBuffer's memory (src/js_buffers.rs). A SharedArrayBuffer, or a view of one, is memory
 * another thread may write while Rust holds a reference to it: refused with an error on every
 * Node major (napi-rs's own typed-array conversion accepts it, and since Node 22.21 and 24.9 so
 * does napi_get_arraybuffer_info). The facade never passes one; the binding must not trust its
 * caller.
 */

const T0 = 1_700_000_000_000
const HOUR = 3_600_000

function setUp() {
  const binding = loadNativeBinding()
  if (binding instanceof Error) throw binding
  const engine = binding.createEngine(16, 'base64url', 'random', Infinity, 1000)
  const scratch = new ArrayBuffer(64)
  const id = binding.createSession(engine, T0, HOUR, 0, 0, '', scratch)!
  const handle = new Float64Array(scratch, 0, 1)[0]
  return { binding, engine, id, handle }
}

const shared = <T>(View: new (buffer: SharedArrayBuffer) => T, bytes = 256): T => new View(new SharedArrayBuffer(bytes))
const viewRefusal = { message: /over an ArrayBuffer, not a SharedArrayBuffer/ }
const bufferRefusal = { message: /expected an ArrayBuffer, not a SharedArrayBuffer/ }
const sharedBuffer = (bytes: number) => new SharedArrayBuffer(bytes) as unknown as ArrayBuffer

test('each buffer argument in shared memory is refused, and the same call with an ArrayBuffer works', (t) => {
  const { binding, engine, id, handle } = setUp()
  const verifier = binding.createCookieVerifier('sid', [])
  const header = `sid=${id}`
  const handles = Float64Array.of(handle)
  // A refused setDataPacked stores nothing.
  const refusedScratch = sharedBuffer(16)
  new Uint32Array(refusedScratch, 8).set([1, 1])
  t.throws(() => binding.setDataPacked(engine, handle, 1, 'ax', refusedScratch), bufferRefusal)
  t.is(binding.getData(engine, handle, 'a'), null)
  const calls: Array<[string, (plain: boolean) => unknown, { message: RegExp }]> = [
    ['sweep', (plain) => binding.sweep(engine, T0, plain ? new Float64Array(8) : shared(Float64Array)), viewRefusal],
    ['scan', (plain) => binding.scan(engine, 0, T0, plain ? new Float64Array(8) : shared(Float64Array)), viewRefusal],
    ['expiryLag', (plain) => binding.expiryLag(engine, plain ? new Float64Array(16) : shared(Float64Array)), viewRefusal],
    ['readSessionCookie', (plain) => binding.readSessionCookie(engine, verifier, header, T0, plain ? new ArrayBuffer(40) : sharedBuffer(40)), bufferRefusal],
    ['setDataPacked', (plain) => {
      const scratch = plain ? new ArrayBuffer(16) : sharedBuffer(16)
      new Uint32Array(scratch, 8).set([1, 1])
      return binding.setDataPacked(engine, handle, 1, 'ab', scratch)
    }, bufferRefusal],
    ['createSession', (plain) => binding.createSession(engine, T0, HOUR, 0, 0, '', plain ? new ArrayBuffer(8) : sharedBuffer(8)), bufferRefusal],
    ['sessionRecords', (plain) => {
      const into = plain ? new Float64Array(1) : shared(Float64Array, 8)
      into.set(handles)
      return binding.sessionRecords(engine, into, 1)
    }, viewRefusal],
    ['sessionRecordsInto handles', (plain) => {
      const into = plain ? new Float64Array(1) : shared(Float64Array, 8)
      into.set(handles)
      return binding.sessionRecordsInto(engine, into, 1, new Uint8Array(4096), 0)
    }, viewRefusal],
    ['sessionRecordsInto out', (plain) => binding.sessionRecordsInto(engine, handles, 1, plain ? new Uint8Array(4096) : shared(Uint8Array, 4096), 0), viewRefusal],
  ]
  for (const [name, call, refusal] of calls) {
    const before = binding.size(engine)
    t.throws(() => call(false), refusal, name)
    t.is(binding.size(engine), before, name)
    t.notThrows(() => call(true), name)
  }
  t.is(binding.getData(engine, handle, 'a'), 'b')
  t.is(binding.lookup(engine, id, T0, false), handle)
})

test('a session file over a SharedArrayBuffer is refused before anything loads; the same bytes in an ArrayBuffer load', (t) => {
  const { binding, engine, id } = setUp()
  const header = encodeHeader({ keys: 'random', idEncoding: 'base64url', idBytes: 16 }, T0, FLAG_CLEAN)
  const records = binding.snapshotRecords(engine)
  const file = new Uint8Array(header.length + records.length)
  file.set(header)
  file.set(records, header.length)
  const target = binding.createEngine(16, 'base64url', 'random', Infinity, 1000)
  const sharedBytes = new Uint8Array(new SharedArrayBuffer(file.length))
  sharedBytes.set(file)
  t.throws(() => binding.loadSessions(target, sharedBytes, 0, T0), viewRefusal)
  t.is(binding.size(target), 0)
  t.like(binding.loadSessions(target, file, 0, T0), { restored: 1, records: 1, clean: true })
  t.true(binding.lookup(target, id, T0, false) >= 0)
  // A typed array of another kind, or no typed array, is refused by name.
  t.throws(() => binding.loadSessions(target, new Float64Array(4) as unknown as Uint8Array, 0, T0), { message: /expected a Uint8Array/ })
  t.throws(() => binding.sweep(target, T0, [0, 0] as unknown as Float64Array), { message: /expected a Float64Array/ })
})

test('two views of one buffer as handles and out of sessionRecordsInto: handles are read before records are written', (t) => {
  const { binding, engine, handle } = setUp()
  const memory = new ArrayBuffer(4096)
  const handles = new Float64Array(memory, 0, 1)
  handles[0] = handle
  const expected = binding.sessionRecords(engine, Float64Array.of(handle), 1)
  // `out` starts at byte 0 too: the records overwrite the handle they were made from.
  const end = binding.sessionRecordsInto(engine, handles, 1, new Uint8Array(memory), 0)
  t.is(end, expected.length)
  t.deepEqual(Buffer.from(memory, 0, end), expected)
})

test('detached memory reads as empty and loses nothing; a length-tracking view gives its current length', (t) => {
  const { binding, engine, id, handle } = setUp()
  const detach = <T extends { buffer: ArrayBufferLike } | ArrayBuffer>(memory: T): T => {
    const buffer = memory instanceof ArrayBuffer ? memory : memory.buffer
    structuredClone(buffer, { transfer: [buffer as ArrayBuffer] })
    return memory
  }
  // A sweep with nowhere to report closes nothing: the session is still there for the next one.
  const late = T0 + 2 * HOUR
  t.is(binding.sweep(engine, late, detach(new Float64Array(8))), 0)
  t.is(binding.size(engine), 1)
  t.is(binding.sessionRecords(engine, detach(Float64Array.of(handle)), 1).length, 0)
  const scratch = detach(new ArrayBuffer(16))
  t.is(binding.setDataPacked(engine, handle, 1, 'ab', scratch), 3, 'no lengths: malformed, nothing stored')
  t.is(binding.getData(engine, handle, 'a'), null)
  // A resizable buffer grown after its view was made: the view tracks it, and scan fills it.
  const resizable = new ArrayBuffer(8, { maxByteLength: 64 })
  const view = new Float64Array(resizable)
  resizable.resize(64)
  t.is(binding.scan(engine, 0, T0, view), 1)
  t.is(view[0], handle)
  // Anything but an ArrayBuffer is refused by name, a typed array included.
  const verifier = binding.createCookieVerifier('sid', [])
  for (const wrong of [new Float64Array(5), new DataView(new ArrayBuffer(40)), null, {}]) {
    t.throws(() => binding.readSessionCookie(engine, verifier, `sid=${id}`, T0, wrong as unknown as ArrayBuffer), {
      message: /^expected an ArrayBuffer$/,
    })
  }
  const out = new Float64Array(8)
  t.is(binding.sweep(engine, late, out), 1)
  t.is(out[0], handle)
  t.is(binding.size(engine), 0)
})
