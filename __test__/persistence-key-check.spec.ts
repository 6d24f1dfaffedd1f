/**
 * An encrypted file with no live session still tells a wrong key: every snapshot and compaction
 * of an encrypted file begins with a sealed record naming no session. Without it, the file
 * close() left empty opened under any key, the journal sealed under that key, and the right key
 * then failed the load (a hostile review's finding, stop 42).
 */
import test from 'ava'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SessionManager } from '../ts/index'
import { forEachEngine } from './helpers'

const RIGHT = 'a'.repeat(64)
const WRONG = 'b'.repeat(64)

forEachEngine(test, 'an encrypted file with no live session is refused under another key, and opens under its own', (t, engine) => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-key-check-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 's.skdb')
  new SessionManager({ engine, persist: { path, key: RIGHT } }).close()
  t.throws(() => new SessionManager({ engine, persist: { path, key: WRONG } }), { code: 'ERR_SESSION_FILE_MISMATCH', message: /key id/ })
  // The right key opens it, and so does a rotation that lists it after the new one.
  new SessionManager({ engine, persist: { path, key: RIGHT } }).close()
  const rotated = new SessionManager({ engine, persist: { path, key: [WRONG, RIGHT] } })
  t.is(rotated.size, 0)
  rotated.close()
  // Rewritten under the first key by that close(): the new key alone opens it now.
  new SessionManager({ engine, persist: { path, key: WRONG } }).close()
  t.pass()
})

forEachEngine(test, "a wrong key is no damage: onCorrupt 'rename' leaves the file where it is, and its key opens it", async (t, engine) => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-key-check-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 's.skdb')
  const first = new SessionManager({ engine, persist: { path, key: RIGHT } })
  const session = first.create({ data: { k: 'v' } })
  first.close()
  const saved = readFileSync(path)
  // Moved aside, the manager would start empty and seal under the wrong key from then on:
  // every user logged out, and the right key's file no longer where it belongs.
  const error = t.throws(() => new SessionManager({ engine, persist: { path, key: WRONG, onCorrupt: 'rename' } }), { code: 'ERR_SESSION_FILE_MISMATCH' })
  t.regex(error?.message ?? '', /not given in persist\.key/)
  t.deepEqual(readdirSync(dir).sort(), ['s.skdb', 's.skdb.lock.owner'])
  t.deepEqual(readFileSync(path), saved)
  // A journal holding records sealed under two keys (a rotation after a crash), then opened
  // with the old key alone: named from the first record it cannot open, not moved aside.
  const crashed = async (manager: SessionManager): Promise<void> => {
    await manager.flush()
    const bytes = readFileSync(path)
    manager.close()
    writeFileSync(path, new Uint8Array(bytes))
  }
  const journal = new SessionManager({ engine, persist: { path, key: RIGHT } })
  journal.peek(session.id)!.set('k2', 'v2')
  await crashed(journal)
  const rotated = new SessionManager({ engine, persist: { path, key: [WRONG, RIGHT] } })
  rotated.peek(session.id)!.set('k3', 'v3')
  await crashed(rotated)
  const mixed = readFileSync(path)
  const named = t.throws(() => new SessionManager({ engine, persist: { path, key: RIGHT, onCorrupt: 'rename' } }), { code: 'ERR_SESSION_FILE_MISMATCH' })
  t.regex(named?.message ?? '', /record at offset \d+ is sealed under a key not given/)
  t.deepEqual(readdirSync(dir).sort(), ['s.skdb', 's.skdb.lock.owner'])
  t.deepEqual(readFileSync(path), mixed)
  const both = new SessionManager({ engine, persist: { path, key: [WRONG, RIGHT] } })
  t.is(both.peek(session.id)?.get('k3'), 'v3')
  both.close()
})
