/**
 * One writer per session file. Two locks, taken in this order:
 * - the kernel's: an exclusive lock (flock, LockFileEx) on `<path>.lock.owner`, through the
 *   native binding (sessionkeeper_core::persist::try_lock_owner). The kernel drops it with its
 *   holder, so it is never stale, and two opens exclude each other even within one thread. Its
 *   holder records there which lock file it made. Without the binding, or on a file system that
 *   cannot lock, there is none;
 * - `<path>.lock`, holding `<pid> <threadId>`, which earlier releases read and make, and which
 *   names the holder in the error. Made with its text in one step (written beside its name, then
 *   hard-linked to it, which fails when the name exists) and kept open by its holder.
 * docs/persistence-format.md ("The lock") gives the rules by which a lock is taken over.
 */
import { type BigIntStats, closeSync, fstatSync, linkSync, lstatSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { threadId } from 'node:worker_threads'
import { SessionFileLockedError } from '../errors'
import { loadNativeBinding } from '../load-engine'

/** Lock files this thread holds, so a second manager here on the same file is refused. */
const held = new Set<string>()

/**
 * A lock with no text yet is being made (by a release that wrote its text after creating it)
 * for this long after it was made; older, its maker died in between.
 */
const FORMING_MS = 5_000
/**
 * This process started this long after a lock naming its pid was made: an earlier process with
 * the same pid made it (clock readings of a start and of a file's time differ by up to a second).
 */
const START_MARGIN_MS = 2_000

export class FileLock {
  #released = false

  private constructor(readonly lockPath: string, private readonly fd: number, private readonly owner: OwnerLock | undefined) {}

  /** Takes the locks of `path`, or throws SessionFileLockedError naming the holder. */
  static acquire(path: string): FileLock {
    const lockPath = `${path}.lock`
    if (held.has(lockPath)) throw new SessionFileLockedError(path, process.pid, 'another SessionManager in this thread has it open')
    const owner = takeOwnerLock(`${lockPath}.owner`)
    if (owner === 'held') {
      // The lock file names the holder, unless another manager is taking over a dead one's.
      const holder = readLock(lockPath)?.holder
      const named = holder !== undefined && (holder.pid === process.pid || alive(holder.pid)) ? holder : undefined
      throw new SessionFileLockedError(path, named?.pid, named === undefined ? 'another manager has it open' : holderText(named))
    }
    try {
      const fd = takeLockFile(path, lockPath, owner)
      if (owner !== undefined) {
        // A second name for the lock file, so that no file made later can be taken for it: its
        // inode stays in use (a number alone is reused at once on some file systems, and their
        // times are too coarse to tell two files apart). Ours to replace, holding the kernel's lock.
        removeQuietly(`${lockPath}.owned`)
        try {
          linkSync(lockPath, `${lockPath}.owned`)
        } catch {
          // No hard links here: no lock file will be taken for ours after a crash.
        }
        owner.record(`${process.pid} ${threadId}\n`)
      }
      held.add(lockPath)
      return new FileLock(lockPath, fd, owner)
    } catch (error) {
      owner?.release()
      throw error
    }
  }

  release(): void {
    if (this.#released) return
    this.#released = true
    held.delete(this.lockPath)
    for (const name of [this.lockPath, `${this.lockPath}.owned`]) {
      try {
        unlinkSync(name)
      } catch {
        // Already gone: nothing to release.
      }
    }
    try {
      closeSync(this.fd)
    } catch {
      // Closed already: nothing to release.
    }
    // Last, and told that no holder is left: while it is held, no manager that takes it finds
    // our lock file and judges it by what the owner file says.
    this.owner?.record('')
    this.owner?.release()
  }
}

/**
 * The kernel's lock, and what its last holder recorded in its file: the `<pid> <threadId>` of
 * the lock file it made, which it also linked as `<path>.lock.owned`. Only a lock file with that
 * text and that second name is taken for the gone holder's (not one a process with its pid made
 * since without the kernel's lock: an earlier release, a copy without the binding).
 */
interface OwnerLock {
  /** The text the holder before this one recorded ('' for none). */
  previous: string
  /** `<path>.lock.owned`. */
  ownedPath: string
  record(text: string): void
  release(): void
}

/** Paths whose file system could not lock, warned about once. */
const warnedUnlockable = new Set<string>()

function takeOwnerLock(ownerPath: string): OwnerLock | 'held' | undefined {
  const binding = loadNativeBinding()
  // Without the binding (the JavaScript engine alone, on a platform with no prebuilt binary):
  // the lock file alone, as releases before the kernel's lock.
  if (binding instanceof Error || typeof binding.lockOwner !== 'function') return undefined
  const lock = binding.lockOwner(ownerPath)
  if (lock === 'held') return 'held'
  if (typeof lock === 'string') {
    if (!warnedUnlockable.has(ownerPath)) {
      warnedUnlockable.add(ownerPath)
      process.emitWarning(
        `the kernel cannot lock ${ownerPath} (${lock.replace(/^unavailable: /, '')}): the lock file alone keeps one writer to the ` +
        'session file, and a dead holder\'s reused pid keeps it locked until that process ends (docs/persistence-format.md, "The lock")',
        { code: 'SESSIONKEEPER_NO_KERNEL_LOCK' },
      )
    }
    return undefined
  }
  let released = false
  return {
    previous: binding.ownerText(lock) ?? '',
    ownedPath: ownerPath.replace(/\.owner$/, '.owned'),
    record: (text) => {
      // Unwritten, the next holder knows no previous one, and keeps to the stricter rules.
      if (!released) binding.recordOwner(lock, text)
    },
    release: () => {
      if (released) return
      released = true
      binding.releaseOwnerLock(lock)
    },
  }
}

/** Takes `<path>.lock`, taking over a stale one; throws SessionFileLockedError when it is held. */
function takeLockFile(path: string, lockPath: string, owner: OwnerLock | undefined): number {
  for (let attempt = 0; attempt < 3; attempt++) {
    const fd = create(lockPath)
    if (fd !== undefined) return fd
    const found = readLock(lockPath)
    if (found === undefined) continue // Released meanwhile: try again.
    if (found.kind === 'other') {
      throw new SessionFileLockedError(path, undefined, `${lockPath} is not a lock file (a directory or a device): remove it`)
    }
    if (found.kind === 'unreadable') {
      throw new SessionFileLockedError(path, undefined, `its lock ${lockPath} cannot be read (another user's manager may hold it): remove it if no manager runs`)
    }
    const holding = holds(found, owner)
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
    const movedHolding = moved === undefined ? undefined : holds(moved, owner)
    if (movedHolding !== undefined) {
      try {
        linkSync(aside, lockPath)
      } catch {
        // A third party holds it now; either way the file is locked.
      }
      removeQuietly(aside)
      throw new SessionFileLockedError(path, moved!.holder?.pid, movedHolding)
    }
    removeQuietly(aside)
  }
  throw new SessionFileLockedError(path, undefined, 'the lock file keeps reappearing')
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
  let fd: number
  try {
    fd = openSync(beside, 'w', 0o600)
  } catch (error) {
    throw cannotMake(lockPath, error)
  }
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
      throw cannotMake(lockPath, error)
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

function createWithoutLink(lockPath: string, text: string, besideFd: number, beside: string): number | undefined {
  closeSync(besideFd)
  removeQuietly(beside)
  let fd: number
  try {
    fd = openSync(lockPath, 'wx', 0o600)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined
    throw cannotMake(lockPath, error)
  }
  try {
    writeSync(fd, text)
  } catch (error) {
    closeSync(fd)
    removeQuietly(lockPath)
    throw cannotMake(lockPath, error)
  }
  return fd
}

/** Node's error, its code kept, naming the lock file rather than a step's own file. */
function cannotMake(lockPath: string, error: unknown): Error {
  const { code, message } = error as NodeJS.ErrnoException
  return Object.assign(new Error(`cannot make the session file's lock ${lockPath}: ${message}`, { cause: error }), { code, path: lockPath })
}

/** Removes a file of ours beside the lock; one gone already (a leftover sweep) is no error. */
function removeQuietly(path: string): void {
  try {
    unlinkSync(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
}

interface Holder {
  pid: number
  thread: number
}

interface FoundLock {
  /** 'file': a lock file (or a link, dangling or not); 'unreadable': not ours to read; 'other': a directory, a device... */
  kind: 'file' | 'unreadable' | 'other'
  /** Undefined: no text (yet), or none readable. */
  holder: Holder | undefined
  /** When the lock was made (its modification time), ms since the epoch. */
  madeAt: number
  dev: bigint
  ino: bigint
}

function found(kind: FoundLock['kind'], holder: Holder | undefined, stat: BigIntStats): FoundLock {
  return { kind, holder, madeAt: Number(stat.mtimeMs), dev: stat.dev, ino: stat.ino }
}

/** The lock at `lockPath`, or undefined when there is none. */
function readLock(lockPath: string): FoundLock | undefined {
  // Not opened unless it is (or leads to) a regular file: opening a FIFO waits for a writer.
  const target = statSync(lockPath, { throwIfNoEntry: false, bigint: true })
  if (target !== undefined && !target.isFile()) return found('other', undefined, target)
  let fd: number
  try {
    fd = openSync(lockPath, 'r')
  } catch (error) {
    // Gone, or there but not to be opened: a dangling link (made by hand, or its target
    // removed) has no holder; a file of another user, whose manager may hold it, is not ours to
    // judge.
    const entry = lstatSync(lockPath, { throwIfNoEntry: false, bigint: true })
    if (entry === undefined) return undefined
    const { code } = error as NodeJS.ErrnoException
    return found(code === 'EACCES' || code === 'EPERM' ? 'unreadable' : entry.isFile() || entry.isSymbolicLink() ? 'file' : 'other', undefined, entry)
  }
  try {
    const stat = fstatSync(fd, { bigint: true })
    if (!stat.isFile()) return found('other', undefined, stat)
    const match = /^(\d+) (\d+)\n$/.exec(readFileSync(fd, 'utf8'))
    return found('file', match === null ? undefined : { pid: Number(match[1]), thread: Number(match[2]) }, stat)
  } finally {
    closeSync(fd)
  }
}

function holderText(holder: Holder): string {
  return holder.pid === process.pid ? `another thread of this process (thread ${holder.thread}) has it open` : `process ${holder.pid} has it open`
}

/**
 * Why the lock file is held (for the error), or undefined when it is stale. With the kernel's
 * lock taken, the manager that held it before is gone: a lock file naming it is stale whoever
 * has its pid now. Any other is judged as every release judges it: held while its pid lives.
 */
function holds(lock: FoundLock, owner: OwnerLock | undefined): string | undefined {
  const { holder } = lock
  if (holder === undefined) {
    // Being written by its maker (a release that wrote its text after creating it), or left
    // empty by a maker that died in between.
    return Math.abs(Date.now() - lock.madeAt) < FORMING_MS ? 'another manager is taking the lock' : undefined
  }
  if (owner !== undefined && owner.previous === `${holder.pid} ${holder.thread}\n` && sameFile(lock, owner.ownedPath)) return undefined
  const ours = holder.pid === process.pid
  if (ours && holder.thread === threadId) {
    // Held by none of this thread's managers (acquire checked): a process before this one with
    // the same pid made it (a restarted container's PID 1), unless another copy of this library
    // in this thread holds it open.
    return openHere(lock) === true ? 'another copy of sessionkeeper in this thread has it open' : undefined
  }
  if (ours ? madeBeforeThisProcess(lock) : !alive(holder.pid)) return undefined
  return holderText(holder)
}

/** Whether `path` names the file `lock` is (one inode: a second name keeps it from reuse). */
function sameFile(lock: FoundLock, path: string): boolean {
  const other = lstatSync(path, { throwIfNoEntry: false, bigint: true })
  return other !== undefined && other.isFile() && other.ino === lock.ino && other.dev === lock.dev
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
 * A lock naming this process but another thread, made before this process started and open in
 * none of its threads: an earlier process with the same pid made it (a restarted container
 * whose manager ran in a Worker). Both are asked, for a clock stepped since. Linux only (/proc);
 * elsewhere false: the lock is taken as held.
 */
function madeBeforeThisProcess(lock: FoundLock): boolean {
  const started = startedAt()
  if (started === undefined || started <= lock.madeAt + START_MARGIN_MS) return false
  return openHere(lock) === false
}

/** Whether a descriptor of this process is on the lock; undefined where /proc does not tell. */
function openHere(lock: FoundLock): boolean | undefined {
  let descriptors: string[]
  try {
    descriptors = readdirSync('/proc/self/fd')
  } catch {
    return undefined
  }
  for (const descriptor of descriptors) {
    try {
      const target = statSync(`/proc/self/fd/${descriptor}`, { bigint: true })
      if (target.ino === lock.ino && target.dev === lock.dev) return true
    } catch {
      // Closed meanwhile, or not a file: not the lock.
    }
  }
  return false
}

/** When this process started, ms since the epoch, from /proc; undefined where it cannot tell. */
function startedAt(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8')
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
