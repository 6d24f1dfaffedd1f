import { Buffer } from 'node:buffer'
import { SessionData } from './session-data'

/** Node's unchecked Buffer method (the checked one costs more than the copy for short strings). */
interface RawBuffer extends Buffer {
  utf8Slice(start: number, end: number): string
}

/**
 * Slots per page of `order` (256 KiB). One typed array doubled as it filled: after a load of
 * 10^6 sessions, the records moved during a mass destroy grew it inside one destroy, which took
 * 8.4 ms (1,026 page faults, the 524,288th of 600,000 in order; 2.3-8.2 ms in other probe runs).
 * In pages, no destroy of that probe faulted more than 500 pages.
 */
const ORDER_PAGE_BITS = 16
const ORDER_PAGE = 1 << ORDER_PAGE_BITS
/** Bytes per chunk of copied records; a longer record gets a chunk of its own. */
const CHUNK_BYTES = 1 << 20
/**
 * Bytes between one tail and the next (the next record's frame, id and times; a few short
 * records) copied along with them, so that a file's run of Session records is one copy.
 */
const MAX_GAP = 512

/**
 * Restored sessions' side records (user, roles, data) kept as a Session record's tail holds them
 * (docs/persistence-format.md: user flag and user, roles, data entries), and decoded into a
 * SessionData the first time a session's roles or data are read or changed: a load of 10^6
 * sessions made a Map and ten strings per session, and the garbage collector was a quarter of
 * the load's time; a session never read after a restart costs its bytes, never a Map.
 *
 * Tails are copied into 1 MiB chunks, each freed once none of its sessions is packed any more
 * (decoded or released), so a restart costs no more memory than the records restored; once
 * three quarters of a chunk's sessions are gone, the records left are copied to a chunk that
 * collects such records and it is freed, so that a few sessions never read keep no chunk of
 * bytes alive (each chunk but the collecting one keeps more than a quarter of the records ever
 * packed into it; records, not bytes: a chunk of a few large records gone and many small ones
 * left is kept whole). A run
 * of records is copied at once, the bytes between tails with them: a copy per session was a
 * fifth of the load. A clean file (a snapshot: every record a live session's) is not copied at
 * all: its runs become chunks as views of the bytes read, which are freed with the last of them;
 * copying them added 280 MB of external memory at 10^6 sessions, and V8 answered that pressure
 * with a full collection every ~60 MB (10 in one load, 0.7 s in a heap holding 10^6 ids). Only
 * tails whose data keys are distinct are kept packed (crates/core `load_record`, which stores
 * the tail whole on the same condition); the bytes of a packed session's data are then the
 * UTF-8 bytes of its strings.
 */
export class PackedSides {
  /** Per slot: the chunk of its tail, -1 when the slot holds none. */
  private chunkOf: Int32Array
  /** Per slot: where its tail starts in the chunk. */
  private startOf: Int32Array
  /** Per slot: where its tail ends. */
  private endOf: Int32Array
  private readonly chunks: (Buffer | undefined)[] = []
  /** Per chunk: the packed tails it still holds. */
  private readonly packedIn: number[] = []
  /** Per chunk: the tails packed into it; 0 once it is drained. */
  private readonly packedEver: number[] = []
  /** Per chunk: where its slots start in `order`. */
  private readonly firstOf: number[] = []
  /**
   * The slots packed, in order (chunk by chunk), in pages of ORDER_PAGE; a slot may be there
   * again, in a later chunk.
   */
  private orderPages: Int32Array[] = []
  private orderLength = 0
  private current = -1
  private at = 0
  /** The run of bytes waiting to be copied to the current chunk from `at`: runSource[runStart, runEnd). */
  private runSource: Buffer | undefined = undefined
  private runStart = 0
  private runEnd = 0
  /** The waiting run becomes its chunk as it is (a view of runSource), not a copy. */
  private runShared = false
  /** Between a load's first pack and its finish(). */
  private loading = false
  /** The chunk that records of drained chunks are moved to (-1: none yet), and its end. */
  private moveTarget = -1
  private moveAt = 0
  /**
   * A freed move target's buffer, kept for the next one. Records are moved out of a chunk when
   * three quarters of it are gone, and sessions that go in order (a sweep, a mass logout) then
   * take the moved ones soon after: the target empties, is freed, and the next move made a new
   * 1 MiB buffer. 600,000 destroys after a load of 10^6 made 159 of them; V8 counts each new
   * buffer toward its next collection, and started a mark-compact every 50-100 ms, pausing the
   * event loop 1-3 ms each time.
   */
  private spare: Buffer | undefined = undefined
  /** Per chunk: whether it was made as a move target. */
  private readonly collects: boolean[] = []
  /** Bytes of the chunks held (the spare included), for memoryBytes(). */
  bytes = 0
  /** Chunks holding a packed record (a shared run's before it is flushed included). */
  private chunksHeld = 0

