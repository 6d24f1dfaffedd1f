import { Buffer } from 'node:buffer'
import {
  CREATE_KEY_EXISTS, CREATE_TABLE_FULL, type Engine, type EngineConfig, GENERATION_SPACE, REKEY_EXISTS, RESTORE_INVALID_ID,
  REKEY_NOT_ATTACHED, REKEY_OK, SET_OK, SET_STALE, SET_TOO_LARGE, SLOT_SPACE, STATE_ATTACHED, STATE_DETACHED,
  STATE_STALE,
} from '../engine'
import { ExpiryLagCounts } from '../expiry-lag'
import { ANONYMOUS, DeadlineWheel, NIL, USER } from './deadline-wheel'
import { RandomIdIndex } from './id-index'
import { RandomPool } from './ids'
import { PackedSides } from './packed-sides'
import { SessionData } from './session-data'

/*
 * One 64-byte record per slot (one cache line), seen through two views of the same buffer:
 *   Float64 [slot*8 + 0..3]: createdAt, lastActivity, idleTimeout, absoluteTimeout
 *   Int32  [slot*16 + 8..15]: wheel prev/next/bucket, three unused, generation, state
 * A lookup reads one line; a renew writes lastActivity in that same line and nothing else.
 */
/** A handle's slot bits. */
const SLOT_MASK = SLOT_SPACE - 1
const RECORD_BYTES = 64
const F = 8
const CREATED = 0
const LAST = 1
const IDLE = 2
const ABSOLUTE = 3
const I = 16
const WHEEL_LINKS = 8
const GENERATION = 14
const STATE = 15
const FREE = 0
const MAX_KEY_BYTES = 255
const INITIAL_CAPACITY = 1024
/** The least maxSessions, exclusive, that sizes the per-slot arrays at once (reserveForCap). */
const RESERVE_ABOVE = 1 << 16
/** Slots per block of the scan's skip counts (a power of two, dividing INITIAL_CAPACITY). */
const SCAN_BLOCK_BITS = 10
const SCAN_BLOCK = 1 << SCAN_BLOCK_BITS
/**
 * In `data`: the slot holds no side record, or one still packed (PackedSides, decoded on first
 * use). Small integers, not undefined or a symbol: a full collection skips a small integer but
 * visits every pointer, and `data` has a slot per session. With 10^6 sessions restored from a
 * file (all PACKED), a full `gc()` took 10.6-12.0 ms with undefined and a symbol, 6.2-6.4 ms
 * with small integers (median of 15, three alternating runs each, Node 20, a probe outside the
 * repository). That pause is what a mark-compact adds to the event loop after a restart.
 */
const NO_DATA = 0
const PACKED = 1
type SlotData = SessionData | string[] | typeof NO_DATA | typeof PACKED

/** What a JsEngine is built with: the engine config, plus a knob for tests. */
export interface JsEngineConfig extends EngineConfig {
  /**
   * Test knob: generations per slot, 1 to GENERATION_SPACE (the default), so that tests reach a
   * slot's last generation in a few cycles. The facade never sets it.
   */
  generationSpace?: number
}

/**
 * The session engine in pure TypeScript, laid out as the Rust one is: per-slot records in a
 * growable typed array, an id index (random ids: a typed open-addressing table, RandomIdIndex;
 * caller keys: a Map), a typed free stack, and the same deadline wheel (deadline-wheel.ts).
 * It is the fallback where no native binary fits, the oracle the native engine is tested
 * against, and the baseline of every benchmark.
 */
export class JsEngine implements Engine {
  readonly kind = 'js' as const
  private readonly idBytes: number
  private readonly maxDataBytes: number
  private readonly generationSpace: number
  private readonly pool: RandomPool
  /** keys: 'random' only; its presence is what makes an engine a random-id one. */
  private readonly randomIds: RandomIdIndex | undefined
  /** keys: 'caller' only. */
  private readonly index = new Map<string, number>()
  private readonly wheel: DeadlineWheel
  /** Slots the per-slot arrays have room for. */
  private capacity = 0
  /**
   * Slots memoryBytes counts: the capacity the arrays would have had, doubling from
   * INITIAL_CAPACITY, without a reservation for maxSessions. Reserved slots not yet used are
   * address space the OS has not backed (a large calloc is fresh zero pages), as the unused half
   * of a doubled array is.
   */
  private heldSlots = 0
  /** Slots ever used (the high-water mark); slots below it are in use, on the free stack or retired. */
  private used = 0
  private attached = 0
  private f64 = new Float64Array(0)
  private i32 = new Int32Array(0)
  private free = new Int32Array(0)
  private freeTop = 0
  /**
   * Attached sessions per block of SCAN_BLOCK slots, so that a scan skips empty blocks: after
   * 60% of 10^6 sessions closed, a compaction slice's scan walked 468,168 empty slots (64 bytes
   * each) to find its first 8 sessions and held the event loop for 14 ms.
   */
  private attachedInBlock = new Int32Array(0)
  /** keys: 'caller' only (random ids live in randomIds): dense, indexed by slot, '' when free. */
  private readonly ids: string[] = []
  /**
   * Dense, indexed by slot: NO_DATA until the first write, PACKED for a restored one not yet
   * read, a bare array (key, value, key...) for a create's data while nothing else is set (no
   * user, no roles, no later write: the SessionData object would add 64 bytes to the heap of
   * every such session), else a SessionData.
   */
  private readonly data: SlotData[] = []
  /** Side records of restored sessions as the file held them; made by the first load that keeps one. */
  private packed: PackedSides | undefined = undefined
  /**
   * What memoryBytes counts for the side records (packed ones aside: PackedSides counts them)
   * and the caller keys, kept in step with every change: summing them at each call walked every
   * slot, 30-45 ms at 10^6 sessions, on each metrics scrape (sessionkeeper/metrics reads
   * memoryBytes when scraped).
   */
  private sideBytes = 0
  private keyBytes = 0
  /** How late the sweeps took sessions out (crates/core `ExpiryLag`). */
  private readonly lag = new ExpiryLagCounts()

