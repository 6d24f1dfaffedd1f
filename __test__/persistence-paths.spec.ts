/**
 * The session file's path and lock against what a deployment does to them: symbolic links (a
 * linked directory, a path that links to a file on a volume, a relative link climbing with ..),
 * a manager closed in the middle of a compaction and another opened on the file (hostile review
 * findings, stop 42).
 */
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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

forEachEngine(test, 'a dangling relative link (with ..) reached through a linked directory leads to the file the kernel opens', (t, engine) => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-rel-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'real', 'deep'), { recursive: true })
  mkdirSync(join(dir, 'real', 'other'))
  mkdirSync(join(dir, 'other')) // the lexical misreading's directory
  symlinkSync(join(dir, 'real', 'deep'), join(dir, 'linkdir'))
  symlinkSync('../other/s.skdb', join(dir, 'real', 'deep', 's.skdb'))

  const viaLink = new SessionManager({ engine, persist: { path: join(dir, 'linkdir', 's.skdb') } })
  const id = viaLink.create({ data: { k: 'v' } }).id
  // The same file by its real name: the lock must refuse a second writer.
  const error = t.throws(() => {
    const second = new SessionManager({ engine, persist: { path: join(dir, 'real', 'other', 's.skdb') } })
    t.teardown(() => second.close())
  })
  t.is((error as { code?: string } | undefined)?.code, 'ERR_SESSION_FILE_LOCKED', 'one file, one lock')
  viaLink.close()
  t.true(existsSync(join(dir, 'real', 'other', 's.skdb')), 'the link\'s target holds the sessions')
  t.false(existsSync(join(dir, 'other', 's.skdb')), 'nothing written at the lexical misreading')
  const onTarget = new SessionManager({ engine, persist: { path: join(dir, 'real', 'other', 's.skdb') } })
  t.teardown(() => onTarget.close())
  t.true(onTarget.has(id))
})

test('a path that cannot hold a session file fails naming options.persist.path, before anything is made', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-place-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'plain-file'), 'x')
  mkdirSync(join(dir, 'a-directory'))
  const cases: [string, string, RegExp][] = [
    // Was ENOENT naming the lock's own temporary file, which no user ever named.
    [join(dir, 'missing', 's.skdb'), 'ENOENT', /directory .*missing does not exist \(create it first/],
    [join(dir, 'plain-file', 's.skdb'), 'ENOTDIR', /plain-file is not a directory/],
    [join(dir, 'plain-file', 'deeper', 's.skdb'), 'ENOTDIR', /a part of the path .*deeper is a file/],
    // Was a lock made beside the directory, then EISDIR from reading it.
    [join(dir, 'a-directory'), 'EISDIR', /a-directory is a directory, not a file/],
  ]
  for (const [path, code, message] of cases) {
    const error = t.throws(() => new SessionManager({ persist: { path } }), { code, message })
    t.regex(error?.message ?? '', /options\.persist\.path/)
  }
  t.deepEqual(readdirSync(dir).sort(), ['a-directory', 'plain-file'])
  t.deepEqual(readdirSync(join(dir, 'a-directory')), [])
})

;(process.platform === 'linux' ? test : test.skip)('a path naming a FIFO fails at once, and is left as it is', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-place-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'fifo')
  execFileSync('mkfifo', [path])
  // Read as a session file, it blocked the constructor for good; a device (as /dev/null) was
  // replaced by the first snapshot.
  t.throws(() => new SessionManager({ persist: { path } }), { code: 'EINVAL', message: /fifo is not a regular file/ })
  t.true(lstatSync(path).isFIFO())
  t.deepEqual(readdirSync(dir), ['fifo'])
})