  constructor(capacity: number) {
    this.chunkOf = new Int32Array(capacity).fill(-1)
    this.startOf = new Int32Array(capacity)
    this.endOf = new Int32Array(capacity)
  }

  grow(capacity: number): void {
    const chunkOf = new Int32Array(capacity)
    const startOf = new Int32Array(capacity)
    const endOf = new Int32Array(capacity)
    chunkOf.fill(-1)
    chunkOf.set(this.chunkOf)
    startOf.set(this.startOf)
    endOf.set(this.endOf)
    this.chunkOf = chunkOf
    this.startOf = startOf
    this.endOf = endOf
  }

  /**
   * Keeps `source[start, end)`, a Session record's tail, as the side record of `slot`. The copy
   * may wait for the tails that follow: call `flush()` before `source` changes. `shared`: the
   * bytes of `source` never change and may be kept (a view of them instead of a copy).
   */
  pack(slot: number, source: Buffer, start: number, end: number, shared: boolean): void {
    if (!this.loading) {
      // The chunks of this load come after the move target: moves go to a new one after them.
      this.loading = true
      this.moveTarget = -1
    }
    const joins = source === this.runSource && start >= this.runEnd && start - this.runEnd <= MAX_GAP &&
      this.at + end - this.runStart <= CHUNK_BYTES
    if (!joins) {
      this.flush()
      if (shared || this.current < 0 || this.at + end - start > CHUNK_BYTES) {
        // A shared run's chunk is made by flush().
        this.current = this.newChunk(shared ? 0 : end - start)
        this.at = 0
      }
      this.runSource = source
      this.runStart = start
      this.runShared = shared
    }
    this.runEnd = end
    const chunk = this.current
    this.chunkOf[slot] = chunk
    this.startOf[slot] = this.at + start - this.runStart
    this.endOf[slot] = this.at + end - this.runStart
    this.packedIn[chunk]++
    this.packedEver[chunk]++
    this.append(slot)
  }

  /**
   * Adds a chunk after the others, of CHUNK_BYTES or `bytes` if more; 0: a shared run's, whose
   * bytes flush() sets. Returns its number.
   */
  private newChunk(bytes: number, collects = false): number {
    const size = bytes === 0 ? 0 : Math.max(CHUNK_BYTES, bytes)
    if (size === CHUNK_BYTES && this.spare !== undefined) {
      // Counted in `bytes` already.
      this.chunks.push(this.spare)
      this.spare = undefined
    } else {
      this.chunks.push(size === 0 ? undefined : Buffer.allocUnsafe(size))
      this.bytes += size
    }
    this.chunksHeld++
    this.packedIn.push(0)
    this.packedEver.push(0)
    this.firstOf.push(this.orderLength)
    this.collects.push(collects)
    return this.chunks.length - 1
  }

  /** Appends `slot` to `order` (the last chunk's). */
  private append(slot: number): void {
    const at = this.orderLength++
    if ((at & (ORDER_PAGE - 1)) === 0) this.orderPages.push(new Int32Array(ORDER_PAGE))
    this.orderPages[at >>> ORDER_PAGE_BITS][at & (ORDER_PAGE - 1)] = slot
  }

