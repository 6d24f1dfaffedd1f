/**
 * The session file's lock against what a host does to it (hostile review findings, stop 42):
 * a lock read between its creation and its text, a dead holder's pid reused by another process,
 * a container restarted with the same pid whose manager ran in a Worker, and a Worker of this
 * process holding the lock while the clock says the lock is older than the process. The rules
 * are in docs/persistence-format.md ("The lock"); /proc is Linux's, so some run there only.
 */
import test from 'ava'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync, linkSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { threadId } from 'node:worker_threads'
import { SessionManager } from '../ts/index'

const root = join(__dirname, '..')
const linux = process.platform === 'linux'

function tempPath(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'sk-lock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'sessions.skdb')
}

/** Sets the lock's modification time (when it was made, to the reader) `ms` before now. */
function madeAgo(lockPath: string, ms: number): void {
  const when = new Date(Date.now() - ms)
  utimesSync(lockPath, when, when)
}

test('a lock with no text yet is being made: refused while young, taken over once old', (t) => {
  const path = tempPath(t)
  // A release that creates the lock and writes its text after: read in between, the lock is
  // empty. Taken for stale then, its maker and its reader both opened the file.
  writeFileSync(`${path}.lock`, '')
  t.throws(() => new SessionManager({ persist: { path } }), { code: 'ERR_SESSION_FILE_LOCKED', message: /taking the lock/ })
  t.true(existsSync(`${path}.lock`))
  // Its maker died before writing the text: after a few seconds, stale.
  madeAgo(`${path}.lock`, 60_000)
  const manager = new SessionManager({ persist: { path } })
  t.is(readFileSync(`${path}.lock`, 'utf8'), `${process.pid} ${threadId}\n`)
  manager.close()
  t.false(existsSync(`${path}.lock`))
})

test('the lock has its text from the moment it has its name', (t) => {
  const path = tempPath(t)
  // Eight processes race for one file: exactly one opens it, and every lock the others read
  // named a holder (none took an empty lock for stale).
  const racer = `
    const { SessionManager } = require('sessionkeeper')
    const at = Number(process.argv[1])
    while (Date.now() < at) {}
    try {
      const manager = new SessionManager({ persist: { path: ${JSON.stringify(path)} } })
      console.log('opened')
      setTimeout(() => manager.close(), 1500)
    } catch (error) { console.log(error.code, error.message.includes('taking the lock') ? 'forming' : 'named') }
  `
  const at = Date.now() + 1500
  const children = Array.from({ length: 8 }, () => spawn(process.execPath, ['-e', racer, String(at)], { cwd: root }))
  return Promise.all(children.map((child) => new Promise<string>((resolve) => {
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
    child.on('exit', () => resolve(out.trim()))
  }))).then((outcomes) => {
    t.is(outcomes.filter((outcome) => outcome === 'opened').length, 1, outcomes.join(', '))
    t.is(outcomes.filter((outcome) => outcome === 'ERR_SESSION_FILE_LOCKED named').length, 7, outcomes.join(', '))
  })
})

/** What a holder of the kernel's lock that died left: its lock file, linked as `.lock.owned`, and its text in the owner file. */
function leftByDeadHolder(path: string, pid: number): void {
  writeFileSync(`${path}.lock`, `${pid} 0\n`)
  linkSync(`${path}.lock`, `${path}.lock.owned`)
  writeFileSync(`${path}.lock.owner`, `${pid} 0\n`)
}

async function liveStranger(t: { teardown(fn: () => void): void }): Promise<number> {
  const stranger = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' })
  t.teardown(() => stranger.kill())
  await new Promise((resolve) => stranger.once('spawn', resolve))
  return stranger.pid!
}

test("a dead holder's pid now another process's: taken over, as the kernel's lock tells", async (t) => {
  const path = tempPath(t)
  // Its pid is now a stranger's, a live process that never opened the file.
  leftByDeadHolder(path, await liveStranger(t))
  const manager = new SessionManager({ persist: { path } })
  t.is(readFileSync(`${path}.lock`, 'utf8'), `${process.pid} ${threadId}\n`)
  manager.close()
})

