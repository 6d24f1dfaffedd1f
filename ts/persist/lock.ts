/**
 * One writer per session file: a lock file `<path>.lock`, created with O_EXCL and holding
 * `<pid> <threadId>`. Node has no portable advisory lock (flock) of its own, and both engines
 * must exclude each other, so the lock is a file both can make. A lock left by a process that
 * died (SIGKILL, a crash, a power loss) names a pid that is no longer alive and is taken over;
 * one naming this process is taken over only when no manager of this thread holds it (the pid of
 * a container restarted with the same pid as before). docs/persistence-format.md says more.
 */
import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { threadId } from 'node:worker_threads'
import { SessionFileLockedError } from '../errors'

/** Lock files this thread holds, so a second manager here on the same file is refused. */
const held = new Set<string>()

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
        writeSync(fd, `${process.pid} ${threadId}\n`)
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
}

function readHolder(lockPath: string): Holder | undefined {
  let text: string
  try {
    text = readFileSync(lockPath, 'utf8')
  } catch {
    return undefined
  }
  const match = /^(\d+) (\d+)\n$/.exec(text)
  // Empty or partial: its writer died between creating and writing it (or is writing it now:
  // then our own create fails again on the next attempt).
  return match === null ? undefined : { pid: Number(match[1]), thread: Number(match[2]) }
}

function isLive(holder: Holder): boolean {
  if (holder.pid === process.pid) return holder.thread !== threadId // ours and not held: stale
  try {
    process.kill(holder.pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