  /** Copies the waiting run into its chunk, or makes it the chunk. */
  flush(): void {
    const source = this.runSource
    if (source === undefined) return
    const length = this.runEnd - this.runStart
    if (this.runShared) {
      this.chunks[this.current] = source.subarray(this.runStart, this.runEnd)
      this.bytes += length
      // Nothing more goes in it.
      this.at = CHUNK_BYTES
    } else {
      source.copy(this.chunks[this.current] as unknown as Uint8Array, this.at, this.runStart, this.runEnd)
      this.at += length
    }
    this.runSource = undefined
  }

  /** The load is over: copies the waiting run, and the last chunk may be drained as the others. */
  finish(): void {
    this.flush()
    this.current = -1
    this.loading = false
    // The move target these drains make comes last and holds every record moved into it (no
    // drop runs meanwhile), so the loop reaches it and leaves it.
    for (let chunk = 0; chunk < this.chunks.length; chunk++) {
      const left = this.packedIn[chunk]
      if (left > 0 && left * 4 <= this.packedEver[chunk]) this.drain(chunk)
    }
  }

  /** Whether no slot holds a packed record any more. */
  get empty(): boolean {
    return this.chunksHeld === 0
  }

  /** Whether `slot` holds a packed side record. */
  holds(slot: number): boolean {
    return this.chunkOf[slot] >= 0
  }

  /** Whether the packed record of `slot` has a user (its first byte is the user flag). */
  hasUser(slot: number): boolean {
    const start = this.startOf[slot]
    // Read where the byte is: a load files each session by its class before its run is copied.
    if (this.runSource !== undefined && this.chunkOf[slot] === this.current && start >= this.at) {
      return this.runSource[this.runStart + start - this.at] === 1
    }
    return this.chunks[this.chunkOf[slot]]![start] === 1
  }

  /** The user of the packed record of `slot`, decoded (the record stays packed). */
  user(slot: number): string | undefined {
    this.flush()
    const bytes = this.chunks[this.chunkOf[slot]]!
    const at = this.startOf[slot]
    if (bytes[at] !== 1) return undefined
    const length = bytes.readUInt32LE(at + 1)
    return (bytes as RawBuffer).utf8Slice(at + 5, at + 5 + length)
  }

  /** UTF-8 bytes of the packed record's data strings. */
  dataBytes(slot: number): number {
    this.flush()
    const bytes = this.chunks[this.chunkOf[slot]]!
    let at = this.startOf[slot]
    if (bytes[at++] === 1) at += 4 + bytes.readUInt32LE(at)
    const roles = bytes.readUInt32LE(at)
    at += 4
    for (let index = 0; index < roles; index++) at += 4 + bytes.readUInt32LE(at)
    const pairs = bytes.readUInt32LE(at)
    return this.endOf[slot] - at - 4 - pairs * 8
  }

  /** Decodes the packed record of `slot` into a SessionData (then drop it). */
  unpack(slot: number): SessionData {
    this.flush()
    const bytes = this.chunks[this.chunkOf[slot]]! as RawBuffer
    let at = this.startOf[slot]
    const record = new SessionData()
    const str = (): string => {
      const length = bytes.readUInt32LE(at)
      at += 4 + length
      return bytes.utf8Slice(at - length, at)
    }
    if (bytes[at++] === 1) record.user = str()
    const roles = bytes.readUInt32LE(at)
    at += 4
    if (roles > 0) {
      const list: string[] = []
      for (let index = 0; index < roles; index++) list.push(str())
      record.setRoles(list)
    }
    const pairs = bytes.readUInt32LE(at)
    at += 4
    const dataStart = at
    // Keys are distinct as bytes (only such tails are packed), so each set appends, unless two
    // byte strings decode to one string (invalid UTF-8 in a tampered file): set() keeps one.
    for (let index = 0; index < pairs; index++) record.set(str(), str(), 0)
    record.dataBytes = at - dataStart - pairs * 8
    return record
  }

  /**
   * Forgets the packed record of `slot` (the session is released or decoded). Once a quarter or
   * less of a chunk is still packed, the records left in it move to a chunk that collects such
   * records (`move`), and it is freed.
   */
  drop(slot: number): void {
    const chunk = this.chunkOf[slot]
    if (chunk < 0) return
    this.chunkOf[slot] = -1
    const left = --this.packedIn[chunk]
    if (left === 0) {
      this.free(chunk)
      return
    }
    // A load drops sessions as it goes: its chunks are drained when it ends (finish). The chunk
    // records are moved to is left alone.
    if (this.loading || chunk === this.moveTarget || left * 4 > this.packedEver[chunk]) return
    this.drain(chunk)
  }