  /**
   * `randomFill` replaces the CSPRNG and `hashMultipliers` the random id-index hash key: hooks
   * for tests only (RandomIdIndex).
   */
  constructor(
    config: JsEngineConfig, randomFill?: (buffer: Uint8Array) => void, hashMultipliers?: readonly [number, number],
  ) {
    const generationSpace = config.generationSpace ?? GENERATION_SPACE
    if (!(Number.isInteger(generationSpace) && generationSpace >= 1 && generationSpace <= GENERATION_SPACE)) {
      throw new RangeError(`generationSpace must be an integer from 1 to 2^28, got ${generationSpace}`)
    }
    this.idBytes = config.idBytes
    this.maxDataBytes = config.maxDataBytes
    this.generationSpace = generationSpace
    this.pool = new RandomPool(randomFill)
    this.randomIds = config.keys === 'random' ? new RandomIdIndex(config.idBytes, config.idEncoding, 0, hashMultipliers) : undefined
    const resolution = config.resolution
    if (!(Number.isFinite(resolution) && resolution >= 1)) {
      throw new RangeError(`resolution must be a finite number >= 1, got ${resolution}`)
    }
    this.wheel = new DeadlineWheel(I, WHEEL_LINKS, resolution, (slot) => this.deadline(slot))
    this.grow(INITIAL_CAPACITY)
    this.heldSlots = INITIAL_CAPACITY
    this.reserveForCap(config.maxSessions)
  }

  get size(): number {
    return this.attached
  }

  create(now: number, idleTimeout: number, absoluteTimeout: number): number {
    if (this.freeTop === 0 && this.used >= SLOT_SPACE) return CREATE_TABLE_FULL
    this.drawFreshId()
    const slot = this.claimSlot()
    this.randomIds!.insert(slot)
    return this.initialize(slot, now, idleTimeout, absoluteTimeout)
  }

  createdId = ''

  createSession(now: number, idleTimeout: number, absoluteTimeout: number, entries: string[]): number {
    const handle = this.create(now, idleTimeout, absoluteTimeout)
    if (handle < 0) return handle
    if (entries.length > 0) this.setDataEntries(handle, entries)
    this.createdId = this.id(handle) as string
    return handle
  }

  createWithKey(key: string, now: number, idleTimeout: number, absoluteTimeout: number): number {
    if (this.index.has(key)) return CREATE_KEY_EXISTS
    if (this.freeTop === 0 && this.used >= SLOT_SPACE) return CREATE_TABLE_FULL
    const slot = this.claimSlot()
    this.setKey(slot, key)
    this.index.set(key, slot)
    return this.initialize(slot, now, idleTimeout, absoluteTimeout)
  }

  reserve(sessions: number): void {
    const target = Math.min(SLOT_SPACE, this.used + sessions)
    if (target > this.capacity) {
      let capacity = Math.max(this.capacity, 1024)
      while (capacity < target) capacity *= 2
      this.grow(Math.min(capacity, SLOT_SPACE))
    }
    while (this.heldSlots < target) this.holdMore()
    this.randomIds?.reserve(this.randomIds.size + sessions)
  }

  restore(id: string, createdAt: number, lastActivity: number, idleTimeout: number, absoluteTimeout: number): number {
    const randomIds = this.randomIds
    if (randomIds !== undefined) {
      if (!randomIds.loadText(id)) return RESTORE_INVALID_ID
      return this.restoreLoaded(randomIds, createdAt, lastActivity, idleTimeout, absoluteTimeout)
    }
    if (!this.acceptableKey(id)) return RESTORE_INVALID_ID
    if (this.index.has(id)) return CREATE_KEY_EXISTS
    if (this.freeTop === 0 && this.used >= SLOT_SPACE) return CREATE_TABLE_FULL
    const slot = this.claimSlot()
    this.setKey(slot, id)
    this.index.set(id, slot)
    return this.initialize(slot, lastActivity, idleTimeout, absoluteTimeout, createdAt)
  }

  /**
   * `restore` of the id spelt by the `length` bytes at `start` of `text` (UTF-8, as a session
   * file holds it). A random id is decoded from the bytes with no string made (a load restores
   * 10^6 of them); a caller key is made a string, as it is kept as one.
   */
  restoreText(
    text: Buffer, start: number, length: number, createdAt: number, lastActivity: number, idleTimeout: number, absoluteTimeout: number,
  ): number {
    const randomIds = this.randomIds
    if (randomIds === undefined) {
      return this.restore(text.toString('utf8', start, start + length), createdAt, lastActivity, idleTimeout, absoluteTimeout)
    }
    if (!randomIds.loadAscii(text, start, length)) return RESTORE_INVALID_ID
    return this.restoreLoaded(randomIds, createdAt, lastActivity, idleTimeout, absoluteTimeout)
  }

  /**
   * Loading: reads where the ids spelt from `starts[0..count)` of `text` would be indexed, ahead
   * of their restores (RandomIdIndex.warmAscii); nothing for caller keys.
   */
  warmIds(text: Buffer, starts: Int32Array, count: number): void {
    this.randomIds?.warmAscii(text, starts, count)
  }

