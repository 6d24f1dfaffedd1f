/**
 * The append-only journal: records go to the end of the session file, as the fsync policy says.
 *
 * - `always`: `commit()` writes and fdatasyncs before it returns (blocking the calling thread).
 * - `everysec`: `commit()` only queues; the bytes are written by libuv's thread pool (fs.write,
 *   off the JS thread) as soon as the previous write is done, and fdatasync'd there about once a
 *   second. A crash loses at most the last second or so of changes, always a suffix.
 * - `never`: written the same way, never fsync'd but by `flush()`; the OS decides.
 */
import { Buffer } from 'node:buffer'
import { closeSync, fdatasync, fdatasyncSync, write, writeSync } from 'node:fs'
import { RecordWriter } from './format'

export type FsyncPolicy = 'always' | 'everysec' | 'never'

interface Waiter {
  target: number
  resolve: () => void
  reject: (error: unknown) => void
}

export class Journal {
  readonly writer = new RecordWriter()
  /** Bytes committed (handed to the journal), written to the file, and made durable. */
  #committed = 0
  /** Bytes at the start of the writer's buffer already counted in #committed. */
  #counted = 0
  #written = 0
  #synced = 0
  #writing = false
  #syncing = false
  #spare: Buffer | undefined
  #scheduled: NodeJS.Immediate | undefined
  #interval: NodeJS.Timeout | undefined
  #waiters: Waiter[] = []
  #failure: unknown
  #closed = false
  /** When the oldest change not yet durable was committed (performance.now()), NaN when none. */
  #oldestUnsynced = NaN
  /** Longest and latest lag from a commit to the fdatasync that made it durable (ms). */
  readonly lag = { max: 0, last: 0, syncs: 0 }

  constructor(
    private fd: number,
    readonly policy: FsyncPolicy,
    private readonly onError: (error: unknown) => void,
  ) {
    if (policy === 'everysec') this.#interval = setInterval(() => this.#sync(), 1000).unref()
  }

  /** Bytes appended since the journal opened (for compaction's trigger). */
  get committed(): number {
    return this.#committed
  }

  /** Makes what the writer holds part of the journal, durably before returning with `always`. */
  commit(): void {
    const length = this.writer.length
    if (length === this.#counted || this.#closed) return
    this.#committed += length - this.#counted
    this.#counted = length
    if (this.policy === 'always') {
      const buffer = this.writer.buffer
      let offset = 0
      while (offset < length) offset += writeSync(this.fd, view(buffer), offset, length - offset)
      this.writer.clear()
      this.#counted = 0
      fdatasyncSync(this.fd)
      this.#written = this.#synced = this.#committed
      return
    }
    if (Number.isNaN(this.#oldestUnsynced)) this.#oldestUnsynced = performance.now()
    if (this.#failure !== undefined) {
      this.writer.clear()
      this.#counted = 0
      return
    }
    if (!this.#writing && this.#scheduled === undefined) this.#scheduled = setImmediate(this.#startWrite)
  }

  /** Resolves once every change committed before the call is durable (fdatasync'd). */
  flush(): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    const target = this.#committed
    if (this.#synced >= target || this.#closed) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ target, resolve, reject })
      if (this.#written >= target) this.#sync()
    })
  }

  /**
   * Stops the journal (the caller has just saved everything elsewhere): drops what was not
   * written, resolves waiting flushes, and closes the file, at once or, with a write still in
   * the thread pool, when it ends (the descriptor must not be reused under it).
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#interval)
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled)
    this.#scheduled = undefined
    this.writer.clear()
    this.#counted = 0
    for (const waiter of this.#waiters.splice(0)) waiter.resolve()
    if (!this.#writing && !this.#syncing) this.#closeFd()
  }

  #closeFd(): void {
    if (this.fd < 0) return
    try {
      closeSync(this.fd)
    } catch {
      // Closing a file we only appended to cannot lose anything the snapshot holds.
    }
    this.fd = -1
  }

  #startWrite = (): void => {
    this.#scheduled = undefined
    if (this.#writing || this.#closed || this.writer.length === 0) return
    const full = this.writer.buffer
    const buffer = this.writer.take(this.#spare)
    this.#counted = 0
    this.#spare = undefined
    this.#writing = true
    this.#writeFrom(full, buffer, 0)
  }

  #writeFrom(full: Buffer, buffer: Buffer, offset: number): void {
    write(this.fd, view(buffer), offset, buffer.length - offset, null, (error, bytes) => {
      if (error !== null) return this.#fail(error)
      if (offset + bytes < buffer.length) return this.#writeFrom(full, buffer, offset + bytes)
      this.#writing = false
      this.#written += buffer.length
      if (this.#closed) {
        if (!this.#syncing) this.#closeFd()
        return
      }
      this.#spare = full
      if (this.writer.length > 0) this.#startWrite()
      if (this.#waiters.length > 0 && this.#waiters[0].target <= this.#written) this.#sync()
    })
  }

  #sync(): void {
    if (this.#syncing || this.#closed || this.#failure !== undefined || this.#written <= this.#synced) return
    const upTo = this.#written
    const since = this.#oldestUnsynced
    this.#oldestUnsynced = upTo < this.#committed ? performance.now() : NaN
    this.#syncing = true
    fdatasync(this.fd, (error) => {
      this.#syncing = false
      if (error !== null) return this.#fail(error)
      this.#synced = upTo
      if (!Number.isNaN(since)) {
        const lag = performance.now() - since
        this.lag.last = lag
        this.lag.syncs++
        if (lag > this.lag.max) this.lag.max = lag
      }
      if (this.#closed) {
        if (!this.#writing) this.#closeFd()
        return
      }
      while (this.#waiters.length > 0 && this.#waiters[0].target <= upTo) this.#waiters.shift()!.resolve()
      if (this.#waiters.length > 0 && this.#waiters[0].target <= this.#written) this.#sync()
    })
  }

  #fail(error: unknown): void {
    this.#writing = false
    if (this.#failure !== undefined) return
    this.#failure = error
    this.writer.clear()
    this.#counted = 0
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error)
    this.onError(error)
    if (this.#closed) this.#closeFd()
  }
}

/** The bytes of a Buffer as the fs typings of this Node version want them. */
export function view(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length)
}
