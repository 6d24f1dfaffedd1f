/**
 * Compaction in the background: rewrites the session file from the live table when it holds
 * more than about twice the live data, without blocking the event loop for more than a slice.
 *
 * 1. A new file beside the old one gets a header; from then on every committed record is also
 *    kept for it (the journal's tee), while the journal goes on appending to the old file.
 * 2. Slices of about 2 ms encode attached sessions as Session records (in Rust for the native
 *    engine), each written by the thread pool before the next slice starts.
 * 3. The kept records are written after the snapshot (replay is idempotent, so a session
 *    changed after its slice simply has its later records replayed over it), until few remain;
 *    the new file is fdatasync'd off the JS thread, and what came in meanwhile written too.
 * 4. In one turn: the last few records are written, the new file is renamed over the old one
 *    (with 'always', fdatasync'd first, so nothing acknowledged is ever missing), and the
 *    journal moves to it.
 * A crash at any step leaves the old file, complete, or the new one.
 */
import { closeSync, fdatasync, fdatasyncSync, fsync, openSync, renameSync, unlinkSync, writeSync, writev } from 'node:fs'
import { dirname } from 'node:path'
import { performance } from 'node:perf_hooks'
import { threadId } from 'node:worker_threads'
import { type Engine, slotOf } from '../engine'
import type { RecordCipher } from './cipher'
import { encodeHeader, type FileConfig, keyCheckRecord, RecordWriter } from './format'
import { type Journal, view } from './journal'

/** Longest a slice may encode, ms. */
const SLICE_MS = 1
/** Fewest sessions encoded per batch. */
const MIN_BATCH = 8
/** Kept records below this many bytes are written in the final, synchronous step. */
const FINAL_BYTES = 64 * 1024
/**
 * A slice's records go to one buffer, reused from slice to slice (a slice waits for its write):
 * a buffer per batch was memory outside the heap, which made V8 run full collections of the
 * whole heap (30-40 ms each with 10^6 sessions) while it compacted.
 */
const SLICE_BYTES = 4 << 20
/** No compaction for a file smaller than this, whatever its share of dead records. */
const MIN_FILE_BYTES = 1 << 20
/** Sessions whose sizes measure the live data again (Compactor.check). */
const SAMPLE_SESSIONS = 256
/** What a Session record holds beside its data, about: frame, kind, id, times, counts. */
const RECORD_BYTES = 96

export interface CompactionTarget {
  path: string
  config: FileConfig
  /** Header flags of the new file (FLAG_ENCRYPTED or 0), and the cipher that seals its records. */
  flags: number
  cipher: RecordCipher | undefined
  engine: Engine
  journal: Journal
  /**
   * Appends a Session record for each of the first `count` handles to `out` from byte `at`:
   * returns the end, or -1, writing nothing, when they do not fit.
   */
  encodeInto: (engine: Engine, handles: Float64Array, count: number, writer: RecordWriter, out: Uint8Array, at: number) => number
  /** The same records in a buffer of their own (a batch too large for the slice's buffer). */
  encode: (engine: Engine, handles: Float64Array, count: number, writer: RecordWriter) => Uint8Array
  onError: (error: unknown) => void
}

export class Compactor {
  #running: Run | undefined
  /** File bytes after the last compaction or load, the journal's count then, the sessions then. */
  #baseBytes: number
  #baseCommitted: number
  /** Bytes a live session took in the file after the last compaction or load. */
  #perSession: number
  /** The sampled size of a session then (#sampledSize), which later samples are measured against. */
  #baseSample: number | undefined
  /** The file's size at the last sample. */
  #sampledAt: number
  /** Compactions completed (for tests and stats). */
  completed = 0
  /** The longest a compaction held the event loop at once (one step: a slice, the last turn), ms. */
  longestStepMs = 0

  constructor(private readonly target: CompactionTarget, fileBytes: number) {
    this.#baseBytes = fileBytes
    this.#baseCommitted = target.journal.committed
    this.#perSession = target.engine.size > 0 ? fileBytes / target.engine.size : 256
    this.#baseSample = this.#sampledSize()
    this.#sampledAt = fileBytes
  }

  /** The file's size now, as the journal has grown it. */
  get fileBytes(): number {
    return this.#baseBytes + this.target.journal.committed - this.#baseCommitted
  }

  get running(): boolean {
    return this.#running !== undefined
  }

