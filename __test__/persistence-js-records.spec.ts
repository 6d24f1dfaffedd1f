import test from 'ava'
import { Buffer } from 'node:buffer'
import { type EngineConfig } from '../ts/engine'
import { JsEngine } from '../ts/js-engine/engine'
import { encodeHeader, type FileConfig, RecordWriter, writeString } from '../ts/persist/format'
import { jsSessionRecordsInto } from '../ts/persist/js-records'
import { exportSession, forEachAttached } from '../ts/persist/persistence'
import { replayFile } from '../ts/persist/replay'

/** What the compaction wrote for the JsEngine before js-records.ts: the reference. */
function reference(engine: JsEngine, handles: Float64Array, count: number): Buffer {
  const writer = new RecordWriter(1024)
  for (let index = 0; index < count; index++) {
    writer.session(exportSession(engine, handles[index]))
  }
  return Buffer.from(new Uint8Array(writer.buffer.buffer, writer.buffer.byteOffset, writer.length))
}

test('writeString writes the u32 UTF-8 length and the bytes Buffer.from writes, on its ASCII path and off it', (t) => {
  const texts: string[] = []
  for (let length = 0; length <= 40; length++) {
    const ascii = 'k'.repeat(length)
    texts.push(ascii)
    if (length === 0) continue
    // A unit past ASCII first, in the middle and last: the copy stops and utf8Write starts over.
    for (const odd of ['\x80', '\x7f', 'é', '😀', '\ud800', '\udc00']) {
      texts.push(odd + ascii.slice(1), ascii.slice(0, length >> 1) + odd + ascii.slice((length >> 1) + 1), ascii.slice(0, -1) + odd)
    }
  }
  const buffer = Buffer.alloc(1024, 0xee)
  for (const text of texts) {
    const at = 3
    const end = writeString(buffer, text, at)
    const expected = Buffer.from(text, 'utf8')
    t.is(end, at + 4 + expected.length, JSON.stringify(text))
    t.is(buffer.readUInt32LE(at), expected.length, JSON.stringify(text))
    t.deepEqual(buffer.subarray(at + 4, end), expected, JSON.stringify(text))
  }
})

const TEXTS = ['', 'a', 'ключ', 'значение 😀', '\u2028', 'x'.repeat(300), '\ud800 lone', '__proto__']

function fill(engine: JsEngine, keys: EngineConfig['keys'], sessions: number): Float64Array {
  const handles = new Float64Array(sessions)
  for (let index = 0; index < sessions; index++) {
    const now = 1_700_000_000_000 + index * 7.5
    if (keys === 'random' && index % 4 === 3) {
      // A create's data and nothing else: the engine keeps it as a bare array, written as is.
      const entries = TEXTS.slice(0, 1 + (index % TEXTS.length)).flatMap((text, at) => [`${text}#${at}`, TEXTS[(index + at) % TEXTS.length]])
      handles[index] = engine.createSession(now, 60_000 + index, 0, entries)
      continue
    }
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

for (const partial of CONFIGS) {
  const name = `${partial.keys}, ${partial.idBytes} bytes, ${partial.idEncoding}`
  test(`restored sessions not yet read are written as the file held them, byte for byte the same records [${name}]`, (t) => {
    const config = { maxDataBytes: Infinity, resolution: 1000, ...partial } as EngineConfig
    const written = new JsEngine(config)
    // Keys a load takes back only (fill's caller keys include one over 255 bytes).
    for (const handle of fill(written, partial.keys!, 200)) {
      if (Buffer.byteLength(written.id(handle)!) > 255) written.release(handle)
    }
    const kept: number[] = []
    forEachAttached(written, (handle) => kept.push(handle))
    const expected = reference(written, Float64Array.from(kept), kept.length)
    const file = Buffer.concat([bytesOf(encodeHeader(partial as FileConfig, 0, 1)), bytesOf(expected)])
    const loaded = new JsEngine(config)
    replayFile(file, partial as FileConfig, undefined, loaded, 0, Infinity)
    const handles: number[] = []
    forEachAttached(loaded, (handle) => handles.push(handle))
    t.is(handles.length, kept.length)
    // Some read first (decoded), the others still packed; then the rest in tight batches.
    for (let index = 0; index < handles.length; index += 3) loaded.dataKeys(handles[index])
    const out = new Uint8Array(3 * expected.length)
    let end = 0
    for (let index = 0; index < handles.length; index += 7) {
      const batch = Float64Array.from(handles.slice(index, index + 7))
      const tight = jsSessionRecordsInto(loaded, batch, batch.length, out.subarray(0, end + 40), end)
      if (tight >= 0) t.true(tight <= end + 40)
      end = jsSessionRecordsInto(loaded, batch, batch.length, out, end)
      t.true(end >= 0)
    }
    t.is(Buffer.from(out.subarray(0, end)).toString('hex'), expected.toString('hex'))
    t.is(reference(loaded, Float64Array.from(handles), handles.length).toString('hex'), expected.toString('hex'))
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

function bytesOf(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length)
}