  /** Restores the random id `randomIds` holds as its current one. */
  private restoreLoaded(
    randomIds: RandomIdIndex, createdAt: number, lastActivity: number, idleTimeout: number, absoluteTimeout: number,
  ): number {
    if (randomIds.findScratch() >= 0) return CREATE_KEY_EXISTS
    if (this.freeTop === 0 && this.used >= SLOT_SPACE) return CREATE_TABLE_FULL
    const slot = this.claimSlot()
    randomIds.insert(slot)
    return this.initialize(slot, lastActivity, idleTimeout, absoluteTimeout, createdAt)
  }

  /**
   * Loading (ts/persist/replay.ts): gives a just-restored session its user, roles and data
   * (`data` holds `dataBytes` UTF-8 bytes, key, value, key...) with no data cap; the load cuts
   * what is over the cap at its end (capLoadedData). Returns whether the data is over the cap.
   */
  loadSide(handle: number, user: string | undefined, roles: string[], data: string[], dataBytes: number): boolean {
    const slot = this.slotOf(handle)
    if (slot < 0) return false
    const record = new SessionData()
    record.user = user
    record.setRoles(roles)
    for (let index = 0; index < data.length; index += 2) record.set(data[index], data[index + 1], 0)
    // A key given twice keeps its place and its last value: count what the record holds.
    record.dataBytes = record.size * 2 === data.length ? dataBytes : countBytes(record)
    this.sideBytes += record.approximateBytes() - this.recordBytes(slot)
    this.data[slot] = record
    if (this.i32[slot * I + STATE] === STATE_ATTACHED && this.wheel.classOf(slot) !== this.classOf(slot)) this.refile(slot)
    return record.dataBytes > this.maxDataBytes
  }

  /**
   * Loading: gives a just-restored session the side record `source[start, end)`, a Session
   * record's tail (user, roles, data holding `dataBytes` UTF-8 bytes, keys distinct), kept as it
   * is until the session's roles or data are first used (PackedSides). No data cap, as loadSide.
   * `shared`: `source` is a clean file's bytes, read for this load and never changed, and may be
   * kept as they are.
   */
  loadRecord(handle: number, source: Buffer, start: number, end: number, dataBytes: number, shared: boolean): boolean {
    const slot = this.slotOf(handle)
    if (slot < 0) return false
    const packed = this.packed ?? (this.packed = new PackedSides(this.heldSlots))
    packed.pack(slot, source, start, end, shared)
    // A load restores into new slots; should one ever hold a record, its bytes leave the count.
    if (this.data[slot] !== PACKED) this.sideBytes -= this.recordBytes(slot)
    this.data[slot] = PACKED
    if (this.i32[slot * I + STATE] === STATE_ATTACHED && this.wheel.classOf(slot) !== this.classOf(slot)) this.refile(slot)
    return dataBytes > this.maxDataBytes
  }

  /** Loading: the file's records are all applied (the buffers they were read from may go). */
  endLoad(): void {
    this.packed?.finish()
  }

  /** Loading: sets each entry (key, value, key...) as setData would, with no data cap. */
  loadData(handle: number, entries: string[]): boolean {
    const slot = this.slotOf(handle)
    if (slot < 0 || entries.length === 0) return false
    const existing = this.side(slot)
    const before = existing === undefined ? 0 : existing.approximateBytes()
    const record = existing ?? (this.data[slot] = new SessionData())
    for (let index = 0; index < entries.length; index += 2) {
      record.set(entries[index], entries[index + 1], record.bytesAfterSet(entries[index], entries[index + 1]))
    }
    this.sideBytes += record.approximateBytes() - before
    return record.dataBytes > this.maxDataBytes
  }

  /**
   * Loading: cuts the data of every session over the cap, entries in order, one that would go
   * over dropped (as setData per entry, going on after a failure, would leave it).
   */
  capLoadedData(): void {
    for (let slot = 0; slot < this.used; slot++) {
      if (this.data[slot] === PACKED && !(this.packed!.dataBytes(slot) > this.maxDataBytes)) continue
      const record = this.side(slot)
      if (record === undefined || !(record.dataBytes > this.maxDataBytes)) continue
      this.sideBytes -= record.approximateBytes()
      const entries: string[] = []
      record.forEach((value, key) => entries.push(key, value))
      record.clear()
      for (let index = 0; index < entries.length; index += 2) {
        const after = record.bytesAfterSet(entries[index], entries[index + 1])
        if (after <= this.maxDataBytes) record.set(entries[index], entries[index + 1], after)
      }
      this.sideBytes += record.approximateBytes()
    }
  }

  /**
   * Loading: a Rename record. The session keeps its slot and takes `newId` (a session holding
   * it is released first); its last activity becomes `lastActivity`. False, changing nothing,
   * when `newId` is not an id of this engine or `handle` is not an attached session.
   */
  loadRename(handle: number, newId: string, lastActivity: number): boolean {
    const slot = this.slotOf(handle)
    // Attached only: a detached session's index entry would outlive its release (which
    // unindexes attached slots only) and name the slot's next session (a hostile review's find).
    if (slot < 0 || this.i32[slot * I + STATE] !== STATE_ATTACHED) return false
    const randomIds = this.randomIds
    if (randomIds !== undefined) {
      if (!randomIds.loadText(newId)) return false
      const holder = randomIds.findScratch()
      if (holder !== slot) {
        if (holder >= 0) {
          this.releaseSlot(holder)
          randomIds.loadText(newId)
        }
        randomIds.remove(slot)
        randomIds.insert(slot)
      }
    } else {
      if (!this.acceptableKey(newId)) return false
      const holder = this.index.get(newId)
      if (holder !== slot) {
        if (holder !== undefined) this.releaseSlot(holder)
        this.index.delete(this.ids[slot])
        this.setKey(slot, newId)
        this.index.set(newId, slot)
      }
    }
    this.renew(slot, lastActivity)
    return true
  }