  /**
   * Starts a compaction when the file holds more than about twice the live data. Cheap: the
   * live data is the sessions times their size in the file after the last compaction, scaled,
   * each time the file has grown by a quarter since the last look, by how a sample of the
   * sessions' sizes has changed since then. Sessions may shrink: with 1,000 of 10 KB loaded,
   * then replaced by small ones turning over, a file of 132 times the live data was never
   * compacted. A sample's average taken as the size itself missed the few large sessions that
   * hold most of the data and compacted files 1.25 times the live data again and again; one
   * measured against a sample of the same table's sessions at the last compaction does not.
   */
  check(): void {
    if (this.#running !== undefined || this.target.journal.failed) return
    const bytes = this.fileBytes
    if (bytes < MIN_FILE_BYTES) return
    if (this.#over(bytes, this.#perSession)) return this.start()
    if (bytes < this.#sampledAt + Math.max(this.#sampledAt / 4, MIN_FILE_BYTES / 2)) return
    this.#sampledAt = bytes
    const sample = this.#sampledSize()
    if (sample === undefined || this.#baseSample === undefined) {
      this.#baseSample ??= sample
      return
    }
    if (this.#over(bytes, this.#perSession * (sample / this.#baseSample))) this.start()
  }

  #over(bytes: number, perSession: number): boolean {
    return bytes > 2 * perSession * this.target.engine.size + MIN_FILE_BYTES / 2
  }

  /**
   * The average data bytes of up to SAMPLE_SESSIONS live sessions taken from a random place in
   * the table, plus a record's own bytes: a proxy of their records' size that reads no data (an
   * encoding of 256 sessions of 100 KB, sealed, held the loop for 60-170 ms).
   */
  #sampledSize(): number | undefined {
    const { engine } = this.target
    if (engine.size === 0) return undefined
    const handles = new Float64Array(SAMPLE_SESSIONS)
    let count = engine.scan(Math.floor(Math.random() * engine.size), -Infinity, handles)
    if (count < handles.length) count += engine.scan(0, -Infinity, handles.subarray(count))
    if (count === 0) return undefined
    let bytes = 0
    for (let index = 0; index < count; index++) bytes += engine.dataBytes(handles[index]) + RECORD_BYTES
    return bytes / count
  }

  /** Starts a compaction now (tests; `check` decides otherwise). */
  start(): void {
    if (this.#running !== undefined) return
    this.#running = new Run(this.target, (ms) => {
      if (ms > this.longestStepMs) this.longestStepMs = ms
    }, (outcome) => {
      this.#running = undefined
      if (outcome.kind === 'done') {
        this.completed++
        this.#baseBytes = outcome.bytes
        this.#baseCommitted = this.target.journal.committed
        this.#perSession = this.target.engine.size > 0 ? outcome.bytes / this.target.engine.size : 256
        this.#baseSample = this.#sampledSize()
        this.#sampledAt = outcome.bytes
      }
    })
  }

  /** Stops a compaction in progress (close() saves a snapshot of its own); the old file stays. */
  abort(): void {
    this.#running?.abort()
    this.#running = undefined
  }
}

type Outcome = { kind: 'done'; bytes: number } | { kind: 'aborted' }

/** Compactions started in this thread, numbering their files. */
let runs = 0

class Run {
  readonly #temporary: string
  readonly #fd: number
  readonly #writer: RecordWriter
  readonly #handles = new Float64Array(256)
  readonly #out = new Uint8Array(SLICE_BYTES)
  /** Sessions encoded per batch: adapts to keep a batch within about a quarter of a slice. */
  #batch = MIN_BATCH
  #from = 0
  #bytes = 0
  #aborted = false
  #busy = false

  constructor(
    private readonly target: CompactionTarget,
    /** Told how long each step held the event loop (ms of real time). */
    private readonly step: (ms: number) => void,
    private readonly done: (outcome: Outcome) => void,
  ) {
    const started = performance.now()
    this.#writer = new RecordWriter(1 << 20, target.cipher)
    // A name of this run's own: an aborted run whose write was still on the thread pool removes
    // its file when that write ends, which must not be the file of a run started since.
    this.#temporary = `${target.path}.compact-${process.pid}-${threadId}-${++runs}`
    this.#fd = openSync(this.#temporary, 'w', 0o600)
    target.journal.startTee()
    const header = view(encodeHeader(target.config, Date.now(), target.flags))
    this.#write(target.cipher === undefined ? [header] : [header, keyCheckRecord(target.cipher)], this.#slice)
    step(performance.now() - started)
  }

  /** Runs one step of the compaction (a callback of the thread pool or setImmediate), timed. */
  #timed(body: () => void): void {
    const started = performance.now()
    try {
      body()
    } finally {
      this.step(performance.now() - started)
    }
  }

