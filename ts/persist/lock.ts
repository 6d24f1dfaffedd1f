/**
 * One writer per session file: a lock file `<path>.lock`, created with O_EXCL and holding
 * `<pid> <threadId> <start>`, where `start` is when the process started (Linux: its start time
 * in clock ticks since boot, from /proc; `-` where that cannot be read). Node has no portable
 * advisory lock (flock) of its own, and both engines must exclude each other, so the lock is a
 * file both can make. A lock left by a process that died (SIGKILL, a crash, a power loss) names
 * a pid that is no longer alive and is taken over. One naming this pid is an earlier process's
 * when its start differs (a container restarted with the same pid as before, whose manager may
 * have run in any thread), and is taken over; else it is this process's, taken over only when it
 * names this thread and no manager here holds it. docs/persistence-format.md says more.
 */
import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { threadId } from 'node:worker_threads'
import { SessionFileLockedError } from '../errors'

/** Lock files this thread holds, so a second manager here on the same file is refused. */
const held = new Set<string>()

/**
 * When this process started, the same in every thread and never moved by the wall clock (a
 * clock step must not make a live holder in another thread look like an earlier process):
 * field 22 of /proc/self/stat, after the command name, which may hold spaces and parentheses.
 */
const PROCESS_START: string | undefined = (() => {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8')
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
    return /^\d+$/.test(start ?? '') ? start : undefined
  } catch {
    return undefined
  }
})()

export class FileLock {
  #released = false

  private constructor(readonly lockPath: string) {}

  /** Takes the lock of `path`, or throws SessionFileLockedError naming the holder. */
  static acquire(path: string): FileLock {
    const lockPath = `${path}.lock`
    if (held.has(lockPath)) throw new SessionFileLockedError(path, process.pid, 'another SessionManager in this thread has it open')
    for (let attempt = 0; attempt < 3; attempt++) {
      let fd: number
      try {
        fd = openSync(lockPath, 'wx', 0o600)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        const holder = readHolder(lockPath)
        if (holder !== undefined && isLive(holder)) {
          throw new SessionFileLockedError(path, holder.pid, holder.pid === process.pid
            ? `another thread of this process (thread ${holder.thread}) has it open`
            : `process ${holder.pid} has it open`)
        }
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
        const moved = readHolder(aside)
        if (moved !== undefined && isLive(moved)) {
          try {
            linkSync(aside, lockPath)
          } catch {
            // A third party holds it now; either way the file is locked.
          }
          unlinkSync(aside)
          throw new SessionFileLockedError(path, moved.pid, `process ${moved.pid} has it open`)
        }
        unlinkSync(aside)
        continue
      }
      try {
        writeSync(fd, `${process.pid} ${threadId} ${PROCESS_START ?? '-'}\n`)
      } finally {
        closeSync(fd)
      }
      held.add(lockPath)
      return new FileLock(lockPath)
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
  }
}

interface Holder {
  pid: number
  thread: number
  /** When the holder's process started; undefined when it could not tell (or an older release wrote the lock). */
  start: string | undefined
}

function readHolder(lockPath: string): Holder | undefined {
  let text: string
  try {
    text = readFileSync(lockPath, 'utf8')
  } catch {
    return undefined
  }
  const match = /^(\d+) (\d+)(?: (\d+|-))?\n$/.exec(text)
  // Empty or partial: its writer died between creating and writing it (or is writing it now:
  // then our own create fails again on the next attempt).
  if (match === null) return undefined
  return { pid: Number(match[1]), thread: Number(match[2]), start: match[3] === undefined || match[3] === '-' ? undefined : match[3] }
}

function isLive(holder: Holder): boolean {
  if (holder.pid === process.pid) {
    // An earlier process that had our pid: gone, whichever thread held it.
    if (holder.start !== undefined && PROCESS_START !== undefined && holder.start !== PROCESS_START) return false
    return holder.thread !== threadId // ours and not held: stale
  }
  try {
    process.kill(holder.pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