test('a lock file made since by a process with the dead holder\'s pid, without the kernel\'s lock, is held', async (t) => {
  const path = tempPath(t)
  // A restarted container's PID 1 running an earlier release (or a copy without the binding)
  // took its own pid's stale lock over: the same text, another file. A manager started beside
  // it (docker exec) gets the kernel's lock, which nobody holds, and must still not open the file.
  const pid = await liveStranger(t)
  leftByDeadHolder(path, pid)
  rmSync(`${path}.lock`)
  writeFileSync(`${path}.lock`, `${pid} 0\n`)
  // Its inode cannot be the dead holder's (whose second name keeps that one in use), whatever
  // the file system's times and inode reuse.
  t.not(statSync(`${path}.lock`).ino, statSync(`${path}.lock.owned`).ino)
  const error = t.throws(() => new SessionManager({ persist: { path } }), { code: 'ERR_SESSION_FILE_LOCKED' })
  t.is((error as { pid?: number } | undefined)?.pid, pid)
})

test('refused by the kernel\'s lock, the error names no dead process', (t) => {
  const path = tempPath(t)
  const first = new SessionManager({ persist: { path } })
  t.teardown(() => first.close())
  // As while another manager takes over a dead one's lock file.
  const own = readFileSync(`${path}.lock`, 'utf8')
  writeFileSync(`${path}.lock`, '999999999 0\n')
  const child = spawnSync(process.execPath, ['-e', `
    const { SessionManager } = require('sessionkeeper')
    try { new SessionManager({ persist: { path: ${JSON.stringify(path)} } }).close(); console.log('opened') }
    catch (error) { console.log(error.code, error.pid, /another manager has it open/.test(error.message)) }
  `], { cwd: root, encoding: 'utf8', timeout: 60_000 })
  t.is(child.stdout.trim(), 'ERR_SESSION_FILE_LOCKED undefined true', child.stderr)
  writeFileSync(`${path}.lock`, own)
})

;(linux ? test : test.skip)('a FIFO where the owner file should be: a warning, the lock file alone, and no wait for good', (t) => {
  const path = tempPath(t)
  execFileSync('mkfifo', [`${path}.lock.owner`])
  const child = spawnSync(process.execPath, ['-e', `
    const { SessionManager } = require('sessionkeeper')
    process.on('warning', (warning) => console.log(warning.code))
    const manager = new SessionManager({ persist: { path: ${JSON.stringify(path)} } })
    console.log('opened')
    manager.close()
  `], { cwd: root, encoding: 'utf8', timeout: 30_000 })
  t.is(child.signal, null, 'the constructor waited for a writer of the FIFO')
  t.deepEqual(child.stdout.trim().split('\n').sort(), ['SESSIONKEEPER_NO_KERNEL_LOCK', 'opened'], child.stderr)
})

test('a holder killed with SIGKILL leaves its file to the next manager at once', (t) => {
  const path = tempPath(t)
  const child = spawnSync(process.execPath, ['-e', `
    const { SessionManager } = require('sessionkeeper')
    const manager = new SessionManager({ persist: { path: ${JSON.stringify(path)}, fsync: 'always' } })
    console.log(manager.create({ data: { k: 'v' } }).id)
    process.kill(process.pid, 'SIGKILL')
  `], { cwd: root, encoding: 'utf8', timeout: 60_000 })
  t.is(child.signal, 'SIGKILL')
  const manager = new SessionManager({ persist: { path } })
  t.is(manager.peek(child.stdout.trim())?.get('k'), 'v')
  manager.close()
})

test('a live holder of an earlier release (a lock file, no kernel lock) is not taken over, whatever its time says', async (t) => {
  const path = tempPath(t)
  // What releases before the kernel's lock did: a lock file naming a live process, no more.
  const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' })
  t.teardown(() => holder.kill())
  await new Promise((resolve) => holder.once('spawn', resolve))
  writeFileSync(`${path}.lock`, `${holder.pid} 0\n`)
  // The clock stepped forward since (or the lock is on a server whose clock runs behind).
  madeAgo(`${path}.lock`, 3_600_000)
  const error = t.throws(() => new SessionManager({ persist: { path } }), { code: 'ERR_SESSION_FILE_LOCKED' })
  t.is((error as { pid?: number } | undefined)?.pid, holder.pid)
})

test('a second copy of the library in this thread is refused while the first holds the file', (t) => {
  const path = tempPath(t)
  // Two versions in node_modules, or a bundled copy: each has its own record of what it holds.
  const other = createRequire(__filename)(join(root, 'dist', 'index.js')) as typeof import('../ts/index')
  t.not(other.SessionManager, SessionManager)
  const first = new SessionManager({ persist: { path } })
  t.teardown(() => first.close())
  t.throws(() => new other.SessionManager({ persist: { path } }), { code: 'ERR_SESSION_FILE_LOCKED' })
})