  /** Loading: a Renew record; a later last activity replaces the session's. */
  loadRenew(handle: number, lastActivity: number): void {
    const slot = this.slotOf(handle)
    if (slot >= 0 && lastActivity > this.f64[slot * F + LAST]) this.renew(slot, lastActivity)
  }

  attachedActivity(): Float64Array {
    const out = new Float64Array(this.attached * 2)
    let at = 0
    for (let slot = 0; slot < this.used; slot++) {
      if (this.i32[slot * I + STATE] !== STATE_ATTACHED) continue
      out[at++] = slot + this.i32[slot * I + GENERATION] * SLOT_SPACE
      out[at++] = this.f64[slot * F + LAST]
    }
    return out
  }

  lookup(id: string, now: number, renew: boolean): number {
    const slot = this.slotById(id)
    if (slot < 0) return -1
    const before = this.deadline(slot)
    if (!(now < before)) return -1
    if (renew) this.renewFrom(slot, now, before)
    return slot + this.i32[slot * I + GENERATION] * SLOT_SPACE
  }

  detachIfExpired(id: string, now: number): number {
    const slot = this.slotById(id)
    if (slot < 0 || now < this.deadline(slot)) return -1
    this.detachSlot(slot)
    return slot + this.i32[slot * I + GENERATION] * SLOT_SPACE
  }

  isAlive(handle: number, now: number): boolean {
    return this.attachedAlive(handle, now) >= 0
  }

  touch(handle: number, now: number): boolean {
    const slot = this.attachedAlive(handle, now)
    if (slot < 0) return false
    this.renew(slot, now)
    return true
  }

  detach(handle: number): boolean {
    const slot = this.slotOf(handle)
    if (slot < 0 || this.i32[slot * I + STATE] !== STATE_ATTACHED) return false
    this.detachSlot(slot)
    return true
  }

  release(handle: number): boolean {
    const slot = this.slotOf(handle)
    if (slot < 0) return false
    this.releaseSlot(slot)
    return true
  }

  sweep(now: number, out: Float64Array): number {
    let count = 0
    const wheel = this.wheel
    const budget = sweepBudget(out.length)
    wheel.beginSweep()
    while (count < out.length) {
      const slot = wheel.popDue(now, budget)
      if (slot === NIL) break
      this.lag.record(now - this.deadline(slot))
      this.detachSlot(slot)
      out[count++] = slot + this.i32[slot * I + GENERATION] * SLOT_SPACE
    }
    return count
  }

  sweepRelease(now: number, limit: number): number {
    let count = 0
    const wheel = this.wheel
    const budget = sweepBudget(limit)
    wheel.beginSweep()
    while (count < limit) {
      const slot = wheel.popDue(now, budget)
      if (slot === NIL) break
      this.lag.record(now - this.deadline(slot))
      this.releaseSlot(slot)
      count++
    }
    return count
  }

  nextDeadline(): number {
    return this.wheel.nextDeadline()
  }

  evictionCandidate(): number {
    let slot = this.wheel.candidate(ANONYMOUS)
    if (slot === NIL) slot = this.wheel.candidate(USER)
    return slot === NIL ? -1 : slot + this.i32[slot * I + GENERATION] * SLOT_SPACE
  }

  regenerate(handle: number, now: number): string | undefined {
    const randomIds = this.randomIds
    if (randomIds === undefined) return undefined
    const slot = this.attachedAlive(handle, now)
    if (slot < 0) return undefined
    // Drawn before the old id is unindexed, so the new one can never equal it.
    this.drawFreshId()
    randomIds.remove(slot)
    randomIds.insert(slot)
    this.renew(slot, now)
    return randomIds.encode(slot)
  }

  rekey(handle: number, key: string, now: number): number {
    if (this.randomIds !== undefined || !this.acceptableKey(key)) return REKEY_NOT_ATTACHED
    const slot = this.attachedAlive(handle, now)
    if (slot < 0) return REKEY_NOT_ATTACHED
    if (this.ids[slot] !== key) {
      if (this.index.has(key)) return REKEY_EXISTS
      this.index.delete(this.ids[slot])
      this.setKey(slot, key)
      this.index.set(key, slot)
    }
    this.renew(slot, now)
    return REKEY_OK
  }

  state(handle: number): number {
    const slot = this.slotOf(handle)
    return slot < 0 ? STATE_STALE : this.i32[slot * I + STATE]
  }

  /**
   * For the session file's encoder (ts/persist/js-records.ts), which reads sessions without
   * making objects: writes the id of `handle` as UTF-8 into `out` from `at` and returns the end,
   * or -1 (for a stale handle, or when fewer than the id's bytes are left before `end`).
   */
  writeId(handle: number, out: Buffer, at: number, end: number): number {
    const slot = this.slotOf(handle)
    if (slot < 0) return -1
    const random = this.randomIds
    if (random !== undefined) {
      if (at + random.textLength > end) return -1
      random.writeText(slot, out, at)
      return at + random.textLength
    }
    const key = this.ids[slot]
    if (at + key.length * 3 > end) return -1
    return at + (out as Buffer & { utf8Write(text: string, offset: number): number }).utf8Write(key, at)
  }

  /**
   * The side record of `handle` as stored (user, roles, data), for the same encoder: read only.
   * A bare array is a create's data alone (no user, no roles), given as it is: the encoder walks
   * every session, and making each a SessionData would put them all back on the heap.
   */
  sideRecord(handle: number): SessionData | string[] | undefined {
    const slot = this.slotOf(handle)
    if (slot < 0) return undefined
    const record = this.data[slot]
    return Array.isArray(record) ? record : this.side(slot)
  }

