/**
 * An encrypted file with no live session still tells a wrong key: every snapshot and compaction
 * of an encrypted file begins with a sealed record naming no session. Without it, the file
 * close() left empty opened under any key, the journal sealed under that key, and the right key
 * then failed the load (a hostile review's finding, stop 42).
 */
import test from 'ava'
import { mkdtempSync, rmSync } from 'node:fs'
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
  t.throws(() => new SessionManager({ engine, persist: { path, key: WRONG } }), { code: 'ERR_SESSION_FILE_CORRUPT' })
  // The right key opens it, and so does a rotation that lists it after the new one.
  new SessionManager({ engine, persist: { path, key: RIGHT } }).close()
  const rotated = new SessionManager({ engine, persist: { path, key: [WRONG, RIGHT] } })
  t.is(rotated.size, 0)
  rotated.close()
  // Rewritten under the first key by that close(): the new key alone opens it now.
  new SessionManager({ engine, persist: { path, key: WRONG } }).close()
  t.pass()
})
