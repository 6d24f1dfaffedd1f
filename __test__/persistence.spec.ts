import test from 'ava'
import { spawnSync } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  SessionFileError, SessionFileLockedError, SessionManager, type SessionManagerOptions,
} from '../ts/index'
import { HEADER_BYTES } from '../ts/persist/format'
import { ENGINES, FakeClock, forEachEngine, withWarnings } from './helpers'

const root = join(__dirname, '..')

function tempFile(): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sk-persist-'))
  return { dir, path: join(dir, 'sessions.skdb') }
}

function open(engine: string, path: string, clock: FakeClock, options: SessionManagerOptions = {}) {
  return new SessionManager({ engine: engine as 'js', clock: clock.read, ...options, persist: { path, ...options.persist } })
}

function snapshot(manager: SessionManager) {
  return [...manager].map((s) => ({
    id: s.id, createdAt: s.createdAt, lastActivity: s.lastActivity, idleTimeout: s.idleTimeout,
    absoluteTimeout: s.absoluteTimeout, user: s.user, roles: s.roles, data: s.keys().map((k) => [k, s.get(k)]),
  })).sort((a, b) => (a.id < b.id ? -1 : 1))
}

// Every writer engine with every reader engine: one format.
for (const writer of ENGINES) {
  for (const reader of ENGINES) {
    test(`sessions survive close() and a restart, with id, times, timeouts, user, roles and data [${writer} -> ${reader}]`, (t) => {
      const { dir, path } = tempFile()
      t.teardown(() => rmSync(dir, { recursive: true, force: true }))
      const clock = new FakeClock()
      const first = open(writer, path, clock, { resolution: 1000 })
      const alice = first.create({ user: 'alice', roles: ['admin', 'ops'], data: { theme: 'dark', 'ключ': 'значение 😀', '__proto__': 'kept' } })
      clock.advance(10)
      alice.set('cart', '3 items')
      alice.delete('theme')
      alice.idleTimeout = 60_000
      alice.absoluteTimeout = 3_600_000
      const bob = first.create({ user: 'bob', data: { a: '1' } })
      const oldBob = bob.id
      clock.advance(10)
      bob.regenerate()
      bob.user = undefined
      bob.roles = ['reader']
      const carol = first.create()
      carol.close()
      const expected = snapshot(first)
      first.close()
      t.true(alice.closed)
      t.is(alice.closeReason, 'shutdown')

      const second = open(reader, path, clock, { resolution: 1000 })
      t.teardown(() => second.close())
      t.deepEqual(snapshot(second), expected)
      t.false(second.has(oldBob))
      t.false(second.has(carol.id))
      t.is(second.size, 2)
      t.is(second.stats().created, 0)
    })

    test(`every change is in the journal without close() (a crash after flush) [${writer} -> ${reader}]`, async (t) => {
      const { dir, path } = tempFile()
      t.teardown(() => rmSync(dir, { recursive: true, force: true }))
      const clock = new FakeClock()
      const first = open(writer, path, clock, { resolution: 1000, keys: 'caller' })
      const s = first.create({ key: '192.0.2.7:5684', user: 'u', roles: ['r'], data: { k: 'v' } })
      s.set('k2', 'v2')
      s.regenerate('198.51.100.1:5684')
      s.idleTimeout = 0
      first.create({ key: 'doomed' }).close()
      first.create({ key: 'later', data: { x: 'y' } })
      const expected = snapshot(first)
      await first.flush()
      // What a crash leaves: the journal as written, and a lock whose holder is gone.
      const bytes = readFileSync(path)
      const lock = readFileSync(`${path}.lock`)
      first.close()
      writeFileSync(path, new Uint8Array(bytes))
      writeFileSync(`${path}.lock`, lock.toString().replace(/^\d+ \d+/, '999999999 0'))
      clock.advance(5000)
      const second = open(reader, path, clock, { resolution: 1000, keys: 'caller' })
      t.teardown(() => second.close())
      // Loading adds nothing to the last activities, even of a file not closed cleanly.
      clock.advance(5000)
      const third = () => snapshot(second)
      t.deepEqual(third(), expected)
    })
  }
}

