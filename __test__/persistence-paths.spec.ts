/**
 * The session file's path and lock against what a deployment does to them: symbolic links (a
 * linked directory, a path that links to a file on a volume), a restarted container whose pid is
 * the same, a manager closed in the middle of a compaction and another opened on the file
 * (hostile review findings, stop 42).
 */
import test from 'ava'
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { threadId } from 'node:worker_threads'
import { SessionManager } from '../ts/index'
import { forEachEngine } from './helpers'

forEachEngine(test, 'a second manager on the same file through a symlinked directory fails with ERR_SESSION_FILE_LOCKED', (t, engine) => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-alias-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'run'))
  symlinkSync(join(dir, 'run'), join(dir, 'var-run')) // var-run -> run
  const first = new SessionManager({ engine, persist: { path: join(dir, 'run', 'sessions.skdb') } })
  t.teardown(() => first.close())
  const error = t.throws(() => {
    const second = new SessionManager({ engine, persist: { path: join(dir, 'var-run', 'sessions.skdb') } })
    t.teardown(() => second.close())
  })
  t.is((error as { code?: string } | undefined)?.code, 'ERR_SESSION_FILE_LOCKED')
})

forEachEngine(test, 'a persist.path that is a symlink keeps pointing at its target, which holds the sessions', (t, engine) => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-symlink-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'volume'))
  const target = join(dir, 'volume', 'sessions.skdb')
  const link = join(dir, 'sessions.skdb')
  symlinkSync(target, link)

  const manager = new SessionManager({ engine, persist: { path: link } })
  const id = manager.create({ data: { k: 'v' } }).id
  manager.close()

  t.true(lstatSync(link).isSymbolicLink(), 'the link is still a link')
  const onVolume = new SessionManager({ engine, persist: { path: target } })
  t.teardown(() => onVolume.close())
  t.true(onVolume.has(id), 'the file on the volume holds the session')
})

forEachEngine(test, 'close() during a compaction, then a new manager on the file compacts without error', async (t, engine) => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-close-compact-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 's.skdb')
  const compacting = (): boolean => readdirSync(dir).some((name) => name.includes('.compact-'))
  // Enough dead records to pass 1 MiB and twice the live data: a compaction starts on a commit.
  const churn = (manager: SessionManager): boolean => {
    const pad = 'p'.repeat(300)
    const ids: string[] = []
    for (let i = 0; i < 4000; i++) ids.push(manager.create({ data: { pad } }).id)
    for (const id of ids) {
      manager.destroy(id)
      if (compacting()) return true
    }
    return false
  }

  const first = new SessionManager({ engine, persist: { path } })
  first.create({ data: { keep: 'me' } })
  t.true(churn(first), 'a compaction is in progress')
  first.close() // aborts it; its first write is still in the thread pool

  const second = new SessionManager({ engine, persist: { path } })
  t.teardown(() => second.close())
  const errors: unknown[] = []
  second.on('error', (error) => errors.push(error))
  t.true(churn(second), 'a compaction is in progress')
  for (let i = 0; i < 400 && second.stats().persistence!.compactions === 0 && errors.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  t.deepEqual(errors.map((error) => String(error)), [])
  t.is(second.stats().persistence!.compactions, 1)
})

forEachEngine(test, 'a lock an earlier process with this pid left, naming a thread not of this process, is taken over', (t, engine) => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-lock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 's.skdb')
  const first = new SessionManager({ engine, persist: { path } })
  const id = first.create({ data: { k: 'v' } }).id
  first.close()
  // What the previous run of a container left: the same pid (PID 1 in a container), another
  // start time, its manager in a worker thread whose id no thread of this process has had.
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
  writeFileSync(join(dir, 's.skdb.lock'), `${process.pid} ${threadId + 1_000_000} ${start - 1}\n`)
  const manager = new SessionManager({ engine, persist: { path } })
  t.teardown(() => manager.close())
  t.true(manager.has(id))
  // This process's own lock in another thread (same start time) stays held.
  manager.close()
  writeFileSync(join(dir, 's.skdb.lock'), `${process.pid} ${threadId + 1_000_000} ${start}\n`)
  t.throws(() => new SessionManager({ engine, persist: { path } }), { code: 'ERR_SESSION_FILE_LOCKED' })
})
