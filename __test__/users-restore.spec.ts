/**
 * Issue 18, items 1 and 2, where sessions come from elsewhere: the per-user index and
 * `maxSessionsPerUser` after a reload from the persistence file (every writer engine with every
 * reader engine), and a login (`startSession`) over HTTP.
 */
import test from 'ava'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CloseReason, SessionManager, type SessionManagerOptions } from '../ts/index'
import { ENGINES, FakeClock } from './helpers'
import { SECRET, STACKS, startServer } from './http-fixtures'

function tempFile(t: import('ava').ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'sk-users-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'sessions.skdb')
}

function open(engine: string, path: string, clock: FakeClock, options: SessionManagerOptions = {}) {
  return new SessionManager({ engine: engine as 'js', clock: clock.read, ...options, persist: { path } })
}

for (const writer of ENGINES) {
  for (const reader of ENGINES) {
    test(`a reload restores the per-user index: created, assigned, regenerated and closed sessions [${writer} -> ${reader}]`, (t) => {
      const path = tempFile(t)
      const clock = new FakeClock()
      const first = open(writer, path, clock)
      const a = first.create({ user: 'ada' })
      clock.advance(1)
      const b = first.create()
      b.user = 'ada'
      clock.advance(1)
      const c = first.create({ user: 'ada' })
      c.regenerate()
      const d = first.create({ user: 'ada' })
      d.close()
      const e = first.create({ user: 'ada' })
      e.user = 'bob'
      first.create()
      const adas = [a.id, b.id, c.id]
      const bobs = [e.id]
      first.close()

      const second = open(reader, path, clock)
      t.deepEqual(second.sessionsOf('ada').map((session) => session.id), adas)
      t.deepEqual(second.sessionsOf('bob').map((session) => session.id), bobs)
      t.is(second.closeUser('ada', { except: second.peek(b.id) }), 2)
      second.close()

      const third = open(writer, path, clock)
      t.deepEqual(third.sessionsOf('ada').map((session) => session.id), [b.id])
      t.is(third.size, 3)
      third.close()
    })
  }
}

for (const writer of ENGINES) {
  for (const reader of ENGINES) {
    test(`a reload after a crash files the users the journal gave; a load of anonymous sessions files none and later logins still are [${writer} -> ${reader}]`, async (t) => {
      const path = tempFile(t)
      const clock = new FakeClock()
      const first = open(writer, path, clock)
      first.create()
      const later = first.create()
      // Its Session record holds no user: a User record in the journal gives it one.
      await first.flush()
      later.user = 'ada'
      await first.flush()
      // The file as a crash leaves it (the journal, not close()'s snapshot).
      const crashed = `${path}.crashed`
      copyFileSync(path, crashed)
      first.close()

      const second = open(reader, crashed, clock)
      t.deepEqual(second.sessionsOf('ada').map((session) => session.id), [later.id])
      t.is(second.closeUser('ada'), 1)
      second.close()

      // close() saved only anonymous sessions.
      const anonymous = tempFile(t)
      const third = open(writer, anonymous, clock)
      third.create()
      third.create()
      third.close()
      const fourth = open(reader, anonymous, clock)
      t.is(fourth.size, 2)
      t.deepEqual(fourth.sessionsOf('ada'), [])
      const login = fourth.create({ user: 'ada' })
      t.deepEqual(fourth.sessionsOf('ada').map((session) => session.id), [login.id])
      fourth.close()
    })
  }
}

for (const engine of ENGINES) {
  test(`maxSessionsPerUser applies on load: 'evict-oldest' keeps the newest, 'reject' the oldest; expired ones are left to the sweep [${engine}]`, (t) => {
    const path = tempFile(t)
    const clock = new FakeClock()
    const first = open(engine, path, clock)
    const ids: string[] = []
    for (let index = 0; index < 5; index++) {
      ids.push(first.create({ user: 'ada' }).id)
      clock.advance(10)
    }
    const dying = first.create({ user: 'ada', idleTimeout: 100 })
    first.create({ user: 'bob' })
    first.close()
    clock.advance(100)
    const copy = `${path}.copy`
    copyFileSync(path, copy)

    const evicting = open(engine, path, clock, { maxSessionsPerUser: 2 })
    const reasons: CloseReason[] = []
    evicting.on('close', (_session, reason) => reasons.push(reason))
    t.deepEqual(evicting.sessionsOf('ada').map((session) => session.id), ids.slice(3))
    t.deepEqual(evicting.stats().userLimit, { evicted: 3, rejected: 0 })
    t.is(evicting.stats().closed.evicted, 3)
    t.is(evicting.sessionsOf('bob').length, 1)
    t.is(evicting.sweep(), 1, 'the expired one closes on the sweep')
    t.deepEqual(reasons, ['expired'])
    t.true(evicting.peek(dying.id) === undefined)
    evicting.close()

    const rejecting = open(engine, copy, clock, { maxSessionsPerUser: 2, whenUserFull: 'reject' })
    t.deepEqual(rejecting.sessionsOf('ada').map((session) => session.id), ids.slice(0, 2))
    t.deepEqual(rejecting.stats().userLimit, { evicted: 3, rejected: 0 })
    rejecting.close()
  })
}

for (const stack of STACKS) {
  for (const engine of ENGINES) {
    const name = `[${stack}, ${engine}]`

    test(`a login files the new session under its user and the old one leaves the index ${name}`, async (t) => {
      const server = await startServer(t, stack, engine, { secret: SECRET })
      const laptop = await server.call('/login?user=ada', { method: 'POST' })
      const phone = await server.call('/login?user=ada', { method: 'POST' })
      t.deepEqual(server.manager.sessionsOf('ada').map((session) => session.id), [laptop.body.id, phone.body.id])
      const again = await server.call('/login?user=bob', { method: 'POST', cookie: laptop.cookie })
      t.deepEqual(server.manager.sessionsOf('ada').map((session) => session.id), [phone.body.id])
      t.deepEqual(server.manager.sessionsOf('bob').map((session) => session.id), [again.body.id])
      t.is(server.manager.closeUser('ada'), 1)
      t.is((await server.call('/', { cookie: phone.cookie })).body.id, null, 'logged out everywhere')
    })

    test(`maxSessionsPerUser on login: a new device is refused at the cap, a re-login on a device of the user is not ${name}`, async (t) => {
      const server = await startServer(t, stack, engine, { secret: SECRET }, { maxSessionsPerUser: 2, whenUserFull: 'reject' })
      const laptop = await server.call('/login?user=ada', { method: 'POST' })
      const phone = await server.call('/login?user=ada', { method: 'POST' })
      const tablet = await server.call('/login?user=ada', { method: 'POST' })
      t.is(tablet.body.error, 'UserSessionLimitError')
      const relogin = await server.call('/login?user=ada', { method: 'POST', cookie: laptop.cookie })
      t.is(relogin.body.error, undefined)
      t.deepEqual(server.manager.sessionsOf('ada').map((session) => session.id), [phone.body.id, relogin.body.id])
      t.deepEqual(server.manager.stats().userLimit, { evicted: 0, rejected: 1 })
    })
  }
}