forEachEngine(test, 'a loaded session expired meanwhile closes as expired on the first sweep; no create events', async (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const clock = new FakeClock()
  const first = open(engine, path, clock, { idleTimeout: 1000, resolution: 1 })
  const short = first.create({ data: { k: 'v' } })
  const long = first.create({ idleTimeout: 60_000 })
  first.close()
  clock.advance(5000)
  const second = open(engine, path, clock, { idleTimeout: 1000, resolution: 1 })
  t.teardown(() => second.close())
  const events: string[] = []
  second.on('create', () => events.push('create'))
  second.on('close', (closing, reason) => events.push(`${closing.id}:${reason}:${closing.get('k')}`))
  t.false(second.has(short.id))
  t.true(second.has(long.id))
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.deepEqual(events, [`${short.id}:expired:v`])
})

forEachEngine(test, 'close() with persist suspends: no close events, owned objects disposed, later a restart has them', (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const clock = new FakeClock()
  const first = open(engine, path, clock, { idleTimeout: 1000 })
  const events: string[] = []
  first.on('close', (_session, reason) => events.push(reason))
  const kept = first.create()
  let disposed = 0
  kept.putObject('socket', {}, () => { disposed++ })
  const expired = first.create({ idleTimeout: 10 })
  clock.advance(100)
  first.close()
  t.deepEqual(events, ['expired'])
  t.is(disposed, 1)
  t.is(kept.closeReason, 'shutdown')
  t.is(expired.closeReason, 'expired')
  t.false(existsSync(`${path}.lock`))
  const second = open(engine, path, clock, { idleTimeout: 1000 })
  t.teardown(() => second.close())
  t.true(second.has(kept.id))
  t.false(second.has(expired.id))
  t.is(second.peek(kept.id)?.getObject('socket'), undefined)
})