  abort(): void {
    if (this.#aborted) return
    this.#aborted = true
    this.target.journal.stopTee()
    if (!this.#busy) this.#discard()
  }

  #discard(): void {
    try {
      closeSync(this.#fd)
      unlinkSync(this.#temporary)
    } catch {
      // Already gone: nothing to clean up.
    }
  }

  #fail(error: unknown): void {
    if (this.#aborted) return
    this.abort()
    this.target.onError(error)
    this.done({ kind: 'aborted' })
  }

  /** Writes `chunks` through the thread pool (one writev, no copy), then continues with `next`. */
  #write(chunks: readonly Uint8Array[], next: () => void): void {
    const pending = chunks.filter((chunk) => chunk.length > 0)
    if (pending.length === 0) return void setImmediate(() => this.#continue(next))
    this.#busy = true
    writev(this.#fd, pending, (error, written) => {
      this.#busy = false
      if (this.#aborted) return this.#discard()
      if (error !== null) return this.#fail(error)
      this.#bytes += written
      let total = 0
      for (const chunk of pending) total += chunk.length
      if (written < total) return this.#write([concat(pending).subarray(written)], next)
      next()
    })
  }

  #continue(next: () => void): void {
    if (this.#aborted) return this.#discard()
    next()
  }

  /** Encodes attached sessions for about SLICE_MS, then writes them. */
  #slice = (): void => this.#timed(this.#encodeSlice)

  #encodeSlice = (): void => {
    const { engine, encode, encodeInto } = this.target
    let now = performance.now()
    const until = now + SLICE_MS
    const out = this.#out
    let used = 0
    let large: Uint8Array | undefined
    let finished = false
    try {
      do {
        // Batches sized by the time the last ones took (a slow or loaded machine encodes fewer
        // sessions per batch), so that a slice overruns SLICE_MS by at most a small batch.
        const handles = this.#handles.subarray(0, this.#batch)
        const count = engine.scan(this.#from, -Infinity, handles)
        const end = encodeInto(engine, handles, count, this.#writer, out, used)
        if (end >= 0) {
          used = end
        } else if (used > 0) {
          break // The buffer is full: this batch starts the next slice.
        } else {
          large = encode(engine, handles, count, this.#writer)
        }
        if (count < handles.length) {
          finished = true
          break
        }
        this.#from = slotOf(handles[count - 1]) + 1
        const started = now
        now = performance.now()
        if (now - started > SLICE_MS / 4) this.#batch = Math.max(MIN_BATCH, this.#batch >> 1)
        else if (now - started < SLICE_MS / 8) this.#batch = Math.min(this.#handles.length, this.#batch * 2)
      } while (now < until && large === undefined)
    } catch (error) {
      return this.#fail(error)
    }
    this.#write([out.subarray(0, used), ...(large === undefined ? [] : [large])], finished ? this.#drain : this.#slice)
  }

  /** Writes the records kept meanwhile until few are left, then fdatasyncs off the JS thread. */
  #drain = (): void => this.#timed(this.#writeKept)

  #writeKept = (): void => {
    const kept = this.target.journal.takeTee()
    let bytes = 0
    for (const chunk of kept) bytes += chunk.length
    if (bytes > FINAL_BYTES) return this.#write(kept, this.#drain)
    this.#write(kept, this.#syncNew)
  }

  /** fdatasync of the new file off the JS thread, then the catch-up. */
  #syncNew = (): void => {
    this.#busy = true
    fdatasync(this.#fd, (error) => {
      this.#busy = false
      if (this.#aborted) return this.#discard()
      if (error !== null) return this.#fail(error)
      this.#catchUp()
    })
  }

  /**
   * Writes what came in during the fdatasync (a slow disk can take long enough for megabytes),
   * and fdatasyncs again, until the rest is small enough for the synchronous last step, which
   * it then takes: everything before that rest is durable in the new file by then, so under
   * 'always' the rename never leaves an acknowledged change only in the page cache.
   */
  #catchUp = (): void => this.#timed(() => {
    if (this.target.journal.teeBytes > FINAL_BYTES) return this.#write(this.target.journal.takeTee(), this.#syncNew)
    this.#finish()
  })

  /** One turn: the last records, the rename, the journal moved to the new file. */
  #finish(): void {
    const { journal, path } = this.target
    try {
      const last = concat(journal.takeTee())
      let offset = 0
      while (offset < last.length) offset += writeSync(this.#fd, last, offset, last.length - offset)
      this.#bytes += last.length
      const always = journal.policy === 'always'
      if (always && last.length > 0) fdatasyncSync(this.#fd)
      renameSync(this.#temporary, path)
    } catch (error) {
      return this.#fail(error)
    }
    journal.stopTee()
    journal.swap(this.#fd, this.target.journal.policy === 'always')
    syncDirectory(dirname(path))
    this.done({ kind: 'done', bytes: this.#bytes })
  }
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]
  let length = 0
  for (const chunk of chunks) length += chunk.length
  const out = new Uint8Array(length)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}

/** The rename durable, off the JS thread (a crash before it leaves the old file, complete). */
function syncDirectory(directory: string): void {
  let fd: number
  try {
    fd = openSync(directory, 'r')
  } catch {
    return
  }
  fsync(fd, () => closeSync(fd))
}