  /**
   * For the same encoder: when the side record of `handle` is still packed, copies it into `out`
   * from `at` as a Session record's tail and returns the end, or -1 when it does not fit before
   * `end`; -2 when it is not packed (read it through sideRecord then).
   */
  writePackedSide(handle: number, out: Buffer, at: number, end: number): number {
    const slot = this.slotOf(handle)
    if (slot < 0 || this.data[slot] !== PACKED) return -2
    return this.packed!.writeTo(slot, out, at, end)
  }

  id(handle: number): string | undefined {
    const slot = this.slotOf(handle)
    if (slot < 0) return undefined
    return this.randomIds !== undefined ? this.randomIds.encode(slot) : this.ids[slot]
  }

  createdAt(handle: number): number {
    const slot = this.slotOf(handle)
    return slot < 0 ? NaN : this.f64[slot * F + CREATED]
  }

  lastActivity(handle: number): number {
    const slot = this.slotOf(handle)
    return slot < 0 ? NaN : this.f64[slot * F + LAST]
  }

  expiresAt(handle: number): number {
    const slot = this.slotOf(handle)
    return slot < 0 ? NaN : this.deadline(slot)
  }

  idleTimeout(handle: number): number {
    const slot = this.slotOf(handle)
    return slot < 0 ? NaN : this.f64[slot * F + IDLE]
  }

  absoluteTimeout(handle: number): number {
    const slot = this.slotOf(handle)
    return slot < 0 ? NaN : this.f64[slot * F + ABSOLUTE]
  }

  setIdleTimeout(handle: number, timeout: number): boolean {
    return this.setTimeout(handle, IDLE, timeout)
  }

  setAbsoluteTimeout(handle: number, timeout: number): boolean {
    return this.setTimeout(handle, ABSOLUTE, timeout)
  }

  /** Stores a timeout; an attached session is re-filed by its new deadline. O(1). */
  private setTimeout(handle: number, field: number, timeout: number): boolean {
    const slot = this.slotOf(handle)
    if (slot < 0) return false
    const at = slot * F + field
    const changed = this.f64[at] !== timeout
    this.f64[at] = timeout
    if (changed && this.i32[slot * I + STATE] === STATE_ATTACHED) this.refile(slot)
    return true
  }
  getData(handle: number, key: string): string | undefined {
    const slot = this.slotOf(handle)
    if (slot < 0) return undefined
    const record = this.data[slot]
    if (Array.isArray(record)) return SessionData.bareGet(record, key)
    const side = this.side(slot)
    return side === undefined ? undefined : side.get(key)
  }

  setData(handle: number, key: string, value: string): number {
    const slot = this.slotOf(handle)
    if (slot < 0) return SET_STALE
    // A bare array is measured as it is, so that a write refused over the cap leaves it bare.
    const current = this.data[slot]
    const bareAfter = Array.isArray(current) && this.maxDataBytes !== Infinity ? SessionData.bareBytesAfterSet(current, key, value) : -1
    if (bareAfter > this.maxDataBytes) return SET_TOO_LARGE
    const existing = this.side(slot)
    const bytesAfter = bareAfter >= 0 ? bareAfter
      : existing === undefined ? SessionData.entryBytes(key, value) : existing.bytesAfterSet(key, value)
    if (bytesAfter > this.maxDataBytes) return SET_TOO_LARGE
    const before = existing === undefined ? 0 : existing.approximateBytes()
    const record = existing ?? (this.data[slot] = new SessionData())
    record.set(key, value, bytesAfter)
    this.sideBytes += record.approximateBytes() - before
    return SET_OK
  }

  setDataEntries(handle: number, entries: string[]): number {
    // A create's data (the facade has checked its keys are distinct, and its size when capped)
    // goes into a new record at once: one array of the exact size, no lookup per entry.
    const slot = this.slotOf(handle)
    if (slot >= 0 && this.data[slot] === NO_DATA && entries.length > 0) {
      const bare = SessionData.bareEntries(entries, this.maxDataBytes)
      if (bare !== undefined) {
        this.data[slot] = bare
        this.sideBytes += SessionData.bareBytes(bare)
        return SET_OK
      }
    }
    for (let index = 0; index + 1 < entries.length; index += 2) {
      const result = this.setData(handle, entries[index], entries[index + 1])
      if (result !== SET_OK) return result
    }
    return SET_OK
  }

  deleteData(handle: number, key: string): boolean {
    const slot = this.slotOf(handle)
    if (slot < 0) return false
    // Deleting what a bare array does not hold changes nothing: no record for it.
    const bare = this.data[slot]
    if (Array.isArray(bare) && SessionData.bareGet(bare, key) === undefined) return false
    const record = this.side(slot)
    if (record === undefined) return false
    const before = record.approximateBytes()
    const deleted = record.delete(key)
    this.sideBytes += record.approximateBytes() - before
    return deleted
  }

  dataKeys(handle: number): string[] {
    const slot = this.slotOf(handle)
    if (slot < 0) return []
    const bare = this.data[slot]
    if (Array.isArray(bare)) return SessionData.bareKeys(bare)
    const record = this.side(slot)
    return record === undefined ? [] : record.keys()
  }

  dataBytes(handle: number): number {
    const slot = this.slotOf(handle)
    if (slot < 0) return NaN
    const record = this.data[slot]
    if (record === PACKED) return this.packed!.dataBytes(slot)
    if (Array.isArray(record)) return SessionData.bareDataBytes(record)
    return record === NO_DATA ? 0 : record.dataBytes
  }

  user(handle: number): string | undefined {
    const slot = this.slotOf(handle)
    if (slot < 0) return undefined
    const record = this.data[slot]
    if (record === PACKED) return this.packed!.user(slot)
    return record === NO_DATA || Array.isArray(record) ? undefined : record.user
  }

