import test from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Buffer } from 'node:buffer'
import { SessionManager } from '../ts/index'
import { JsEngine } from '../ts/js-engine/engine'
import { encodeHeader, Kind, RecordWriter, type SavedSession } from '../ts/persist/format'
import { exportSession, forEachAttached } from '../ts/persist/persistence'
import { replayFile } from '../ts/persist/replay'
import { ENGINES, FakeClock } from './helpers'

// The JsEngine keeps a restored session's user, roles and data as the file's bytes until they
// are first used (ts/js-engine/packed-sides.ts); the native engine keeps the record's tail too.
// Every way of reading or changing such a session must answer as a decoded one does.

const NOW = 1_700_000_000_000

function saved(id: string, user: string | undefined, roles: string[], data: string[]): SavedSession {
  return { id, createdAt: NOW - 10, lastActivity: NOW - 5, idleTimeout: 60_000, absoluteTimeout: 0, user, roles, data }
}

function manyKeys(count: number): string[] {
  const data: string[] = []
  for (let index = 0; index < count; index++) data.push(`k${index % (count - 1)}`, `v${index}`)
  return data
}

/** A journal (not clean): Session records, and records changing them after. */
function journal(): Buffer {
  const writer = new RecordWriter(1024)
  writer.session(saved('alice', 'alice@example.com', ['admin', 'ops'], ['theme', 'dark', 'ключ', 'значение 😀']))
  writer.session(saved('twice', undefined, [], ['k', '1', 'k', '22', 'm', '3']))
  writer.session(saved('big', undefined, [], ['a', '12345', 'b', '123456789', 'c', '1']))
  writer.session(saved('roles', undefined, ['r'], []))
  writer.session(saved('user', 'bob', [], []))
  writer.session(saved('changed', 'carol', [], ['x', '1', 'y', '2']))
  writer.begin(Kind.SetData).str('changed').u32(2).str('y').str('20').str('z').str('3').end()
  writer.begin(Kind.DeleteData).str('changed').str('x').end()
  writer.begin(Kind.User).str('changed').u8(0).end()
  writer.begin(Kind.Roles).str('changed').strings(['late']).end()
  writer.session(saved('gone', undefined, [], ['a', '1']))
  writer.begin(Kind.Remove).str('gone').end()
  writer.session(saved('again', 'dave', [], ['first', '1']))
  writer.session(saved('again', undefined, ['second'], ['second', '2']))
  writer.session(saved('many-distinct', undefined, [], Array.from({ length: 80 }, (_, index) => `e${index >> 1}${index & 1 ? 'v' : ''}`)))
  writer.session(saved('many-twice', undefined, [], manyKeys(40)))
  writer.session(saved('json', undefined, [], ['n', '\u0000j42', 'o', '\u0000j{"a":[1,2]}', 's', '\u0000s\u0000x']))
  writer.session(saved('empty-strings', '', [''], ['', '']))
  // 3 bytes: 'added' and '1234' (9 more) fit exactly under maxDataBytes 12.
  writer.session(saved('edge', undefined, [], ['ab', 'c']))
  writer.session(saved('edge-user', 'frank', ['x'], ['é', 'c']))
  const header = encodeHeader({ keys: 'caller', idEncoding: 'base64url', idBytes: 16 }, NOW, 0)
  return Buffer.concat([bytesOf(header), bytesOf(writer.buffer.subarray(0, writer.length))])
}

function view(manager: SessionManager) {
  return [...manager].map((s) => ({
    id: s.id, user: s.user, roles: s.roles, keys: s.keys(), values: s.keys().map((key) => s.get(key)),
  }))
}

