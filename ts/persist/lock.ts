/**
 * One writer per session file: a lock file `<path>.lock` holding `<pid> <threadId>`, made with
 * its text in one step (written beside it, then hard-linked to its name, which fails when the
 * name exists) and kept open by its holder until released. Node has no portable advisory lock
 * (flock) of its own, and both engines must exclude each other, so the lock is a file both can
 * make. docs/persistence-format.md ("The lock") gives the rules by which a lock is taken over.
 */
import { closeSync, fstatSync, linkSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { threadId } from 'node:worker_threads'
import { SessionFileLockedError } from '../errors'

/** Lock files this thread holds, so a second manager here on the same file is refused. */
const held = new Set<string>()

/**
 * A lock with no text yet is being made (by a release that wrote its text after creating it)
 * for this long after it was made; older, its maker died in between.
 */
const FORMING_MS = 5_000
/**
 * A process that started this long after a lock was made is not the one that made it (clock
 * readings of a start and of a file's time differ by up to a second on Linux).
 */
const START_MARGIN_MS = 2_000

export class FileLock {
  #released = false

  private constructor(readonly lockPath: string, private readonly fd: number) {}

  /** Takes the lock of `path`, or throws SessionFileLockedError naming the holder. */
  static acquire(path: string): FileLock {
    const lockPath = `${path}.lock`
    if (held.has(lockPath)) throw new SessionFileLockedError(path, process.pid, 'another SessionManager in this thread has it open')
    for (let attempt = 0; attempt < 3; attempt++) {
      const fd = create(lockPath)
      if (fd !== undefined) {
        held.add(lockPath)
        return new FileLock(lockPath, fd)
      }
      const found = readLock(lockPath)
      if (found === undefined) continue // Released meanwhile: try again.
      const holding = holds(found)
      if (holding !== undefined) throw new SessionFileLockedError(path, found.holder?.pid, holding)
      // Stale: moved aside under a name of our own (atomic), then removed, so that two
      // processes taking over at once cannot both delete a fresh lock.
      const aside = `${lockPath}.stale-${process.pid}-${threadId}`
      try {
        renameSync(lockPath, aside)
      } catch (renameError) {
        if ((renameError as NodeJS.ErrnoException).code !== 'ENOENT') throw renameError
        continue
      }
      // What we moved may be a lock another process took over meanwhile: give it back.
      const moved = readLock(aside)
      const movedHolding = moved === undefined ? undefined : holds(moved)
      if (movedHolding !== undefined) {
        try {
          linkSync(aside, lockPath)
        } catch {
          // A third party holds it now; either way the file is locked.
        }
        unlinkSync(aside)
        throw new SessionFileLockedError(path, moved!.holder?.pid, movedHolding)
      }
      unlinkSync(aside)
    }
    throw new SessionFileLockedError(path, undefined, 'the lock file keeps reappearing')
  }

  release(): void {
    if (this.#released) return
    this.#released = true
    held.delete(this.lockPath)
    try {
      unlinkSync(this.lockPath)
    } catch {
      // Already gone: nothing to release.
    }
    try {
      closeSync(this.fd)
    } catch {
      // Closed already: nothing to release.
    }
  }
}

/**
 * Makes the lock with its text, returning a descriptor on it, or undefined when it exists.
 * Created empty and written after (as releases before this one did), a lock read in between
 * looked stale, and its reader took it too. Where hard links fail (some network and FUSE file
 * systems), the old way.
 */
function create(lockPath: string): number | undefined {
  const text = `${process.pid} ${threadId}\n`
  const beside = `${lockPath}.new-${process.pid}-${threadId}`
  const fd = openSync(beside, 'w', 0o600)
  let linked = false
  try {
    writeSync(fd, text)
    linkSync(beside, lockPath)
    linked = true
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code !== 'EEXIST' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') {
      closeSync(fd)
      removeQuietly(beside)
      throw error
    }
    if (code !== 'EEXIST') return createWithoutLink(lockPath, text, fd, beside)
  } finally {
    if (linked) removeQuietly(beside)
  }
  if (linked) return fd
  closeSync(fd)
  removeQuietly(beside)
  return undefined
}

/** Removes a file of ours beside the lock; one gone already (a leftover sweep) is no error. */
function removeQuietly(path: string): void {
  try {
    unlinkSync(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
}

function createWithoutLink(lockPath: string, text: string, besideFd: number, beside: string): number | undefined {
  closeSync(besideFd)
  removeQuietly(beside)
  let fd: number
  try {
    fd = openSync(lockPath, 'wx', 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined
    throw error
  }
  writeSync(fd, text)
  return fd
}

interface Holder {
  pid: number
  thread: number
}

interface FoundLock {
  /** Undefined: no text (yet). */
  holder: Holder | undefined
  /** When the lock was made (its modification time), ms since the epoch. */
  madeAt: number
  dev: number
  ino: number
}

function readLock(lockPath: string): FoundLock | undefined {
  let text: string
  let fd: number
  try {
    fd = openSync(lockPath, 'r')
  } catch {
    return undefined
  }
  try {
    const stat = fstatSync(fd)
    text = readFileSync(fd, 'utf8')
    const match = /^(\d+) (\d+)\n$/.exec(text)
    const holder = match === null ? undefined : { pid: Number(match[1]), thread: Number(match[2]) }
    return { holder, madeAt: stat.mtimeMs, dev: stat.dev, ino: stat.ino }
  } finally {
    closeSync(fd)
  }
}

/** Why the lock is held (for the error), or undefined when it is stale. */
function holds(lock: FoundLock): string | undefined {
  const { holder } = lock
  if (holder === undefined) {
    // Being written by its maker (a release that wrote its text after creating it), or left
    // empty by a maker that died in between.
    return Math.abs(Date.now() - lock.madeAt) < FORMING_MS ? 'another manager is taking the lock' : undefined
  }
  const ours = holder.pid === process.pid
  // This thread's and held by none of its managers (acquire checked): a process before this one
  // with the same pid made it (a restarted container's PID 1).
  if (ours && holder.thread === threadId) return undefined
  if (!ours && !alive(holder.pid)) return undefined
  if (madeByAnother(holder.pid, lock)) return undefined
  return ours ? `another thread of this process (thread ${holder.thread}) has it open` : `process ${holder.pid} has it open`
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Whether the live process `pid` is not the one that made the lock: it started after the lock
 * was made, and none of its descriptors is on the lock (every holder of this release keeps one
 * open). Both are asked: a start time alone is wrong after the clock stepped forward, and a
 * lock of an earlier release has no descriptor held. Linux only (/proc); elsewhere, or where
 * /proc does not tell, false: the lock is taken as held.
 */
function madeByAnother(pid: number, lock: FoundLock): boolean {
  const started = startedAt(pid)
  if (started === undefined || started <= lock.madeAt + START_MARGIN_MS) return false
  let descriptors: string[]
  try {
    descriptors = readdirSync(`/proc/${pid}/fd`)
  } catch {
    return false
  }
  for (const descriptor of descriptors) {
    try {
      const target = statSync(`/proc/${pid}/fd/${descriptor}`)
      if (target.ino === lock.ino && target.dev === lock.dev) return false
    } catch {
      // Closed meanwhile, or not a file: not the lock.
    }
  }
  return true
}

/** When process `pid` started, ms since the epoch, from /proc; undefined where it cannot tell. */
function startedAt(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command (which may hold spaces and parentheses): starttime is the 22nd
    // field of the line, the 20th after the command, in clock ticks since boot (USER_HZ, 100).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[19])
    const boot = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))
    if (boot === null || !Number.isFinite(ticks)) return undefined
    return Number(boot[1]) * 1000 + ticks * 10
  } catch {
    return undefined
  }
}
