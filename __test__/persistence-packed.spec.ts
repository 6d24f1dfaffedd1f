import test from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Buffer } from 'node:buffer'
import { SessionManager } from '../ts/index'
import { encodeHeader, Kind, RecordWriter, type SavedSession } from '../ts/persist/format'
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