function attempt(run: () => void): string {
  try {
    run()
    return 'ok'
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`
  }
}

for (const maxDataBytes of [Infinity, 12]) {
  test(`restored sessions read, change, cap and save as decoded ones do, on both engines [maxDataBytes ${maxDataBytes}]`, (t) => {
    const results = ENGINES.map((engine) => {
      const dir = mkdtempSync(join(tmpdir(), 'sk-packed-'))
      t.teardown(() => rmSync(dir, { recursive: true, force: true }))
      const path = join(dir, 'sessions.skdb')
      writeFileSync(path, new Uint8Array(journal()))
      const clock = new FakeClock()
      const options = { engine, keys: 'caller' as const, clock: clock.read, maxDataBytes, persist: { path } }
      const manager = new SessionManager(options)
      const loaded = view(manager)
      const steps: string[] = []
      for (const session of [...manager]) {
        steps.push(attempt(() => session.set('added', '1234')))
        const [first] = session.keys()
        if (first !== undefined) steps.push(String(session.delete(first)))
        steps.push(attempt(() => session.set('added2', '12')))
      }
      manager.get('user')!.user = 'bob2'
      manager.get('alice')!.roles = ['one']
      const changed = view(manager)
      manager.close()
      const reopened = new SessionManager(options)
      const again = view(reopened)
      reopened.close()
      return { loaded, steps, changed, again }
    })
    t.true(results[0].loaded.length > 5)
    t.deepEqual(results[1], results[0])
  })
}

test('a restored user keeps its session in the user class: anonymous sessions are evicted first, also once filed again', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-packed-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'sessions.skdb')
  const writer = new RecordWriter(1024)
  writer.session(saved('with-user', 'erin', [], ['a', '1']))
  writer.session(saved('anonymous', undefined, [], ['a', '1']))
  const header = encodeHeader({ keys: 'caller', idEncoding: 'base64url', idBytes: 16 }, NOW, 0)
  for (const engine of ENGINES) {
    writeFileSync(path, new Uint8Array(Buffer.concat([bytesOf(header), bytesOf(writer.buffer.subarray(0, writer.length))])))
    const clock = new FakeClock()
    const manager = new SessionManager({ engine, keys: 'caller', clock: clock.read, maxSessions: 2, persist: { path } })
    // A timeout change files both again, by class as well: read from the packed record.
    manager.peek('with-user')!.idleTimeout = 120_000
    manager.peek('anonymous')!.idleTimeout = 180_000
    manager.create({ key: 'new' })
    t.true(manager.has('with-user'), engine)
    t.false(manager.has('anonymous'), engine)
    manager.close()
  }
})

function bytesOf(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length)
}

for (const [flags, file] of [[0, 'a journal: records copied'], [1, 'a clean file: its bytes kept']] as const) {
  test(`a chunk of packed records is freed once a quarter or less of it is packed: the rest move to a chunk that collects them [${file}]`, (t) => {
    const config = { keys: 'random', idBytes: 16, idEncoding: 'base64url', maxDataBytes: Infinity, resolution: 1000 } as const
    const written = new JsEngine(config)
    const sessions = 30_000
    for (let index = 0; index < sessions; index++) {
      const handle = written.create(NOW, 60_000, 0)
      written.setData(handle, 'n', String(index))
      written.setData(handle, 'pad', 'x'.repeat(index % 50))
      if (index % 3 === 0) written.setUser(handle, `u${index % 7}`)
    }
    const handles: number[] = []
    forEachAttached(written, (handle) => handles.push(handle))
    const records = new RecordWriter(1 << 20)
    for (const handle of handles) records.session(exportSession(written, handle))
    const file = Buffer.concat([bytesOf(encodeHeader(config, NOW, flags)), bytesOf(records.buffer.subarray(0, records.length))])
    const loaded = new JsEngine(config)
    replayFile(file, config, undefined, loaded, 0, NOW)
    loaded.checkInvariants()
    const chunkBytes = (): number => (loaded as unknown as { packed?: { bytes: number } }).packed?.bytes ?? 0
    t.true(chunkBytes() > 3 << 20, `${chunkBytes()}`)
    // Four in five read, in slot order: each chunk is drained once a quarter of it remains, its
    // last fifth (~60 B a record) moved into one chunk, where nothing was decoded.
    for (let index = 0; index < handles.length; index++) if (index % 5 !== 4) t.is(loaded.getData(handles[index], 'n'), String(index))
    loaded.checkInvariants()
    t.is(chunkBytes(), 1 << 20)
    for (let index = 0; index < handles.length; index++) {
      t.is(loaded.user(handles[index]), written.user(handles[index]))
      t.is(loaded.dataBytes(handles[index]), written.dataBytes(handles[index]))
      t.is(loaded.getData(handles[index], 'pad'), 'x'.repeat(index % 50))
    }
    loaded.checkInvariants()
    t.is(chunkBytes(), 0)
    t.is((loaded as unknown as { packed?: unknown }).packed, undefined, 'the per-slot arrays go with the last packed record')
    // Releases drain chunks as reads do.
    const again = new JsEngine(config)
    replayFile(file, config, undefined, again, 0, NOW)
    for (let index = 0; index < handles.length; index++) if (index % 5 !== 4) again.release(handles[index])
    again.checkInvariants()
    t.is((again as unknown as { packed?: { bytes: number } }).packed?.bytes, 1 << 20)
    for (let index = 4; index < handles.length; index += 5) {
      t.is(again.user(handles[index]), written.user(handles[index]))
      t.deepEqual(again.dataKeys(handles[index]), ['n', 'pad'])
      t.is(again.getData(handles[index], 'n'), String(index))
    }
    again.checkInvariants()
    t.is((again as unknown as { packed?: unknown }).packed, undefined)
  })
}

test('a clean file that saves sessions again after a full chunk of them loads every one (a chunk emptied while the next is being filled)', (t) => {
  const config = { keys: 'caller', idBytes: 16, idEncoding: 'base64url', maxDataBytes: Infinity, resolution: 1000 } as const
  const records = new RecordWriter(1 << 20)
  const sessions = 8_000
  // ~190 B a record: the first 5,500 fill the first 1 MiB chunk, then they come again.
  for (let index = 0; index < sessions; index++) records.session(saved(`k${index}`, undefined, [], ['n', String(index), 'pad', 'x'.repeat(150)]))
  for (let index = 0; index < 6_000; index++) records.session(saved(`k${index}`, index % 2 === 0 ? `u${index}` : undefined, [], ['n', `again ${index}`]))
  const file = Buffer.concat([bytesOf(encodeHeader(config, NOW, 1)), bytesOf(records.buffer.subarray(0, records.length))])
  const loaded = new JsEngine(config)
  replayFile(file, config, undefined, loaded, 0, NOW)
  loaded.checkInvariants()
  t.is(loaded.size, sessions)
  for (let index = 0; index < sessions; index++) {
    const handle = loaded.lookup(`k${index}`, NOW, false)
    t.is(loaded.getData(handle, 'n'), index < 6_000 ? `again ${index}` : String(index))
    t.is(loaded.user(handle), index < 6_000 && index % 2 === 0 ? `u${index}` : undefined)
  }
  loaded.checkInvariants()
  // Every one read: every chunk counted empty and freed.
  t.is((loaded as unknown as { packed?: unknown }).packed, undefined)
})

test('after a restart, sessions left in drained chunks read, change and save as they were (JsEngine, through the manager)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-packed-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'sessions.skdb')
  const clock = new FakeClock()
  const options = { engine: 'js' as const, clock: clock.read, idleTimeout: 3_600_000, persist: { path } }
  const first = new SessionManager(options)
  const ids: string[] = []
  // ~20 chunks of 1 MiB of records.
  for (let index = 0; index < 60_000; index++) {
    ids.push(first.create({ ...(index % 3 === 0 ? { user: `u${index % 11}` } : {}), data: { n: String(index), pad: 'x'.repeat(200 + (index % 50)) } }).id)
  }
  first.close()
  const second = new SessionManager(options)
  // Four in five destroyed in creation order: every chunk drains, the fifth moves.
  for (let index = 0; index < ids.length; index++) if (index % 5 !== 4) second.destroy(ids[index])
  for (let index = 4; index < ids.length; index += 10) second.peek(ids[index])!.set('n', `changed ${index}`)
  const expected = (index: number) => (index % 10 === 4 ? `changed ${index}` : String(index))
  for (let index = 4; index < ids.length; index += 5) {
    const session = second.peek(ids[index])!
    t.is(session.get('n'), expected(index))
    t.is(session.get('pad'), 'x'.repeat(200 + (index % 50)))
    t.is(session.user, index % 3 === 0 ? `u${index % 11}` : undefined)
  }
  t.is(second.size, ids.length / 5)
  second.close()
  const third = new SessionManager(options)
  t.teardown(() => third.close())
  t.is(third.size, ids.length / 5)
  for (let index = 4; index < ids.length; index += 5) t.is(third.peek(ids[index])?.get('n'), expected(index))
})

// A load reads each Session record's index entry ahead of its restore (replay.ts
// warmSessionIds). Only a slower load would show a wrong offset or a warming that stops early,
// so a JsEngine that records both calls checks that every restored id but the first was warmed
// at the very bytes its restore decodes, across batches and among records of other kinds.
test('a load warms the index entry of every Session record it restores after the first, at its id', (t) => {
  const config = { keys: 'random', idBytes: 16, idEncoding: 'base64url', maxDataBytes: Infinity, resolution: 1000 } as const
  const written = new JsEngine(config)
  const records = new RecordWriter(1 << 16)
  for (let index = 0; index < 200; index++) {
    const handle = written.create(NOW, 60_000, 0)
    if (index % 3 === 0) written.setData(handle, 'n', String(index))
    records.session(exportSession(written, handle))
    if (index % 7 === 0) records.begin(Kind.Renew).str(written.id(handle)!).f64(NOW).end()
    if (index % 11 === 0) records.begin(Kind.Remove).str(written.id(handle)!).end()
  }
  const file = Buffer.concat([bytesOf(encodeHeader(config, NOW, 0)), bytesOf(records.buffer.subarray(0, records.length))])
  const warmed: number[] = []
  const restored: number[] = []
  class Recording extends JsEngine {
    override warmIds(text: Buffer, starts: Int32Array, count: number): void {
      warmed.push(...starts.subarray(0, count))
      super.warmIds(text, starts, count)
    }

    override restoreText(text: Buffer, start: number, length: number, createdAt: number, lastActivity: number, idle: number, absolute: number): number {
      restored.push(start)
      return super.restoreText(text, start, length, createdAt, lastActivity, idle, absolute)
    }
  }
  const loaded = new Recording(config)
  replayFile(file, config, undefined, loaded, 0, NOW)
  t.is(restored.length, 200)
  t.is(loaded.size, 200 - Math.ceil(200 / 11))
  t.deepEqual(warmed, restored.slice(1))
})

// Sessions released in slot order (a sweep, a mass logout) leave each chunk's last quarter to
// be moved, and take the moved records soon after: the chunk they were moved to empties and is
// freed. Made anew each time, it was a 1 MiB buffer per chunk drained (159 of them for 600,000
// destroys after a load of 10^6), and V8 answered the new memory with a mark-compact every
// 50-100 ms. The freed target's buffer is kept for the next one instead.
test('releasing restored sessions in order reuses the buffer records are moved to, and counts it until nothing is packed', (t) => {
  const config = { keys: 'random', idBytes: 16, idEncoding: 'base64url', maxDataBytes: Infinity, resolution: 1000 } as const
  const written = new JsEngine(config)
  for (let index = 0; index < 40_000; index++) written.setData(written.create(NOW, 60_000, 0), 'pad', 'x'.repeat(40 + (index % 20)))
  const handles: number[] = []
  forEachAttached(written, (handle) => handles.push(handle))
  const records = new RecordWriter(1 << 20)
  for (const handle of handles) records.session(exportSession(written, handle))
  const file = Buffer.concat([bytesOf(encodeHeader(config, NOW, 0)), bytesOf(records.buffer.subarray(0, records.length))])
  const loaded = new JsEngine(config)
  replayFile(file, config, undefined, loaded, 0, NOW)
  const packed = (): { bytes: number } | undefined => (loaded as unknown as { packed?: { bytes: number } }).packed
  const chunks = Math.ceil(file.length / (1 << 20))
  t.true(chunks >= 4, `${chunks} chunks`)
  const allocUnsafe = Buffer.allocUnsafe
  let made = 0
  Buffer.allocUnsafe = (size: number) => {
    if (size >= 1 << 20) made++
    return allocUnsafe(size)
  }
  try {
    for (let index = 0; index < handles.length; index++) {
      loaded.release(handles[index])
      if (index % 4096 === 0) loaded.checkInvariants()
      // The last session's chunk, and the spare at most.
      if (index === handles.length - 2) t.true(packed()!.bytes <= 2 << 20, `${packed()!.bytes} bytes held for one session`)
    }
  } finally {
    Buffer.allocUnsafe = allocUnsafe
  }
  t.true(made <= 2, `${made} buffers made for moves out of ${chunks} chunks`)
  t.is(packed(), undefined, 'nothing held once nothing is packed')
})