  setUser(handle: number, user: string | undefined): boolean {
    const slot = this.slotOf(handle)
    if (slot < 0) return false
    // A bare array has no user: clearing it changes nothing.
    if (user === undefined && Array.isArray(this.data[slot])) return true
    const record = this.side(slot)
    const before = this.recordBytes(slot)
    if (record !== undefined) record.user = user
    else if (user !== undefined) (this.data[slot] = new SessionData()).user = user
    this.sideBytes += this.recordBytes(slot) - before
    // Setting the first user or clearing it moves the session to the other eviction class.
    if (this.i32[slot * I + STATE] === STATE_ATTACHED && this.wheel.classOf(slot) !== this.classOf(slot)) this.refile(slot)
    return true
  }

  roles(handle: number): string[] {
    const slot = this.slotOf(handle)
    if (slot < 0) return []
    const bare = this.data[slot]
    if (Array.isArray(bare)) return []
    const record = this.side(slot)
    return record === undefined ? [] : record.roles.slice()
  }

  setRoles(handle: number, roles: string[]): boolean {
    const slot = this.slotOf(handle)
    if (slot < 0) return false
    // A bare array has no roles: setting none changes nothing.
    if (roles.length === 0 && Array.isArray(this.data[slot])) return true
    const record = this.side(slot)
    const before = this.recordBytes(slot)
    if (record !== undefined) record.setRoles(roles.slice())
    else if (roles.length > 0) (this.data[slot] = new SessionData()).setRoles(roles.slice())
    this.sideBytes += this.recordBytes(slot) - before
    return true
  }

  scan(fromSlot: number, now: number, out: Float64Array): number {
    const i32 = this.i32
    let count = 0
    const capacity = out.length
    const attachedInBlock = this.attachedInBlock
    const used = this.used
    let slot = fromSlot > 0 ? fromSlot : 0
    while (slot < used && count < capacity) {
      if ((slot & (SCAN_BLOCK - 1)) === 0 && attachedInBlock[slot >>> SCAN_BLOCK_BITS] === 0) {
        slot += SCAN_BLOCK
        continue
      }
      if (i32[slot * I + STATE] === STATE_ATTACHED && now < this.deadline(slot)) {
        out[count++] = slot + i32[slot * I + GENERATION] * SLOT_SPACE
      }
      slot++
    }
    return count
  }

  expiryLag(out: Float64Array): void {
    this.lag.copyTo(out)
  }

  memoryBytes(): number {
    // Records and free stack, the id index (random: its typed arrays; caller: the key strings and
    // a Map entry per attached session), side records.
    const index = this.randomIds !== undefined ? this.randomIds.bytes(this.heldSlots) : this.index.size * 40
    const packed = this.packed === undefined ? 0 : this.heldSlots * 12 + this.packed.bytes
    return this.heldSlots * (RECORD_BYTES + 4 + 8) + index + this.keyBytes + this.sideBytes + packed
  }

  /**
   * Checks every invariant of the records, the id index and the deadline wheel: counts, the
   * free stack, that each attached session is found under its own id, filed once in its class
   * and never after its deadline. Throws an Error naming the first broken one. A test aid: the
   * property tests run it after every step; nothing else calls it.
   */
  checkInvariants(): void {
    const i32 = this.i32
    const attachedSlots: number[] = []
    const onStack = new Set<number>()
    for (let top = 0; top < this.freeTop; top++) {
      const slot = this.free[top]
      if (onStack.has(slot)) throw new Error(`slot ${slot} is on the free stack twice`)
      onStack.add(slot)
      if (i32[slot * I + STATE] !== FREE || i32[slot * I + GENERATION] >= this.generationSpace) {
        throw new Error(`the free stack holds slot ${slot}, which is not free or is retired`)
      }
    }
    for (let slot = 0; slot < this.used; slot++) {
      const state = i32[slot * I + STATE]
      if (state === STATE_ATTACHED) {
        attachedSlots.push(slot)
        const found = this.randomIds !== undefined ? this.randomIds.find(this.randomIds.encode(slot)) : this.index.get(this.ids[slot])
        if (found !== slot) throw new Error(`attached slot ${slot} is not found under its own id`)
      } else if (state === FREE) {
        if (i32[slot * I + GENERATION] < this.generationSpace && !onStack.has(slot)) throw new Error(`free slot ${slot} is lost`)
        if (this.data[slot] !== NO_DATA) throw new Error(`free slot ${slot} still holds data`)
      }
      if ((this.data[slot] === PACKED) !== (this.packed !== undefined && this.packed.holds(slot))) {
        throw new Error(`slot ${slot} is marked packed ${this.data[slot] === PACKED} but holds a packed record ${!!this.packed?.holds(slot)}`)
      }
    }
    if (attachedSlots.length !== this.attached) throw new Error(`${attachedSlots.length} attached records, counted ${this.attached}`)
    const perBlock = new Int32Array(this.attachedInBlock.length)
    for (const slot of attachedSlots) perBlock[slot >>> SCAN_BLOCK_BITS]++
    for (let block = 0; block < perBlock.length; block++) {
      if (perBlock[block] !== this.attachedInBlock[block]) {
        throw new Error(`block ${block} holds ${perBlock[block]} attached sessions, counted ${this.attachedInBlock[block]}`)
      }
    }
    const indexed = this.randomIds !== undefined ? this.randomIds.size : this.index.size
    if (indexed !== this.attached) throw new Error(`${indexed} indexed, ${this.attached} attached`)
    this.wheel.check(attachedSlots, (slot) => this.classOf(slot))
    let sideBytes = 0
    let keyBytes = 0
    for (let slot = 0; slot < this.used; slot++) {
      sideBytes += this.recordBytes(slot)
      if (this.randomIds === undefined) keyBytes += keyCost(this.ids[slot])
      const bare = this.data[slot]
      if (Array.isArray(bare) && SessionData.bareEntries(bare, this.maxDataBytes) === undefined) {
        throw new Error(`slot ${slot} holds a bare array that is not a create's data (${bare.length} strings)`)
      }
    }
    if (sideBytes !== this.sideBytes || keyBytes !== this.keyBytes) {
      throw new Error(`side records and keys hold ${sideBytes} + ${keyBytes} bytes, counted ${this.sideBytes} + ${this.keyBytes}`)
    }
  }

