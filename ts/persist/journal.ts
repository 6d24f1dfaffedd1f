/**
 * The append-only journal: records go to the end of the session file, as the fsync policy says.
 *
 * - `always`: `commit()` writes and fdatasyncs before it returns (blocking the calling thread).
 * - `everysec`: `commit()` only queues; the bytes are written by libuv's thread pool (fs.write,
 *   off the JS thread) as soon as the previous write is done, and fdatasync'd there about once a
 *   second. One write at a time, so the file always holds a prefix of the records: a crash loses
 *   at most a suffix, the last second or so.
 * - `never`: written the same way, never fsync'd but by `flush()`; the OS decides.
 *
 * While a compaction runs, every committed record is also kept (`tee`) for the new file, and
 * `swap` moves the journal to it once it holds the snapshot and those records.
 */
import { Buffer } from 'node:buffer'
import { close, closeSync, fdatasync, fdatasyncSync, write, writeSync } from 'node:fs'
import type { RecordCipher } from './cipher'
import { RecordWriter } from './format'

export type FsyncPolicy = 'always' | 'everysec' | 'never'

interface Waiter {
  target: number
  resolve: () => void
  reject: (error: unknown) => void
}

export class Journal {
  readonly writer: RecordWriter
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
  /** Operations in the thread pool per descriptor, and descriptors to close when they end. */
  readonly #inFlight = new Map<number, number>()
  readonly #retired = new Set<number>()
  /** Records committed while a compaction runs, for its new file. */
  #tee: Tee | undefined
  /** When the oldest change not yet durable was committed (performance.now()), NaN when none. */
  #oldestUnsynced = NaN
  /** Longest and latest lag from a commit to the fdatasync that made it durable (ms). */
  readonly lag = { max: 0, last: 0, syncs: 0 }

  constructor(
    private fd: number,
    readonly policy: FsyncPolicy,
    private readonly onError: (error: unknown) => void,
    /** Called after each commit (compaction's trigger). */
    private readonly onCommit: () => void = () => {},
    cipher?: RecordCipher,
  ) {
    this.writer = new RecordWriter(64 * 1024, cipher)
    if (policy === 'everysec') this.#interval = setInterval(() => this.#sync(), 1000).unref()
  }

  /** Bytes committed since the journal opened. */
  get committed(): number {
    return this.#committed
  }

  get failed(): boolean {
    return this.#failure !== undefined
  }

