import test from 'ava'
import { Buffer } from 'node:buffer'
import { type EngineConfig } from '../ts/engine'
import { JsEngine } from '../ts/js-engine/engine'
import { RecordWriter } from '../ts/persist/format'
import { jsSessionRecordsInto } from '../ts/persist/js-records'
import { exportSession } from '../ts/persist/persistence'

/** What the compaction wrote for the JsEngine before js-records.ts: the reference. */
function reference(engine: JsEngine, handles: Float64Array, count: number): Buffer {
  const writer = new RecordWriter(1024)
  for (let index = 0; index < count; index++) {
    writer.session(exportSession(engine, handles[index]))
  }
  return Buffer.from(new Uint8Array(writer.buffer.buffer, writer.buffer.byteOffset, writer.length))
}

const TEXTS = ['', 'a', 'ключ', 'значение 😀', '\u2028', 'x'.repeat(300), '\ud800 lone', '__proto__']

function fill(engine: JsEngine, keys: EngineConfig['keys'], sessions: number): Float64Array {
  const handles = new Float64Array(sessions)
  for (let index = 0; index < sessions; index++) {
    const now = 1_700_000_000_000 + index * 7.5
    const handle = keys === 'random'
      ? engine.create(now, index % 3 === 0 ? 0 : 60_000 + index, index % 4 === 0 ? 0 : 3_600_000)
      : engine.createWithKey(`${TEXTS[index % TEXTS.length]}:${index}`, now, 60_000, 0)
    handles[index] = handle
    if (index % 5 !== 0) engine.setUser(handle, TEXTS[(index + 2) % TEXTS.length] + index)
    if (index % 3 === 1) engine.setRoles(handle, TEXTS.slice(0, index % TEXTS.length))
    for (let entry = 0; entry < index % 6; entry++) engine.setData(handle, TEXTS[(index + entry) % TEXTS.length] + entry, TEXTS[(index * 3 + entry) % TEXTS.length])
    if (index % 7 === 2) engine.deleteData(handle, TEXTS[index % TEXTS.length] + '0')
  }
  return handles
}

const CONFIGS: Array<Partial<EngineConfig>> = [
  { keys: 'random', idBytes: 16, idEncoding: 'base64url' },
  { keys: 'random', idBytes: 17, idEncoding: 'base64url' },
  { keys: 'random', idBytes: 18, idEncoding: 'base64url' },
  { keys: 'random', idBytes: 33, idEncoding: 'hex' },
  { keys: 'caller', idBytes: 16, idEncoding: 'base64url' },
]

for (const partial of CONFIGS) {
  const name = `${partial.keys}, ${partial.idBytes} bytes, ${partial.idEncoding}`
  test(`JsEngine records written from its storage are byte for byte the records of RecordWriter.session [${name}]`, (t) => {
    const engine = new JsEngine({ maxDataBytes: Infinity, resolution: 1000, ...partial } as EngineConfig)
    const handles = fill(engine, partial.keys!, 200)
    const expected = reference(engine, handles, handles.length)
    const out = new Uint8Array(50 + 3 * expected.length)
    out.fill(0xee)
    const end = jsSessionRecordsInto(engine, handles, handles.length, out, 50)
    t.is(end, 50 + expected.length)
    t.is(Buffer.from(out.subarray(50, end)).toString('hex'), expected.toString('hex'))
    t.true(out.subarray(0, 50).every((byte) => byte === 0xee), 'nothing before `at` is touched')
  })
}

test('a batch that does not fit is refused (-1), at every output size up to the one it needs', (t) => {
  const engine = new JsEngine({ keys: 'random', idBytes: 16, idEncoding: 'base64url', maxDataBytes: Infinity, resolution: 1000 })
  const handles = fill(engine, 'random', 6)
  const expected = reference(engine, handles, handles.length)
  // Room is reckoned at 3 bytes per UTF-16 unit: the need is at most that much above the size.
  let fitted = -1
  for (let size = 0; size <= 3 * expected.length; size++) {
    const end = jsSessionRecordsInto(engine, handles, handles.length, new Uint8Array(size), 0)
    if (end < 0) {
      t.is(fitted, -1, `refused at ${size} after fitting at ${fitted}`)
      continue
    }
    if (fitted < 0) fitted = size
    t.is(end, expected.length)
  }
  t.true(fitted >= expected.length)
})