forEachEngine(test, 'a second manager on the same file fails with ERR_SESSION_FILE_LOCKED, in this process and in another', (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const first = open(engine, path, new FakeClock())
  const error = t.throws(() => open(engine === 'js' ? 'native' : 'js', path, new FakeClock()), { instanceOf: SessionFileLockedError })
  t.is(error?.code, 'ERR_SESSION_FILE_LOCKED')
  t.true(error?.message.includes(path))
  const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', `
    const { SessionManager } = require('./ts/index')
    try { new SessionManager({ engine: '${engine}', persist: { path: ${JSON.stringify(path)} } }); console.log('opened') }
    catch (error) { console.log(error.code, error.pid) }
  `], { cwd: root, encoding: 'utf8', timeout: 60_000 })
  t.is(child.stdout.trim(), `ERR_SESSION_FILE_LOCKED ${process.pid}`, child.stderr)
  first.close()
  // Released by close(): the next one opens it.
  open(engine, path, new FakeClock()).close()
})

forEachEngine(test, 'a lock left by a killed process is taken over', (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', `
    const { SessionManager } = require('./ts/index')
    const manager = new SessionManager({ engine: '${engine}', persist: { path: ${JSON.stringify(path)}, fsync: 'always' } })
    console.log(manager.create({ data: { k: 'v' } }).id)
    process.kill(process.pid, 'SIGKILL')
  `], { cwd: root, encoding: 'utf8', timeout: 60_000 })
  t.is(child.signal, 'SIGKILL', child.stderr)
  t.true(existsSync(`${path}.lock`))
  const manager = open(engine, path, new FakeClock(), { idleTimeout: 0 })
  t.teardown(() => manager.close())
  t.is(manager.peek(child.stdout.trim())?.get('k'), 'v')
})

forEachEngine(test, 'close(), then process.exit(), then a reload: nothing lost', (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', `
    const { SessionManager } = require('./ts/index')
    const manager = new SessionManager({ engine: '${engine}', idleTimeout: 0, persist: { path: ${JSON.stringify(path)}, fsync: 'never' } })
    const ids = []
    for (let i = 0; i < 500; i++) { const s = manager.create({ data: { i: String(i) } }); s.set('j', String(i * 2)); ids.push(s.id) }
    manager.close()
    console.log(JSON.stringify(ids))
    process.exit(0)
  `], { cwd: root, encoding: 'utf8', timeout: 60_000 })
  t.is(child.status, 0, child.stderr)
  const ids = JSON.parse(child.stdout) as string[]
  const manager = open(engine, path, new FakeClock(), { idleTimeout: 0 })
  t.teardown(() => manager.close())
  t.is(manager.size, 500)
  ids.forEach((id, i) => t.is(manager.peek(id)?.get('j'), String(i * 2)))
})

forEachEngine(test, 'a file written with other keys, idBytes or idEncoding is a clear error, and is kept', (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const clock = new FakeClock()
  open(engine, path, clock).close()
  const before = readFileSync(path)
  for (const options of [{ idBytes: 32 }, { idEncoding: 'hex' as const }, { keys: 'caller' as const }]) {
    const error = t.throws(() => open(engine, path, clock, { ...options, persist: { path, onCorrupt: 'rename' } }), { instanceOf: SessionFileError })
    t.is(error?.code, 'ERR_SESSION_FILE_MISMATCH')
    t.true(error?.message.includes(path))
  }
  t.deepEqual(readFileSync(path), before)
  t.false(existsSync(`${path}.lock`))
})

forEachEngine(test, 'a file that is not ours fails construction naming the file, and is never overwritten; rename moves it aside', (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(path, 'user,password\nalice,hunter2\n')
  const error = t.throws(() => open(engine, path, new FakeClock()), { instanceOf: SessionFileError })
  t.is(error?.code, 'ERR_SESSION_FILE_CORRUPT')
  t.regex(error?.message ?? '', /sessions\.skdb at offset 0: not a sessionkeeper session file/)
  t.is(readFileSync(path, 'utf8'), 'user,password\nalice,hunter2\n')
  const manager = open(engine, path, new FakeClock(), { persist: { path, onCorrupt: 'rename' } })
  manager.close()
  const aside = readdirSync(dir).filter((name) => name.startsWith('sessions.skdb.corrupt-'))
  t.is(aside.length, 1)
  t.is(readFileSync(join(dir, aside[0]), 'utf8'), 'user,password\nalice,hunter2\n')
})

test('persist options are validated', (t) => {
  t.throws(() => new SessionManager({ persist: 'x' as never }), { instanceOf: TypeError, message: /options\.persist/ })
  t.throws(() => new SessionManager({ persist: { path: '' } }), { instanceOf: RangeError, message: /options\.persist\.path/ })
  t.throws(() => new SessionManager({ persist: { path: 'x', fsync: 'sometimes' as never } }), { message: /options\.persist\.fsync/ })
  t.throws(() => new SessionManager({ persist: { path: 'x', onCorrupt: 'delete' as never } }), { message: /options\.persist\.onCorrupt/ })
  t.throws(() => new SessionManager({ persist: { path: 'x', secret: 'k' } as never }), { instanceOf: TypeError, message: /secret/ })
})

forEachEngine(test, 'flush() resolves under every policy, and at once without persist or after close', async (t, engine) => {
  for (const fsync of ['always', 'everysec', 'never'] as const) {
    const { dir, path } = tempFile()
    const manager = open(engine, path, new FakeClock(), { persist: { path, fsync } })
    manager.create({ data: { k: 'v' } })
    await manager.flush()
    t.true(readFileSync(path).length > 100)
    manager.close()
    await manager.flush()
    rmSync(dir, { recursive: true, force: true })
  }
  await new SessionManager({ engine }).flush()
  t.pass()
})

forEachEngine(test, 'renewals are coalesced: many gets of one session write at most one record per resolution', async (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const clock = new FakeClock()
  const manager = open(engine, path, clock, { resolution: 1000 })
  t.teardown(() => manager.close())
  const renewed = manager.create()
  await manager.flush()
  const before = readFileSync(path).length
  for (let i = 0; i < 1000; i++) {
    clock.advance(1)
    manager.get(renewed.id)
    renewed.touch()
  }
  await manager.flush()
  const perRenew = readFileSync(path).length - before
  // 1000 ms of renewals: one Renew record (12 + 1 + 4 + 22 + 8 bytes), not a thousand.
  t.true(perRenew <= 2 * 47, `${perRenew} bytes`)
})

/** What a crash leaves (the journal as flushed), loaded by a new manager. */
async function crashAndLoad(manager: SessionManager, engine: string, path: string, clock: FakeClock, options: SessionManagerOptions) {
  await manager.flush()
  const bytes = readFileSync(path)
  manager.close()
  writeFileSync(path, new Uint8Array(bytes))
  return open(engine, path, clock, options)
}

forEachEngine(test, 'a use is journaled only once it moves the last activity by the slack: a sixteenth of the idle timeout, at most 60 s, at least the resolution', async (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const clock = new FakeClock()
  const manager = open(engine, path, clock, { resolution: 1000, idleTimeout: 3_600_000 })
  t.teardown(() => manager.close())
  const hour = manager.create()
  const minute = manager.create({ idleTimeout: 60_000 })
  const none = manager.create({ idleTimeout: 0 })
  await manager.flush()
  let size = statSync(path).size
  const grew = async () => {
    await manager.flush()
    const now = statSync(path).size
    const delta = now - size
    size = now
    return delta
  }
  // 1 h idle: slack 60 s (the cap); 1 min idle: 3.75 s; no idle timeout: 60 s.
  clock.advance(3749)
  for (const session of [hour, minute, none]) manager.get(session.id)
  t.is(await grew(), 0)
  clock.advance(1)
  for (const session of [hour, minute, none]) manager.get(session.id)
  t.is(await grew(), 47, 'the 1 min session only: one Renew')
  clock.advance(60_000 - 3750 - 1)
  manager.get(hour.id)
  none.touch()
  t.is(await grew(), 0)
  clock.advance(1)
  manager.get(hour.id)
  none.touch()
  t.is(await grew(), 2 * 47)
})

forEachEngine(test, 'after a crash a session comes back at most the slack before its last use and never after it', async (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const clock = new FakeClock()
  const options = { resolution: 1000, idleTimeout: 160_000 }
  const manager = open(engine, path, clock, options)
  // Slack: 160 s / 16 = 10 s.
  const sessions = Array.from({ length: 40 }, () => manager.create())
  const lastUse = new Map<string, number>()
  for (const session of sessions) lastUse.set(session.id, clock.now)
  for (let step = 0; step < 400; step++) {
    clock.advance(97)
    const session = sessions[(step * 13) % sessions.length]
    t.truthy(manager.get(session.id))
    lastUse.set(session.id, clock.now)
  }
  const reloaded = await crashAndLoad(manager, engine, path, clock, options)
  t.teardown(() => reloaded.close())
  let behind = 0
  for (const [id, used] of lastUse) {
    const restored = reloaded.peek(id)!.lastActivity
    t.true(restored >= used - 10_000 + 1000, `${id}: ${used - restored} ms behind`)
    t.true(restored <= used, `${id}: ${restored - used} ms ahead of its last use`)
    behind = Math.max(behind, used - restored)
  }
  t.true(behind > 0, 'some use was not journaled (the slack is in effect)')
})

forEachEngine(test, '10^4 sessions over three pages of journal state: uses after a load and after a crash journal by the slack, destroys stay gone', async (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const clock = new FakeClock()
  // Slack: 60 s (a sixteenth of an hour, at most 60 s); 3,000 steps of 97 ms span ~5 min.
  const options = { resolution: 1000, idleTimeout: 3_600_000 }
  const first = open(engine, path, clock, options)
  const ids = Array.from({ length: 10_000 }, () => first.create().id)
  first.close()
  // Loaded, the sessions' journal state is made for every page at once (adoptAll).
  const manager = open(engine, path, clock, options)
  // Sessions past the first two pages of slots: a use past the slack writes one Renew each, a
  // second use inside it writes nothing, a third past it writes again.
  const high = ids.slice(9000)
  const grown = async (use: () => void): Promise<number> => {
    await manager.flush()
    const before = statSync(path).size
    use()
    await manager.flush()
    return statSync(path).size - before
  }
  clock.advance(61_000)
  t.true(await grown(() => high.forEach((id) => t.truthy(manager.get(id)))) > 0)
  clock.advance(1000)
  t.is(await grown(() => high.forEach((id) => t.truthy(manager.get(id)))), 0, 'uses inside the slack write nothing')
  clock.advance(60_000)
  t.true(await grown(() => high.forEach((id) => t.truthy(manager.get(id)))) > 0)
  const lastUse = new Map<string, number>()
  for (const id of ids) lastUse.set(id, high.includes(id) ? clock.now : clock.now - 122_000)
  const destroyed: string[] = []
  for (let step = 0; step < 3000; step++) {
    clock.advance(97)
    const id = ids[(step * 7919) % ids.length]
    if (step % 10 === 0 && !destroyed.includes(id)) {
      t.true(manager.destroy(id))
      destroyed.push(id)
      lastUse.delete(id)
    } else if (lastUse.has(id)) {
      t.truthy(manager.get(id))
      lastUse.set(id, clock.now)
    }
  }
  const reloaded = await crashAndLoad(manager, engine, path, clock, options)
  t.teardown(() => reloaded.close())
  const far: string[] = []
  for (const [id, used] of lastUse) {
    const restored = reloaded.peek(id)?.lastActivity
    if (restored === undefined || restored < used - 60_000 + 1000 || restored > used) far.push(`${id}: ${restored} for ${used}`)
  }
  t.deepEqual(far.slice(0, 3), [])
  t.deepEqual(destroyed.filter((id) => reloaded.has(id)), [])
  t.is(reloaded.size, ids.length - destroyed.length)
})

forEachEngine(test, 'a persisted get by an id sliced from a large string does not keep that string alive; a destroy forgets its id', (t, engine) => {
  // The journal names a session by the id a destroy found it by (no string spelt per change);
  // a get's id is often a slice of a request, which V8 keeps whole while the slice lives.
  const { setFlagsFromString } = require('node:v8') as typeof import('node:v8')
  const { runInNewContext } = require('node:vm') as typeof import('node:vm')
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const manager = open(engine, path, new FakeClock())
  t.teardown(() => manager.close())
  const { id } = manager.create()
  const doomed = manager.create().id
  const heldAfter = (use: (slice: string) => void, prefix: string): number => {
    let big: string | undefined = prefix + 'x'.repeat(32 << 20) + String(Math.random())
    use(big.slice(0, prefix.length))
    gc()
    const before = process.memoryUsage().heapUsed
    big = undefined
    gc()
    gc()
    return before - process.memoryUsage().heapUsed
  }
  t.true(heldAfter((slice) => t.truthy(manager.get(slice)), id) > 16 << 20, 'a get')
  t.true(heldAfter((slice) => t.true(manager.destroy(slice)), doomed) > 16 << 20, 'a destroy')
})

forEachEngine(test, 'shortening the idle timeout journals the last use at once, so the shorter slack bounds what a crash moves back', async (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const clock = new FakeClock()
  const options = { resolution: 1000, idleTimeout: 3_600_000 }
  const manager = open(engine, path, clock, options)
  const session = manager.create()
  clock.advance(50_000)
  manager.get(session.id)
  const used = clock.now
  session.idleTimeout = 60_000
  clock.advance(1000)
  const reloaded = await crashAndLoad(manager, engine, path, clock, options)
  t.teardown(() => reloaded.close())
  // Without the catch-up it would come back 50 s old, expiring 10 s after the restart.
  t.true(reloaded.peek(session.id)!.lastActivity >= used - 3750)
})

forEachEngine(test, 'typed data comes back as the same values (the facade encodes them, engines store strings byte for byte)', (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const clock = new FakeClock()
  const first = open(engine, path, clock)
  const value = { cart: [1, 2, { sku: 'ab-1', note: 'ünïcødé \u2028' }], flag: true, none: null, n: -0.5 }
  const session = first.create({ data: { text: 'plain', typed: value } })
  session.set('count', 3)
  first.close()
  const second = open(engine, path, clock)
  t.teardown(() => second.close())
  const loaded = second.peek(session.id)!
  t.deepEqual(loaded.get('typed'), value)
  t.is(loaded.get('count'), 3)
  t.is(loaded.get('text'), 'plain')
})

for (const sealed of [false, true]) forEachEngine(test, `compaction in the background shrinks the file to the live sessions and keeps every change made meanwhile${sealed ? ', encrypted' : ''}`, async (t, engine) => {
  t.timeout(2 * 60_000)
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const clock = new FakeClock()
  const key = sealed ? 'c'.repeat(64) : undefined
  const manager = open(engine, path, clock, { idleTimeout: 0, persist: { path, key } })
  t.teardown(() => manager.close())
  const padding = 'x'.repeat(200)
  const ids: string[] = []
  for (let i = 0; i < 6000; i++) ids.push(manager.create({ data: { i: String(i), padding } }).id)
  await manager.flush()
  const full = statSync(path).size
  t.is(manager.stats().persistence!.compactionLongestStepMs, 0)
  const live = ids.slice(5400)
  // Destroying 90% makes the file mostly dead records; changes go on while it is rewritten.
  for (let i = 0; i < 5400; i++) manager.destroy(ids[i])
  let round = 0
  const started = Date.now()
  while (manager.stats().persistence!.compactions === 0 || round < 2000) {
    const session = manager.peek(live[round % live.length])!
    session.set('round', String(round))
    if (round % 7 === 0) live[round % live.length] = session.regenerate()!
    round++
    if (round % 50 === 0) await new Promise((resolve) => setImmediate(resolve))
    if (Date.now() - started > 60_000) t.fail('no compaction within 60 s')
  }
  await manager.flush()
  // Timed in real time: only that it was measured, not how long (a loaded machine).
  const step = manager.stats().persistence!.compactionLongestStepMs
  t.true(step > 0 && Number.isFinite(step), `${step}`)
  const compacted = statSync(path).size
  t.true(compacted < full / 3, `${compacted} bytes after compaction, ${full} before`)
  // What a crash now leaves loads as the live table.
  const expected = snapshot(manager)
  const copy = join(dir, 'copy.skdb')
  writeFileSync(copy, new Uint8Array(readFileSync(path)))
  const reloaded = open(engine, copy, clock, { idleTimeout: 0, persist: { path: copy, key } })
  t.teardown(() => reloaded.close())
  t.deepEqual(snapshot(reloaded).map(({ lastActivity: _, ...rest }) => rest), expected.map(({ lastActivity: _, ...rest }) => rest))
})

forEachEngine(test, 'a session that expired and was swept stays gone after a crash', async (t, engine) => {
  for (const withListener of [false, true]) {
    const { dir, path } = tempFile()
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const clock = new FakeClock()
    const manager = open(engine, path, clock, { resolution: 1000 })
    if (withListener) manager.on('close', () => {})
    const short = manager.create({ idleTimeout: 100 })
    const kept = manager.create({ idleTimeout: 60_000 })
    clock.advance(150)
    t.is(manager.sweep(), 1)
    await manager.flush()
    const bytes = readFileSync(path)
    manager.close()
    writeFileSync(path, new Uint8Array(bytes))
    // Loaded at once: anything added to its last activity would make the short session alive again.
    const reloaded = open(engine, path, clock, { resolution: 1000 })
    t.false(reloaded.has(short.id), `withListener: ${withListener}`)
    t.true(reloaded.has(kept.id))
    reloaded.close()
  }
})

forEachEngine(test, 'a renewal just after a restart from a crash is written', async (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const clock = new FakeClock()
  const start = clock.now
  const options = { resolution: 1000, idleTimeout: 10_000 }
  const first = open(engine, path, clock, options)
  const session = first.create()
  // Loaded 1200 ms later, with the last activity the file holds.
  clock.advance(1200)
  const second = await crashAndLoad(first, engine, path, clock, options)
  t.is(second.peek(session.id)?.lastActivity, start)
  clock.advance(100)
  t.truthy(second.get(session.id))
  // The use at start + 1300 was journaled: the next load does not go back to start.
  clock.advance(100)
  const third = await crashAndLoad(second, engine, path, clock, options)
  t.true(third.peek(session.id)!.lastActivity >= start + 1300)
  third.close()
})

test('both engines load a journal into the same slots: the same sessions in the same order, re-created and renamed ones included', async (t) => {
  for (const keys of ['random', 'caller'] as const) {
    const { dir, path } = tempFile()
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const clock = new FakeClock()
    const writer = open('js', path, clock, { keys, resolution: 1 })
    const make = (n: number) => writer.create({ ...(keys === 'caller' ? { key: `k${n % 40}` } : {}), data: { n: String(n) } })
    const live: ReturnType<typeof make>[] = []
    for (let n = 0; n < 400; n++) {
      clock.advance(1)
      const roll = (n * 7919) % 10
      if (live.length < 5 || roll < 4) {
        if (keys === 'caller' && writer.has(`k${n % 40}`)) writer.destroy(`k${n % 40}`)
        live.push(make(n))
        continue
      }
      const index = (n * 104729) % live.length
      const session = live[index]
      if (session.closed) continue
      if (roll < 6) session.set('n', `${n}`)
      else if (roll < 8 && keys === 'random') session.regenerate()
      else if (roll < 8) writer.get(session.id)
      else session.close()
    }
    await writer.flush()
    const crashed = readFileSync(path)
    writer.close()
    const orders = ENGINES.map((engine) => {
      writeFileSync(path, new Uint8Array(crashed))
      const reader = open(engine, path, clock, { keys, resolution: 1 })
      const order = [...reader].map((s) => [s.id, s.lastActivity, s.get('n')])
      reader.close()
      return order
    })
    t.true(orders[0].length > 10)
    t.deepEqual(orders[0], orders[1], keys)
  }
})

const KEY_A = 'a'.repeat(64)
const KEY_B = Buffer.alloc(32, 7).toString('base64url')

forEachEngine(test, 'persist.key encrypts every record: the file holds no data in the clear, and loads only with the key', async (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const clock = new FakeClock()
  const first = open(engine, path, clock, { persist: { path, key: KEY_A } })
  const session = first.create({ user: 'alice@example.com', data: { address: '1 Secret Lane' } })
  session.set('card', '4111-1111')
  await first.flush()
  const journal = readFileSync(path)
  t.false(journal.includes('Secret Lane') || journal.includes('alice@example') || journal.includes('4111'))
  const expected = snapshot(first)
  first.close()
  const saved = readFileSync(path)
  t.false(saved.includes('Secret Lane') || saved.includes('4111'))
  // Without the key: a clear error, and the file is kept (never renamed aside).
  const error = t.throws(() => open(engine, path, clock, { persist: { path, onCorrupt: 'rename' } }), { instanceOf: SessionFileError })
  t.is(error?.code, 'ERR_SESSION_FILE_MISMATCH')
  t.regex(error?.message ?? '', /encrypted/)
  // With a wrong key: the record fails authentication.
  const wrong = t.throws(() => open(engine, path, clock, { persist: { path, key: 'b'.repeat(64) } }), { instanceOf: SessionFileError })
  t.regex(wrong?.message ?? '', /key/)
  const second = open(engine, path, clock, { persist: { path, key: KEY_A } })
  t.deepEqual(snapshot(second), expected)
  second.close()
  // A journal written after the crash-free close, then a crash: loads with the key.
  writeFileSync(path, new Uint8Array(journal))
  const third = open(engine, path, clock, { persist: { path, key: [KEY_A] } })
  t.is(third.peek(session.id)?.get('card'), '4111-1111')
  third.close()
})

forEachEngine(test, 'key rotation: old keys decrypt, the first encrypts, and the next rewrite leaves only the new key', (t, engine) => {
  const { dir, path } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const clock = new FakeClock()
  const first = open(engine, path, clock, { persist: { path, key: KEY_A } })
  const session = first.create({ data: { k: 'v' } })
  first.close()
  const rotated = open(engine, path, clock, { persist: { path, key: [KEY_B, KEY_A] } })
  rotated.peek(session.id)!.set('k2', 'v2')
  rotated.close()
  // close() rewrote everything under the new key: the old one is no longer needed.
  const onlyNew = open(engine, path, clock, { persist: { path, key: KEY_B } })
  t.is(onlyNew.peek(session.id)?.get('k2'), 'v2')
  onlyNew.close()
  t.throws(() => open(engine, path, clock, { persist: { path, key: KEY_A } }), { instanceOf: SessionFileError })
  // A plain file given a key is encrypted from then on; an encrypted one never goes back in the clear silently.
  const { path: plainPath } = tempFile()
  open(engine, plainPath, clock).close()
  const upgraded = open(engine, plainPath, clock, { persist: { path: plainPath, key: KEY_A } })
  upgraded.close()
  t.throws(() => open(engine, plainPath, clock), { instanceOf: SessionFileError, message: /the file is encrypted: pass its key in persist\.key/ })
})

test('persist.key is validated', (t) => {
  t.throws(() => new SessionManager({ persist: { path: 'x', key: 'short' } }), { instanceOf: RangeError, message: /options\.persist\.key/ })
  t.throws(() => new SessionManager({ persist: { path: 'x', key: new Uint8Array(16) } }), { instanceOf: RangeError, message: /32 bytes/ })
  t.throws(() => new SessionManager({ persist: { path: 'x', key: [] } }), { instanceOf: RangeError })
  t.throws(() => new SessionManager({ persist: { path: 'x', key: [KEY_A, 42 as never] } }), { instanceOf: TypeError, message: /key\[1\]/ })
})

test('both engines journal a create as the same bytes: the native engine encodes the record itself, the JsEngine in JavaScript', async (t) => {
  const files = []
  for (const engine of ENGINES) {
    const { dir, path } = tempFile()
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const clock = new FakeClock()
    const manager = open(engine, path, clock, { keys: 'caller', maxDataBytes: 1 << 20 })
    const texts = ['', 'a', 'ключ', 'значение 😀', '\u2028', '__proto__']
    for (let index = 0; index < 60; index++) {
      clock.advance(3)
      const data: Record<string, string> = {}
      for (let entry = 0; entry < index % 5; entry++) data[texts[(index + entry) % texts.length] + entry] = texts[(index * 3 + entry) % texts.length]
      // Records larger than the journal's buffer (64 KiB) and the room left in it: room is made
      // for them before the native engine encodes them.
      if (index % 17 === 16) data.big = 'x'.repeat(70_000 + index * 1000)
      manager.create({
        key: `${texts[index % texts.length]}:${index}`,
        ...(index % 3 === 0 ? {} : { user: texts[(index + 2) % texts.length] + index }),
        ...(index % 4 === 1 ? { roles: texts.slice(0, index % texts.length) } : {}),
        idleTimeout: index % 2 === 0 ? 60_000 : 0,
        data,
      })
    }
    await manager.flush()
    // After the header, which holds the time it was written (the system's clock).
    files.push(readFileSync(path).subarray(HEADER_BYTES))
    manager.close()
  }
  t.true(files[0].length > 4 * 70_000)
  let first = 0
  while (first < files[0].length && files[0][first] === files[1][first]) first++
  t.is(first, files[0].length, `the files differ from byte ${first}: ${files[0].subarray(first - 8, first + 24).toString('hex')} against ${files[1].subarray(first - 8, first + 24).toString('hex')}`)
  t.is(files[0].length, files[1].length)
})

// The native engine reads a plain file in 4 MiB pieces (crates/core/src/persist/pieces.rs): a
// file of several pieces, with a record larger than one and a torn tail, loads as on the JsEngine.
for (const writer of ENGINES) {
  test(`a file of many pieces, with a record larger than a piece and a torn tail, loads the same on both engines [${writer} writes]`, (t) => {
    const { dir, path } = tempFile()
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const clock = new FakeClock()
    const first = open(writer, path, clock)
    const filler = 'x'.repeat(300)
    for (let index = 0; index < 20_000; index++) first.create({ user: `user-${index}`, data: { index: String(index), filler } })
    first.create({ data: { large: 'L'.repeat(5 << 20) } })
    first.close()
    // A crash mid-append: a record's frame (length 200 and its complement) and one byte of its body.
    const torn = new Uint8Array([200, 0, 0, 0, 55, 255, 255, 255, 1, 2, 3, 4, 1])
    appendFileSync(path, torn)
    t.true(statSync(path).size > 10 << 20)
    const loads = ENGINES.map((reader) => {
      const { result, warnings } = withWarnings(() => {
        const manager = open(reader, path, clock)
        const found = { size: manager.size, sessions: snapshot(manager) }
        manager.close()
        return found
      })
      // The first load dropped the torn tail; the next gets it back.
      appendFileSync(path, torn)
      return { ...result, warnings }
    })
    t.deepEqual(loads.map((load) => load.warnings), [['SESSIONKEEPER_SESSION_FILE_TORN'], ['SESSIONKEEPER_SESSION_FILE_TORN']])
    t.is(loads[0].size, 20_001)
    t.deepEqual(loads[0].sessions, loads[1].sessions)
    t.is(loads[0].sessions.find((s) => s.data.some(([key]) => key === 'large'))?.data[0][1], 'L'.repeat(5 << 20))
  })
}

test('a session file path that is a directory fails as reading it does, on both engines', (t) => {
  const { dir } = tempFile()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'a-directory')
  mkdirSync(path)
  for (const engine of ENGINES) {
    t.throws(() => open(engine, path, new FakeClock()), { code: 'EISDIR' }, engine)
  }
})
