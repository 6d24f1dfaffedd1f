/**
 * maxSessions on load: lowered since the file was saved, it still holds at construction for the
 * live sessions, as maxSessionsPerUser and maxDataBytes do; the sessions closed for it are chosen
 * as whenFull would have chosen them, the file keeps the result, and a session found expired
 * still closes on the first sweep, where a listener sees it (hostile reviews, stop 42).
 */
import test from 'ava'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SessionManager } from '../ts/index'
import { forEachEngine } from './helpers'

for (const whenFull of ['evict', 'reject'] as const) {
  forEachEngine(test, `a load keeps at most maxSessions, those whenFull '${whenFull}' would have kept`, (t, engine) => {
    const dir = mkdtempSync(join(tmpdir(), 'sk-max-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, 's.skdb')
    let now = 1_700_000_000_000
    const clock = () => now
    const first = new SessionManager({ engine, clock, idleTimeout: 60_000, persist: { path } })
    // One session that will have expired by the load (not by the close), then ten made a second apart.
    first.create({ data: { n: 'stale' }, idleTimeout: 12_000 })
    const made: string[] = []
    for (let n = 0; n < 10; n++) {
      now += 1000
      made.push(first.create({ data: { n: String(n) } }).id)
    }
    first.close()
    now += 3000

    const second = new SessionManager({ engine, clock, idleTimeout: 60_000, persist: { path }, maxSessions: 5, whenFull })
    const closed: string[] = []
    second.on('close', (session, reason) => closed.push(`${String(session.get('n'))} ${reason}`))
    // The expired one is left to the first sweep, which listeners added now see.
    t.deepEqual(second.stats().closed, { destroyed: 0, expired: 0, evicted: 5, shutdown: 0 })
    second.sweep()
    t.deepEqual(closed, ['stale expired'])
    t.is(second.size, 5)
    // 'evict' takes the closest to expiry (here the least recently used: the first made);
    // 'reject' keeps the first made, as the later creates would have been refused.
    const kept = whenFull === 'evict' ? made.slice(5) : made.slice(0, 5)
    t.deepEqual(made.filter((id) => second.has(id)), kept)
    second.close()
    const third = new SessionManager({ engine, clock, idleTimeout: 60_000, persist: { path } })
    t.teardown(() => third.close())
    t.deepEqual(made.filter((id) => third.has(id)), kept, 'the file keeps what the load kept')
  })
}