test('a lock that is a dangling link is taken over once old; a directory or a FIFO there is named', (t) => {
  const path = tempPath(t)
  symlinkSync(join(dirname(path), 'gone'), `${path}.lock`)
  // A link's own time: made just now, it may be a manager's lock being made.
  const link = new Date(Date.now() - 60_000)
  lutimesSync(`${path}.lock`, link, link)
  new SessionManager({ persist: { path } }).close()
  mkdirSync(`${path}.lock`)
  const error = t.throws(() => new SessionManager({ persist: { path } }), { code: 'ERR_SESSION_FILE_LOCKED' })
  t.true(error?.message.includes(`${path}.lock is not a lock file`), error?.message)
  rmSync(`${path}.lock`, { recursive: true })
  // A FIFO there is named too, not opened (which would wait for a writer for good).
  if (linux) {
    execFileSync('mkfifo', [`${path}.lock`])
    t.throws(() => new SessionManager({ persist: { path } }), { code: 'ERR_SESSION_FILE_LOCKED', message: /is not a lock file/ })
  }
})

/** Runs `body` in a child process (this one's start time is its own), printing its lines. */
function inChild(body: string): string[] {
  const child = spawnSync(process.execPath, ['-e', body], { cwd: root, encoding: 'utf8', timeout: 60_000 })
  if (child.status !== 0) throw new Error(`child failed: ${child.stderr}`)
  return child.stdout.trim().split('\n')
}

;(linux ? test : test.skip)('a container restarted with the same pid: the lock a Worker of the earlier process made is taken over', (t) => {
  const path = tempPath(t)
  // The earlier process had this pid too; its manager ran in thread 1. The lock was made
  // before this process started, and no descriptor of this process is on it.
  const lines = inChild(`
    const { writeFileSync, utimesSync } = require('node:fs')
    const { SessionManager } = require('sessionkeeper')
    const lock = ${JSON.stringify(`${path}.lock`)}
    writeFileSync(lock, process.pid + ' 1\\n')
    const before = new Date(Date.now() - process.uptime() * 1000 - 60_000)
    utimesSync(lock, before, before)
    const manager = new SessionManager({ persist: { path: ${JSON.stringify(path)} } })
    console.log('opened', manager.size)
    manager.close()
  `)
  t.deepEqual(lines, ['opened 0'])
})

;(linux ? test : test.skip)('a Worker of this process holding the lock keeps it, even when its time says it predates the process', (t) => {
  const path = tempPath(t)
  // A clock stepped back makes a live Worker's lock look older than the process: its open
  // descriptor still says who holds it.
  const lines = inChild(`
    const { utimesSync } = require('node:fs')
    const { Worker } = require('node:worker_threads')
    const { SessionManager } = require('sessionkeeper')
    const path = ${JSON.stringify(path)}
    const worker = new Worker(\`
      const { parentPort } = require('node:worker_threads')
      const { SessionManager } = require('sessionkeeper')
      const manager = new SessionManager({ persist: { path: \${JSON.stringify(path)} } })
      parentPort.postMessage('open')
      parentPort.once('message', () => { manager.close(); parentPort.postMessage('closed') })
    \`, { eval: true })
    worker.once('message', () => {
      const before = new Date(Date.now() - process.uptime() * 1000 - 60_000)
      utimesSync(path + '.lock', before, before)
      try { new SessionManager({ persist: { path } }).close(); console.log('opened') }
      catch (error) { console.log(error.code, /thread \\d+/.exec(error.message)[0]) }
      worker.postMessage('close')
      worker.once('message', () => {
        const manager = new SessionManager({ persist: { path } })
        console.log('after close: opened')
        manager.close()
        worker.terminate()
      })
    })
  `)
  t.deepEqual(lines, ['ERR_SESSION_FILE_LOCKED thread 1', 'after close: opened'])
})

test("the lock's own files a kill left behind go when the file is opened, once a minute old", (t) => {
  const path = tempPath(t)
  // A kill between writing the lock beside its name and linking it, or between moving a stale
  // lock aside and removing it. One just made may be another manager's, about to find the lock
  // taken: it stays.
  for (const name of ['new-111-0', 'stale-222-3', 'new-333-1']) writeFileSync(`${path}.lock.${name}`, '444 0\n')
  madeAgo(`${path}.lock.new-111-0`, 120_000)
  madeAgo(`${path}.lock.stale-222-3`, 120_000)
  new SessionManager({ persist: { path } }).close()
  t.deepEqual(readdirSync(dirname(path)).sort(), [basename(path), `${basename(path)}.lock.new-333-1`, `${basename(path)}.lock.owner`])
})