  /** A caller key from a client: 1 to 255 UTF-8 bytes (byteLength only when it could matter). */
  private acceptableKey(key: string): boolean {
    const length = key.length
    return length > 0 && length <= MAX_KEY_BYTES &&
      (length * 3 <= MAX_KEY_BYTES || Buffer.byteLength(key, 'utf8') <= MAX_KEY_BYTES)
  }

  /** The slot of the attached session with this id or key, else -1 (malformed ones included). */
  private slotById(id: string): number {
    if (this.randomIds !== undefined) return this.randomIds.find(id)
    if (!this.acceptableKey(id)) return -1
    const slot = this.index.get(id)
    return slot === undefined ? -1 : slot
  }

  /** The slot of a valid (attached or detached) handle, else -1. */
  private slotOf(handle: number): number {
    if (!(handle >= 0 && handle <= Number.MAX_SAFE_INTEGER)) return -1
    // The low bits by mask (slotOf in ../engine says why); then the handle rebuilt from the slot's
    // generation must be `handle` itself: a non-integer never is, where dividing what is left
    // by SLOT_SPACE rounded a subnormal one (5e-324) to generation 0 of slot 0.
    const slot = handle & SLOT_MASK
    if (!(slot < this.used) || this.i32[slot * I + STATE] === FREE) return -1
    return this.i32[slot * I + GENERATION] * SLOT_SPACE + slot === handle ? slot : -1
  }

  /** The slot of an attached session alive at `now`, else -1. */
  private attachedAlive(handle: number, now: number): number {
    const slot = this.slotOf(handle)
    if (slot < 0 || this.i32[slot * I + STATE] !== STATE_ATTACHED || !(now < this.deadline(slot))) return -1
    return slot
  }

  private deadline(slot: number): number {
    const f64 = this.f64
    const base = slot * F
    const idle = f64[base + IDLE]
    const absolute = f64[base + ABSOLUTE]
    const idleDeadline = idle > 0 ? f64[base + LAST] + idle : Infinity
    const absoluteDeadline = absolute > 0 ? f64[base + CREATED] + absolute : Infinity
    return idleDeadline < absoluteDeadline ? idleDeadline : absoluteDeadline
  }

  /** A use: writes lastActivity only (the wheel re-files lazily), unless the clock went back. */
  private renew(slot: number, now: number): void {
    this.renewFrom(slot, now, this.deadline(slot))
  }

  /**
   * Only lastActivity is written (the wheel re-files lazily), unless the deadline moves earlier
   * (a clock that went back) or moves later but stays inside the cursor's tick (an idle timeout
   * below resolution): then it is filed again at once. The Rust `Engine::renew`.
   */
  private renewFrom(slot: number, now: number, before: number): void {
    const at = slot * F + LAST
    const last = this.f64[at]
    this.f64[at] = now
    if (now < last) {
      this.refile(slot)
      return
    }
    const tickEnd = before < Infinity ? this.wheel.currentTickEnd() : -Infinity
    if (before < tickEnd) {
      const after = this.deadline(slot)
      if (after !== before && after < tickEnd) this.refile(slot)
    }
  }

  private classOf(slot: number): number {
    const record = this.data[slot]
    if (record === PACKED) return this.packed!.hasUser(slot) ? USER : ANONYMOUS
    return record !== NO_DATA && !Array.isArray(record) && record.user !== undefined ? USER : ANONYMOUS
  }

  /** The side record of `slot`, decoded first when it is still packed, made when it is bare. */
  private side(slot: number): SessionData | undefined {
    const record = this.data[slot]
    if (Array.isArray(record)) {
      const made = SessionData.ofBare(record)
      this.data[slot] = made
      this.sideBytes += made.approximateBytes() - SessionData.bareBytes(record)
      return made
    }
    if (record === NO_DATA) return undefined
    if (record !== PACKED) return record
    const unpacked = this.packed!.unpack(slot)
    this.data[slot] = unpacked
    this.sideBytes += unpacked.approximateBytes()
    this.dropPacked(slot)
    return unpacked
  }

  /** Lets the packed record of `slot` go. */
  private dropPacked(slot: number): void {
    const packed = this.packed!
    packed.drop(slot)
    // Its per-slot arrays (12 B a slot) go with the last packed record.
    if (packed.empty) this.packed = undefined
  }

  /** Files an attached session again by its deadline and class. O(1). */
  private refile(slot: number): void {
    this.wheel.refile(slot, this.classOf(slot), this.deadline(slot), this.f64[slot * F + LAST])
  }

  /** Makes a fresh random id, not attached to any session, the index's current id. */
  private drawFreshId(): void {
    const randomIds = this.randomIds!
    do randomIds.load(this.pool.bytes, this.pool.take(this.idBytes))
    while (randomIds.findScratch() >= 0)
  }

  /** What memoryBytes counts for the slot's side record (a packed one: in PackedSides.bytes). */
  private recordBytes(slot: number): number {
    const record = this.data[slot]
    if (Array.isArray(record)) return SessionData.bareBytes(record)
    return record === NO_DATA || record === PACKED ? 0 : record.approximateBytes()
  }

