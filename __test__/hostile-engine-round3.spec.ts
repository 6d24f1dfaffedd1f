/**
 * A hostile review of round 3's engine changes (the session record block, packed data, the
 * renewal slack), through the public API on both engines.
 */
import test from 'ava'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SessionManager, type SessionManagerOptions } from '../ts/index'
import { FakeClock } from './helpers'

function open(engine: string, path: string, clock: FakeClock, options: SessionManagerOptions) {
  return new SessionManager({ engine: engine as 'js', clock: clock.read, ...options, persist: { path } })
}

/**
 * A server that dies without close(): what it journaled stays, close()'s clean snapshot is undone.
 * Before dying it creates and destroys enough sessions that the next open rewrites the file
 * compacted (more than twice as many records as sessions, plus 1024).
 */
async function churnAndCrash(manager: SessionManager, path: string): Promise<void> {
  for (let i = 0; i < 1100; i++) manager.destroy(manager.create().id)
  await manager.flush()
  const bytes = readFileSync(path)
  manager.close()
  writeFileSync(path, new Uint8Array(bytes))
}

// Loading an unclean file moves each last activity on by `resolution` (not past now), and the
// compacted file the open writes (as any later compaction) holds the moved time as if it had
// been a use. The next crash moves it again: an idle session gains `resolution` per
// crash-and-compaction, so a crash loop keeps it alive past its deadline by far more than the
// documented bound (docs/persistence-format.md, Loading 4: "outlives its real deadline by at
// most `resolution` ms"). Not fixed here: either the loader stops moving times (the slack already
// lets a crash move a last activity back; the move then only makes sessions late) or snapshots
// write the journal's own last activity; both change documented behaviour of persistence.
for (const engine of ['native', 'js'] as const) {
  test.failing(`an idle session does not outlive its idle timeout by more than the resolution across repeated crashes [${engine}]`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sk-review3-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, 'sessions.skdb')
    const clock = new FakeClock()
    const options = { resolution: 1000, idleTimeout: 10_000 }
    const start = clock.now
    let manager = open(engine, path, clock, options)
    const idle = manager.create()
    for (let life = 0; life < 4; life++) {
      await churnAndCrash(manager, path)
      clock.advance(2000)
      manager = open(engine, path, clock, options)
    }
    const restored = manager.peek(idle.id)
    const expiresAt = restored?.expiresAt
    manager.close()
    // Never used after its creation: its deadline is start + 10 s, at most a resolution later.
    t.true(expiresAt !== undefined && expiresAt <= start + 10_000 + 1000, `expires ${expiresAt! - start} ms after its only use`)
  })
}