  /** Makes what the writer holds part of the journal, durably before returning with `always`. */
  commit(): void {
    const length = this.writer.length
    if (length === this.#counted || this.#closed) return
    this.#tee?.append(view(this.writer.buffer), this.#counted, length)
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
    } else {
      if (Number.isNaN(this.#oldestUnsynced)) this.#oldestUnsynced = performance.now()
      if (this.#failure !== undefined) {
        this.writer.clear()
        this.#counted = 0
      } else if (!this.#writing && this.#scheduled === undefined) {
        this.#scheduled = setImmediate(this.#startWrite)
      }
    }
    this.onCommit()
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

  /** From now on, keep a copy of each committed record (a compaction started). */
  startTee(): void {
    this.#tee = new Tee()
  }

  /** The records committed since `startTee` or the last call, in chunks of up to 256 KiB. */
  takeTee(): Uint8Array[] {
    return this.#tee?.take() ?? []
  }

  /** Bytes the tee holds, not yet taken. */
  get teeBytes(): number {
    return this.#tee?.bytes ?? 0
  }

  stopTee(): void {
    this.#tee = undefined
  }

  /**
   * Moves the journal to `fd`, a file that already holds every record committed so far (the
   * compaction wrote the snapshot and the tee): bytes not yet written here are dropped, and
   * `durable` says whether the new file is fdatasync'd up to now (else the next sync does it).
   * The old descriptor is closed once the thread pool is done with it.
   */
  swap(fd: number, durable: boolean): void {
    this.#retire(this.fd)
    this.fd = fd
    this.#writing = false
    this.#syncing = false
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled)
    this.#scheduled = undefined
    this.writer.clear()
    this.#counted = 0
    this.#written = this.#committed
    if (durable) {
      this.#synced = this.#committed
      this.#oldestUnsynced = NaN
      for (const waiter of this.#waiters.splice(0)) waiter.resolve()
    } else if (this.#waiters.length > 0) {
      this.#sync()
    }
  }

  /**
   * Stops the journal (the caller has just saved everything elsewhere): drops what was not
   * written, resolves waiting flushes, and closes the file, at once or, with an operation still
   * in the thread pool, when it ends (the descriptor must not be reused under it).
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#interval)
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled)
    this.#scheduled = undefined
    this.#tee = undefined
    this.writer.clear()
    this.#counted = 0
    for (const waiter of this.#waiters.splice(0)) waiter.resolve()
    this.#retire(this.fd, true)
  }

  /**
   * Closes `fd` once no operation uses it. After a swap the old file is already renamed over,
   * so its last close frees all its blocks, which takes milliseconds for a big file: that
   * close runs in the thread pool (`now` only for the journal's own close()).
   */
  #retire(fd: number, now = false): void {
    if ((this.#inFlight.get(fd) ?? 0) > 0) {
      this.#retired.add(fd)
      return
    }
    if (!now) {
      // Closing a file we only appended to cannot lose anything the new file holds.
      close(fd, () => {})
      return
    }
    try {
      closeSync(fd)
    } catch {
      // As above.
    }
  }

  /** An operation on `fd` ended; true when `fd` is still the journal's. */
  #ended(fd: number): boolean {
    const left = (this.#inFlight.get(fd) ?? 1) - 1
    if (left > 0) this.#inFlight.set(fd, left)
    else this.#inFlight.delete(fd)
    if (fd === this.fd && !this.#closed) return true
    if (left === 0 && this.#retired.delete(fd)) this.#retire(fd)
    return false
  }

  #started(fd: number): void {
    this.#inFlight.set(fd, (this.#inFlight.get(fd) ?? 0) + 1)
  }

  #startWrite = (): void => {
    this.#scheduled = undefined
    if (this.#writing || this.#closed || this.writer.length === 0) return
    const full = this.writer.buffer
    const buffer = this.writer.take(this.#spare)
    this.#counted = 0
    this.#spare = undefined
    this.#writing = true
    this.#writeFrom(this.fd, full, buffer, 0)
  }

  #writeFrom(fd: number, full: Buffer, buffer: Buffer, offset: number): void {
    this.#started(fd)
    write(fd, view(buffer), offset, buffer.length - offset, null, (error, bytes) => {
      if (!this.#ended(fd)) return
      if (error !== null) return this.#fail(error)
      if (offset + bytes < buffer.length) return this.#writeFrom(fd, full, buffer, offset + bytes)
      this.#writing = false
      this.#written += buffer.length
      this.#spare = full
      if (this.writer.length > 0) this.#startWrite()
      if (this.#waiters.length > 0 && this.#waiters[0].target <= this.#written) this.#sync()
    })
  }

  #sync(): void {
    if (this.#syncing || this.#closed || this.#failure !== undefined || this.#written <= this.#synced) return
    const fd = this.fd
    const upTo = this.#written
    const since = this.#oldestUnsynced
    this.#oldestUnsynced = upTo < this.#committed ? performance.now() : NaN
    this.#syncing = true
    this.#started(fd)
    fdatasync(fd, (error) => {
      if (!this.#ended(fd)) return
      this.#syncing = false
      if (error !== null) return this.#fail(error)
      this.#synced = Math.max(this.#synced, upTo)
      if (!Number.isNaN(since)) {
        const lag = performance.now() - since
        this.lag.last = lag
        this.lag.syncs++
        if (lag > this.lag.max) this.lag.max = lag
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
  }
}

/** Chunks of the tee: a few large buffers for one writev, not one small one per commit. */
const TEE_CHUNK = 256 * 1024

/**
 * Committed records kept for a compaction's new file, copied into fixed chunks: a commit costs
 * a copy of its bytes, never an allocation of its own, and nothing is copied twice (a growing
 * buffer would copy megabytes on the JS thread as it doubles).
 */
class Tee {
  #full: Uint8Array[] = []
  /** Empty until the first record after a take: a drain that finds nothing allocates nothing. */
  #chunk = new Uint8Array(0)
  #length = 0
  bytes = 0

  append(source: Uint8Array, start: number, end: number): void {
    this.bytes += end - start
    while (start < end) {
      if (this.#length === this.#chunk.length) {
        if (this.#length > 0) this.#full.push(this.#chunk)
        this.#chunk = new Uint8Array(Math.max(TEE_CHUNK, end - start))
        this.#length = 0
      }
      const count = Math.min(end - start, this.#chunk.length - this.#length)
      this.#chunk.set(source.subarray(start, start + count), this.#length)
      this.#length += count
      start += count
    }
  }

  take(): Uint8Array[] {
    const taken = this.#full
    if (this.#length > 0) taken.push(this.#chunk.subarray(0, this.#length))
    this.#full = []
    this.#chunk = new Uint8Array(0)
    this.#length = 0
    this.bytes = 0
    return taken
  }
}

/** The bytes of a Buffer as the fs typings of this Node version want them. */
export function view(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length)
}