  /** Gives the slot its caller key ('' for none), keeping keyBytes in step. */
  private setKey(slot: number, key: string): void {
    this.keyBytes += keyCost(key) - keyCost(this.ids[slot])
    this.ids[slot] = key
  }

  /** The slot a new session takes: the top of the free stack, else the next never-used one. */
  private claimSlot(): number {
    if (this.freeTop > 0) return this.free[--this.freeTop]
    const slot = this.used
    if (slot >= this.capacity) this.grow(Math.min(this.capacity * 2, SLOT_SPACE))
    if (slot >= this.heldSlots) this.holdMore()
    this.used = slot + 1
    if (this.randomIds === undefined) this.ids.push('')
    this.data.push(NO_DATA)
    return slot
  }

  /** Fills the record of a just indexed session and files it. */
  private initialize(slot: number, now: number, idleTimeout: number, absoluteTimeout: number, createdAt = now): number {
    const f64 = this.f64
    const base = slot * F
    f64[base + CREATED] = createdAt
    f64[base + LAST] = now
    f64[base + IDLE] = idleTimeout
    f64[base + ABSOLUTE] = absoluteTimeout
    this.i32[slot * I + STATE] = STATE_ATTACHED
    this.attached++
    this.attachedInBlock[slot >>> SCAN_BLOCK_BITS]++
    this.wheel.clear(slot)
    this.wheel.file(slot, ANONYMOUS, this.deadline(slot), now)
    return slot + this.i32[slot * I + GENERATION] * SLOT_SPACE
  }

  private detachSlot(slot: number): void {
    this.wheel.unlink(slot)
    if (this.randomIds !== undefined) this.randomIds.remove(slot)
    else this.index.delete(this.ids[slot])
    this.i32[slot * I + STATE] = STATE_DETACHED
    this.attached--
    this.attachedInBlock[slot >>> SCAN_BLOCK_BITS]--
  }

  private releaseSlot(slot: number): void {
    const base = slot * I
    if (this.i32[base + STATE] === STATE_ATTACHED) this.detachSlot(slot)
    this.i32[base + STATE] = FREE
    const generation = this.i32[base + GENERATION] + 1
    this.i32[base + GENERATION] = generation
    if (this.randomIds === undefined) this.setKey(slot, '')
    if (this.data[slot] === PACKED) this.dropPacked(slot)
    else this.sideBytes -= this.recordBytes(slot)
    this.data[slot] = NO_DATA
    // A slot that has issued its last generation retires: free for good, on no stack, so no
    // handle is issued twice and one kept from any of its sessions stays stale.
    if (generation < this.generationSpace) this.free[this.freeTop++] = slot
  }

  /**
   * Doubles the slots memoryBytes counts, and the packed side records' per-slot arrays, which
   * are filled (with -1) when made, so a reservation for maxSessions would have the OS back them
   * at once. The count changes only once the arrays are made: refused, nothing changed.
   */
  private holdMore(): void {
    const heldSlots = Math.min(this.heldSlots * 2, SLOT_SPACE)
    this.packed?.grow(heldSlots)
    this.heldSlots = heldSlots
  }

  /**
   * With a finite maxSessions, makes the per-slot arrays that size now: each doubling copies
   * them inside the create that needs the room (the one at 2^19 sessions ran ~30 ms, at 2^22
   * 1.0-1.5 s; README, A production maxSessions); below 2^16 they are as short as the compiles
   * and collections of the first creates, and a reservation would only count toward V8's
   * external memory (which starts collections) for every small manager made. The id index is
   * not reserved: its tables fill at random places, so a reserved one would be backed by the OS
   * at once; its 256 tables grow alone. When the OS refuses the address space (a strict
   * overcommit policy), the engine grows as without a cap.
   */
  private reserveForCap(maxSessions: number | undefined): void {
    if (maxSessions === undefined || !Number.isFinite(maxSessions) || maxSessions <= RESERVE_ABOVE) return
    // A whole number of scan blocks; a cap at most SLOT_SPACE (options check it) stays within it.
    const capacity = Math.min(SLOT_SPACE, Math.ceil(maxSessions / SCAN_BLOCK) * SCAN_BLOCK)
    try {
      this.grow(capacity)
    } catch (error) {
      if (!(error instanceof RangeError)) throw error
    }
  }

  /**
   * Every allocation before the first change, so that one the OS refuses (reserveForCap, or any
   * growth) leaves the engine as it was; the id index's words last, which it swaps in alone.
   * Callers change their own counts only after it returns (claimSlot, reserve).
   */
  private grow(capacity: number): void {
    const buffer = new ArrayBuffer(capacity * RECORD_BYTES)
    const free = new Int32Array(capacity)
    const attachedInBlock = new Int32Array(capacity / SCAN_BLOCK)
    this.randomIds?.growSlots(capacity)
    new Uint8Array(buffer).set(new Uint8Array(this.f64.buffer))
    this.f64 = new Float64Array(buffer)
    this.i32 = new Int32Array(buffer)
    free.set(this.free)
    this.free = free
    attachedInBlock.set(this.attachedInBlock)
    this.attachedInBlock = attachedInBlock
    this.wheel.attach(this.i32)
    this.capacity = capacity
  }
}

/** What memoryBytes counts for a caller key: a string header and its characters; nothing for ''. */
function keyCost(key: string): number {
  return key.length > 0 ? 16 + key.length : 0
}

function countBytes(record: SessionData): number {
  let bytes = 0
  record.forEach((value, key) => {
    bytes += SessionData.entryBytes(key, value)
  })
  return bytes
}

/**
 * Re-filings one sweep call may do besides its expirations (crates/core `sweep_budget`): at
 * least 1024, or four per expiration asked.
 */
function sweepBudget(limit: number): number {
  return Math.max(limit * 4, 1024)
}
