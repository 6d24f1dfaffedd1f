/**
 * Time never goes backwards across a restart: a manager that loads a session file takes the
 * latest activity it restores as its clock's latest reading. With the clock stepped back while
 * the server was down, sessions made after the load were older than restored ones (a hostile
 * review, 2026-12-06: 'evict-oldest' closed the login made a second before instead of a session
 * from before the restart) and a use of a restored session moved its activity and deadline back.
 * However far ahead the file is: a bound of 10 minutes let the sessions a crash left past their
 * deadline come back alive past it (a second review).
 */
import test, { type ExecutionContext } from 'ava'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SessionManager } from '../ts/index'
import { ENGINES, FakeClock, withWarnings } from './helpers'

const HOUR = 3_600_000
/** A step back of the clock while the server was down. */
const STEP = 5 * 60_000

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sk-persist-clock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

for (const engine of ENGINES) {
  /** Ada's sessions a and b, 1 s apart, saved by close(); the clock then stepped back 5 minutes. */
  function restartedBehind(t: ExecutionContext) {
    const path = join(tempDir(t), 'sessions.skdb')
    const clock = new FakeClock()
    const first = new SessionManager({ engine, clock: clock.read, persist: { path }, maxSessionsPerUser: 2 })
    const a = first.create({ user: 'ada' })
    clock.advance(1000)
    const b = first.create({ user: 'ada' })
    const bCreatedAt = b.createdAt
    clock.advance(1000)
    first.close()
    clock.advance(-STEP)
    const { result: second, warnings } = withWarnings(() => new SessionManager({ engine, clock: clock.read, persist: { path }, maxSessionsPerUser: 2 }))
    t.teardown(() => second.close())
    return { clock, a, b, bCreatedAt, second, warnings }
  }

  test(`a clock stepped back across a restart: 'evict-oldest' closes the restored session, not a login made after the restart [${engine}]`, (t) => {
    const { clock, a, b, bCreatedAt, second } = restartedBehind(t)
    const c = second.create({ user: 'ada' })
    t.is(second.peek(a.id), undefined, 'a, the oldest, made room for c')
    clock.advance(1000)
    const d = second.create({ user: 'ada' })
    t.false(c.closed, `c, made after the restart, was closed (${String(c.closeReason)}) while b from before it stayed`)
    t.is(second.peek(b.id), undefined)
    t.deepEqual(second.sessionsOf('ada').map((session) => session.id), [c.id, d.id])
    t.true(second.peek(c.id)!.createdAt >= bCreatedAt, 'a session made after the restart is not older than a restored one')
  })

  test(`a clock stepped back across a restart: a use of a restored session never moves its activity or deadline back [${engine}]`, (t) => {
    const { b, second, warnings } = restartedBehind(t)
    const before = second.peek(b.id)!
    t.truthy(second.get(b.id))
    const after = second.peek(b.id)!
    t.true(after.lastActivity >= before.lastActivity, `lastActivity went from ${before.lastActivity} to ${after.lastActivity}`)
    t.true(after.expiresAt >= before.expiresAt, `the deadline went from ${before.expiresAt} to ${after.expiresAt}`)
    t.deepEqual(warnings, ['SESSIONKEEPER_CLOCK_BEHIND_FILE'], 'the step back is reported once, at load')
  })

  test(`a clock stepped back across a crash: the journal's latest activity holds the manager's time [${engine}]`, async (t) => {
    const dir = tempDir(t)
    const path = join(dir, 'sessions.skdb')
    const clock = new FakeClock()
    const first = new SessionManager({ engine, clock: clock.read, persist: { path, fsync: 'always' }, idleTimeout: 600_000 })
    t.teardown(() => first.close())
    const old = first.create({ user: 'ada' })
    clock.advance(5000)
    const latest = first.create({ user: 'ada' })
    await first.flush()
    // A copy of the file as a kill -9 leaves it (the first manager still holds the original).
    const crashed = join(dir, 'crashed.skdb')
    copyFileSync(path, crashed)
    clock.advance(-STEP)
    const { result: second } = withWarnings(() => new SessionManager({ engine, clock: clock.read, persist: { path: crashed }, idleTimeout: 600_000 }))
    t.teardown(() => second.close())
    const made = second.create({ user: 'ada' })
    t.is(made.createdAt, latest.createdAt, 'time stands still at the file\'s latest activity')
    t.deepEqual(second.sessionsOf('ada').map((session) => session.id), [old.id, latest.id, made.id])
    // Expiry is late by the step, never early: the sessions live until their deadlines as the
    // clock reads them once it is past the file's time again.
    clock.advance(STEP + 600_000 - 5000 - 1)
    t.truthy(second.peek(old.id), 'not expired before its deadline')
    clock.advance(2)
    t.is(second.get(old.id), undefined)
  })

  test(`a clock stepped back an hour across a crash: a session past its deadline before the crash closes as expired, not renewed [${engine}]`, async (t) => {
    // A hostile review of a 10-minute bound on the hold: past it, the session came back alive.
    const dir = tempDir(t)
    const path = join(dir, 'sessions.skdb')
    const clock = new FakeClock()
    const first = new SessionManager({ engine, clock: clock.read, persist: { path, fsync: 'always' } })
    t.teardown(() => first.close())
    const expired = first.create({ user: 'ada', idleTimeout: 600_000 })
    clock.advance(720_000) // past its deadline; the crash comes before any sweep
    const live = first.create({ user: 'ada' })
    await first.flush()
    const crashed = join(dir, 'crashed.skdb')
    copyFileSync(path, crashed)
    clock.advance(-HOUR)
    const { result: second, warnings } = withWarnings(() => new SessionManager({ engine, clock: clock.read, persist: { path: crashed }, maxSessions: 2, whenFull: 'reject' }))
    t.teardown(() => second.close())
    t.deepEqual(warnings, ['SESSIONKEEPER_CLOCK_BEHIND_FILE'])
    const reasons = new Map<string, string>()
    second.on('close', (session, reason) => reasons.set(session.id, reason))
    second.sweep()
    t.is(reasons.get(expired.id), 'expired')
    t.is(second.get(expired.id), undefined)
    t.true(second.has(live.id), 'the live login is kept')
  })

  test(`a restart with the clock moved on warns of nothing and keeps the clock's time [${engine}]`, (t) => {
    const path = join(tempDir(t), 'sessions.skdb')
    const clock = new FakeClock()
    const first = new SessionManager({ engine, clock: clock.read, persist: { path } })
    first.create({ user: 'ada' })
    first.close()
    clock.advance(60_000)
    const { result: second, warnings } = withWarnings(() => new SessionManager({ engine, clock: clock.read, persist: { path } }))
    t.teardown(() => second.close())
    t.deepEqual(warnings, [])
    t.is(second.create().createdAt, clock.now)
  })
}