  /** Moves the records left in `chunk` to the move target; `chunk` is then freed. */
  private drain(chunk: number): void {
    this.packedEver[chunk] = 0
    this.forEachIn(chunk, this.move)
  }

  /** Frees `chunk`, which holds no packed record now. */
  private free(chunk: number): void {
    if (chunk === this.current) {
      // Its run, if any, holds no tail now.
      this.runSource = undefined
      this.current = -1
    }
    if (chunk === this.moveTarget) this.moveTarget = -1
    // A shared run dropped whole before it was flushed has no chunk yet.
    const buffer = this.chunks[chunk]
    if (buffer !== undefined && this.collects[chunk] && buffer.length === CHUNK_BYTES && this.spare === undefined) {
      this.spare = buffer
    } else {
      this.bytes -= buffer?.length ?? 0
    }
    this.chunks[chunk] = undefined
    if (--this.chunksHeld === 0) this.clear()
  }

  /**
   * Moves the packed record of `slot` to the end of the move target, a chunk made after every
   * other (so that `order` stays chunk by chunk): a copy of its bytes. Decoding the few left in
   * a drained chunk instead made a Map and ten strings per session, and a compaction that
   * drained chunks on a server of 10^6 restored sessions set off scavenges and a mark-compact
   * in the middle of its steps (the JsEngine's longest block: 8-12 ms).
   */
  private readonly move = (slot: number): void => {
    const chunk = this.chunkOf[slot]
    const start = this.startOf[slot]
    const length = this.endOf[slot] - start
    let target = this.moveTarget
    if (target < 0 || this.moveAt + length > this.chunks[target]!.length) {
      target = this.moveTarget = this.newChunk(length, true)
      this.moveAt = 0
    }
    this.chunks[chunk]!.copy(this.chunks[target] as unknown as Uint8Array, this.moveAt, start, start + length)
    this.chunkOf[slot] = target
    this.startOf[slot] = this.moveAt
    this.endOf[slot] = this.moveAt + length
    this.moveAt += length
    this.packedIn[target]++
    this.packedEver[target]++
    this.append(slot)
    if (--this.packedIn[chunk] === 0) this.free(chunk)
  }

  /** Forgets every chunk (none holds a packed record). */
  private clear(): void {
    // Nothing is packed: nothing is held, the spare neither.
    if (this.spare !== undefined) this.bytes -= this.spare.length
    this.spare = undefined
    this.chunks.length = 0
    this.packedIn.length = 0
    this.packedEver.length = 0
    this.firstOf.length = 0
    this.collects.length = 0
    this.orderPages = []
    this.orderLength = 0
    this.moveTarget = -1
  }

  /** Calls `visit` with each slot still packed in `chunk`. */
  private forEachIn(chunk: number, visit: (slot: number) => void): void {
    const end = chunk + 1 < this.firstOf.length ? this.firstOf[chunk + 1] : this.orderLength
    for (let index = this.firstOf[chunk]; index < end; index++) {
      const slot = this.orderPages[index >>> ORDER_PAGE_BITS][index & (ORDER_PAGE - 1)]
      if (this.chunkOf[slot] === chunk) visit(slot)
    }
  }

  /**
   * Copies the packed record of `slot` into `out` from `at`, as a Session record's tail (the
   * bytes it was loaded from): the end, or -1 when it does not fit before `end`.
   */
  writeTo(slot: number, out: Buffer, at: number, end: number): number {
    this.flush()
    const start = this.startOf[slot]
    const length = this.endOf[slot] - start
    if (at + length > end) return -1
    this.chunks[this.chunkOf[slot]]!.copy(out as unknown as Uint8Array, at, start, start + length)
    return at + length
  }

  /** Bytes of the packed record of `slot`. */
  length(slot: number): number {
    return this.endOf[slot] - this.startOf[slot]
  }
}
