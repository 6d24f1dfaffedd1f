import { Buffer } from 'node:buffer'
import {
  CREATE_KEY_EXISTS, CREATE_TABLE_FULL, type Engine, type EngineConfig, GENERATION_SPACE, REKEY_EXISTS,
  REKEY_NOT_ATTACHED, REKEY_OK, SET_OK, SET_STALE, SET_TOO_LARGE, SLOT_SPACE, STATE_ATTACHED, STATE_DETACHED,
  STATE_STALE,
} from '../engine'
import { ExpiryLists, NIL } from './expiry-lists'
import { IdShape, RandomPool, encodeBase64url, encodeHex } from './ids'
import { SessionData } from './session-data'

const FREE = 0
const TIME_STRIDE = 4
const CREATED = 0
const LAST = 1
const IDLE = 2
const ABSOLUTE = 3
const MAX_KEY_BYTES = 255
const INITIAL_CAPACITY = 1024

/**
 * The session engine in pure TypeScript, laid out as the Rust one is: per-slot state in
 * growable typed arrays, a Map from id to slot, a typed free stack, and the same expiry lists.
 * It is the fallback where no native binary fits, the oracle the native engine is tested
 * against, and the baseline of every benchmark, so it is tuned as hard as the native one.
 */
export class JsEngine implements Engine {
  readonly kind = 'js' as const
  readonly #config: EngineConfig
  readonly #shape: IdShape
  readonly #pool: RandomPool
  readonly #index = new Map<string, number>()
  readonly #idle = new ExpiryLists()
  readonly #absolute = new ExpiryLists()
  #capacity = 0
  #used = 0
  #attached = 0
  /**
   * Per slot, side by side so a lookup reads one cache line: createdAt, lastActivity,
   * idleTimeout, absoluteTimeout (see the TIME_* offsets).
   */
  #times = new Float64Array(0)
  #generation = new Uint32Array(0)
  /** FREE, STATE_ATTACHED or STATE_DETACHED. */
  #state = new Uint8Array(0)
  #free = new Uint32Array(0)
  #freeTop = 0
  #ids: string[] = []
  #data: (SessionData | undefined)[] = []
  readonly #lastActivityOf = (slot: number): number => this.#times[slot * TIME_STRIDE + LAST]
  readonly #createdAtOf = (slot: number): number => this.#times[slot * TIME_STRIDE + CREATED]

  constructor(config: EngineConfig, randomFill?: (buffer: Uint8Array) => void) {
    this.#config = config
    this.#shape = new IdShape(config.idBytes, config.idEncoding)
    this.#pool = new RandomPool(randomFill)
    this.#grow(INITIAL_CAPACITY)
  }

  get size(): number {
    return this.#attached
  }

  create(now: number, idleTimeout: number, absoluteTimeout: number): number {
    if (this.#freeTop === 0 && this.#used >= SLOT_SPACE) return CREATE_TABLE_FULL
    return this.#insert(this.#freshId(), now, idleTimeout, absoluteTimeout)
  }

  createWithKey(key: string, now: number, idleTimeout: number, absoluteTimeout: number): number {
    if (this.#index.has(key)) return CREATE_KEY_EXISTS
    if (this.#freeTop === 0 && this.#used >= SLOT_SPACE) return CREATE_TABLE_FULL
    return this.#insert(key, now, idleTimeout, absoluteTimeout)
  }

  lookup(id: string, now: number, renew: boolean): number {
    if (!this.#acceptable(id)) return -1
    const slot = this.#index.get(id)
    if (slot === undefined || !(now < this.#expiresAt(slot))) return -1
    if (renew) this.#renew(slot, now)
    return slot + this.#generation[slot] * SLOT_SPACE
  }

  detachIfExpired(id: string, now: number): number {
    if (!this.#acceptable(id)) return -1
    const slot = this.#index.get(id)
    if (slot === undefined || now < this.#expiresAt(slot)) return -1
    this.#detachSlot(slot)
    return slot + this.#generation[slot] * SLOT_SPACE
  }

  touch(handle: number, now: number): boolean {
    const slot = this.#slotOf(handle)
    if (slot < 0 || this.#state[slot] !== STATE_ATTACHED || !(now < this.#expiresAt(slot))) return false
    this.#renew(slot, now)
    return true
  }

  detach(handle: number): boolean {
    const slot = this.#slotOf(handle)
    if (slot < 0 || this.#state[slot] !== STATE_ATTACHED) return false
    this.#detachSlot(slot)
    return true
  }

  release(handle: number): boolean {
    const slot = this.#slotOf(handle)
    if (slot < 0) return false
    this.#releaseSlot(slot)
    return true
  }

  sweep(now: number, out: Float64Array): number {
    let count = 0
    while (count < out.length) {
      const slot = this.#earliestDue(now)
      if (slot === NIL) break
      this.#detachSlot(slot)
      out[count++] = slot + this.#generation[slot] * SLOT_SPACE
    }
    return count
  }

  sweepRelease(now: number, limit: number): number {
    let count = 0
    while (count < limit) {
      const slot = this.#earliestDue(now)
      if (slot === NIL) break
      this.#releaseSlot(slot)
      count++
    }
    return count
  }

  nextDeadline(): number {
    let earliest = Infinity
    for (const list of this.#idle.order) {
      if (list.timeout > 0) earliest = Math.min(earliest, this.#times[list.head * TIME_STRIDE + LAST] + list.timeout)
    }
    for (const list of this.#absolute.order) earliest = Math.min(earliest, this.#times[list.head * TIME_STRIDE + CREATED] + list.timeout)
    return earliest
  }

  leastRecentlyUsed(): number {
    let best = NIL
    for (const list of this.#idle.order) {
      if (best === NIL || this.#times[list.head * TIME_STRIDE + LAST] < this.#times[best * TIME_STRIDE + LAST]) best = list.head
    }
    return best === NIL ? -1 : best + this.#generation[best] * SLOT_SPACE
  }

  regenerate(handle: number, now: number): string | undefined {
    const slot = this.#slotOf(handle)
    if (this.#config.keys !== 'random' || slot < 0 || this.#state[slot] !== STATE_ATTACHED ||
      !(now < this.#expiresAt(slot))) return undefined
    const id = this.#freshId()
    this.#index.delete(this.#ids[slot])
    this.#ids[slot] = id
    this.#index.set(id, slot)
    this.#renew(slot, now)
    return id
  }

  rekey(handle: number, key: string, now: number): number {
    const slot = this.#slotOf(handle)
    if (this.#config.keys !== 'caller' || !this.#acceptable(key) || slot < 0 ||
      this.#state[slot] !== STATE_ATTACHED || !(now < this.#expiresAt(slot))) return REKEY_NOT_ATTACHED
    if (this.#ids[slot] !== key) {
      if (this.#index.has(key)) return REKEY_EXISTS
      this.#index.delete(this.#ids[slot])
      this.#ids[slot] = key
      this.#index.set(key, slot)
    }
    this.#renew(slot, now)
    return REKEY_OK
  }

  state(handle: number): number {
    const slot = this.#slotOf(handle)
    return slot < 0 ? STATE_STALE : this.#state[slot]
  }

  id(handle: number): string | undefined {
    const slot = this.#slotOf(handle)
    return slot < 0 ? undefined : this.#ids[slot]
  }

  createdAt(handle: number): number {
    const slot = this.#slotOf(handle)
    return slot < 0 ? NaN : this.#times[slot * TIME_STRIDE + CREATED]
  }

  lastActivity(handle: number): number {
    const slot = this.#slotOf(handle)
    return slot < 0 ? NaN : this.#times[slot * TIME_STRIDE + LAST]
  }

  expiresAt(handle: number): number {
    const slot = this.#slotOf(handle)
    return slot < 0 ? NaN : this.#expiresAt(slot)
  }

  idleTimeout(handle: number): number {
    const slot = this.#slotOf(handle)
    return slot < 0 ? NaN : this.#times[slot * TIME_STRIDE + IDLE]
  }

  absoluteTimeout(handle: number): number {
    const slot = this.#slotOf(handle)
    return slot < 0 ? NaN : this.#times[slot * TIME_STRIDE + ABSOLUTE]
  }

  setIdleTimeout(handle: number, timeout: number): boolean {
    const slot = this.#slotOf(handle)
    if (slot < 0) return false
    if (this.#state[slot] === STATE_ATTACHED && this.#times[slot * TIME_STRIDE + IDLE] !== timeout) {
      this.#times[slot * TIME_STRIDE + IDLE] = timeout
      this.#idle.unlink(slot)
      this.#idle.insertSorted(slot, timeout, this.#lastActivityOf)
    }
    this.#times[slot * TIME_STRIDE + IDLE] = timeout
    return true
  }

  setAbsoluteTimeout(handle: number, timeout: number): boolean {
    const slot = this.#slotOf(handle)
    if (slot < 0) return false
    if (this.#state[slot] === STATE_ATTACHED && this.#times[slot * TIME_STRIDE + ABSOLUTE] !== timeout) {
      this.#times[slot * TIME_STRIDE + ABSOLUTE] = timeout
      this.#absolute.unlink(slot)
      if (timeout > 0) this.#absolute.insertSorted(slot, timeout, this.#createdAtOf)
    }
    this.#times[slot * TIME_STRIDE + ABSOLUTE] = timeout
    return true
  }

  getData(handle: number, key: string): string | undefined {
    const slot = this.#slotOf(handle)
    return slot < 0 ? undefined : this.#data[slot]?.data.get(key)
  }

  setData(handle: number, key: string, value: string): number {
    const slot = this.#slotOf(handle)
    if (slot < 0) return SET_STALE
    const record = this.#data[slot] ?? new SessionData()
    const bytesAfter = record.bytesAfterSet(key, value)
    if (bytesAfter > this.#config.maxDataBytes) return SET_TOO_LARGE
    record.set(key, value, bytesAfter)
    this.#data[slot] = record
    return SET_OK
  }

  deleteData(handle: number, key: string): boolean {
    const slot = this.#slotOf(handle)
    return slot >= 0 && (this.#data[slot]?.delete(key) ?? false)
  }

  dataKeys(handle: number): string[] {
    const slot = this.#slotOf(handle)
    return slot < 0 ? [] : [...(this.#data[slot]?.data.keys() ?? [])]
  }

  dataBytes(handle: number): number {
    const slot = this.#slotOf(handle)
    return slot < 0 ? NaN : this.#data[slot]?.dataBytes ?? 0
  }

  user(handle: number): string | undefined {
    const slot = this.#slotOf(handle)
    return slot < 0 ? undefined : this.#data[slot]?.user
  }

  setUser(handle: number, user: string | undefined): boolean {
    const slot = this.#slotOf(handle)
    if (slot < 0) return false
    if (user !== undefined || this.#data[slot] !== undefined) {
      const record = this.#data[slot] ?? new SessionData()
      record.user = user
      this.#data[slot] = record
    }
    return true
  }

  roles(handle: number): string[] {
    const slot = this.#slotOf(handle)
    return slot < 0 ? [] : [...(this.#data[slot]?.roles ?? [])]
  }

  setRoles(handle: number, roles: string[]): boolean {
    const slot = this.#slotOf(handle)
    if (slot < 0) return false
    if (roles.length > 0 || this.#data[slot] !== undefined) {
      const record = this.#data[slot] ?? new SessionData()
      record.roles = [...roles]
      this.#data[slot] = record
    }
    return true
  }

  scan(fromSlot: number, now: number, out: Float64Array): number {
    let count = 0
    for (let slot = fromSlot; slot < this.#used && count < out.length; slot++) {
      if (this.#state[slot] === STATE_ATTACHED && now < this.#expiresAt(slot)) {
        out[count++] = slot + this.#generation[slot] * SLOT_SPACE
      }
    }
    return count
  }

  memoryBytes(): number {
    // Typed arrays, the id strings and the Map entry per slot; side records by their contents.
    let bytes = this.#capacity * (8 * TIME_STRIDE + 4 + 1 + 4 + 2 * 4 * 4 + 8 + 8) + this.#index.size * 80
    for (let slot = 0; slot < this.#used; slot++) bytes += this.#data[slot]?.approximateBytes() ?? 0
    return bytes
  }

  /** Validates a client-supplied id or key before it touches the index. */
  #acceptable(id: string): boolean {
    if (this.#config.keys === 'random') return this.#shape.isValid(id)
    return id.length > 0 && id.length <= MAX_KEY_BYTES &&
      (id.length * 3 <= MAX_KEY_BYTES || Buffer.byteLength(id, 'utf8') <= MAX_KEY_BYTES)
  }

  /** The slot of a valid (attached or detached) handle, else -1. */
  #slotOf(handle: number): number {
    if (!(handle >= 0) || !Number.isSafeInteger(handle)) return -1
    const slot = handle % SLOT_SPACE
    if (slot >= this.#used || this.#state[slot] === FREE) return -1
    return (handle - slot) / SLOT_SPACE === this.#generation[slot] ? slot : -1
  }

  #expiresAt(slot: number): number {
    const times = this.#times
    const base = slot * TIME_STRIDE
    const idle = times[base + IDLE]
    const absolute = times[base + ABSOLUTE]
    const idleDeadline = idle > 0 ? times[base + LAST] + idle : Infinity
    const absoluteDeadline = absolute > 0 ? times[base + CREATED] + absolute : Infinity
    return idleDeadline < absoluteDeadline ? idleDeadline : absoluteDeadline
  }

  #renew(slot: number, now: number): void {
    this.#times[slot * TIME_STRIDE + LAST] = now
    this.#idle.moveToTail(slot)
  }

  #freshId(): string {
    const { idBytes, idEncoding } = this.#config
    for (;;) {
      const start = this.#pool.take(idBytes)
      const id = idEncoding === 'base64url'
        ? encodeBase64url(this.#pool.bytes, start, idBytes)
        : encodeHex(this.#pool.bytes, start, idBytes)
      if (!this.#index.has(id)) return id
    }
  }

  #insert(id: string, now: number, idleTimeout: number, absoluteTimeout: number): number {
    let slot: number
    if (this.#freeTop > 0) {
      slot = this.#free[--this.#freeTop]
    } else {
      slot = this.#used++
      if (slot >= this.#capacity) this.#grow(Math.min(this.#capacity * 2, SLOT_SPACE))
    }
    const base = slot * TIME_STRIDE
    this.#times[base + CREATED] = now
    this.#times[base + LAST] = now
    this.#times[base + IDLE] = idleTimeout
    this.#times[base + ABSOLUTE] = absoluteTimeout
    this.#state[slot] = STATE_ATTACHED
    this.#ids[slot] = id
    this.#index.set(id, slot)
    this.#attached++
    this.#idle.pushBack(slot, idleTimeout)
    if (absoluteTimeout > 0) this.#absolute.pushBack(slot, absoluteTimeout)
    return slot + this.#generation[slot] * SLOT_SPACE
  }

  #detachSlot(slot: number): void {
    this.#idle.unlink(slot)
    this.#absolute.unlink(slot)
    this.#index.delete(this.#ids[slot])
    this.#state[slot] = STATE_DETACHED
    this.#attached--
  }

  #releaseSlot(slot: number): void {
    if (this.#state[slot] === STATE_ATTACHED) this.#detachSlot(slot)
    this.#state[slot] = FREE
    this.#generation[slot] = (this.#generation[slot] + 1) % GENERATION_SPACE
    this.#ids[slot] = ''
    this.#data[slot] = undefined
    this.#free[this.#freeTop++] = slot
  }

  /** The due slot with the strictly earliest deadline (idle lists, then absolute), or NIL. */
  #earliestDue(now: number): number {
    let best = NIL
    let bestDeadline = Infinity
    for (const list of this.#idle.order) {
      if (list.timeout === 0) continue
      const deadline = this.#times[list.head * TIME_STRIDE + LAST] + list.timeout
      if (deadline < bestDeadline) {
        bestDeadline = deadline
        best = list.head
      }
    }
    for (const list of this.#absolute.order) {
      const deadline = this.#times[list.head * TIME_STRIDE + CREATED] + list.timeout
      if (deadline < bestDeadline) {
        bestDeadline = deadline
        best = list.head
      }
    }
    return best !== NIL && bestDeadline <= now ? best : NIL
  }

  #grow(capacity: number): void {
    const grown = <T extends Float64Array | Uint32Array | Uint8Array>(old: T, make: (size: number) => T): T => {
      const next = make(capacity)
      next.set(old)
      return next
    }
    const times = new Float64Array(capacity * TIME_STRIDE)
    times.set(this.#times)
    this.#times = times
    this.#generation = grown(this.#generation, (size) => new Uint32Array(size))
    this.#state = grown(this.#state, (size) => new Uint8Array(size))
    this.#free = grown(this.#free, (size) => new Uint32Array(size))
    this.#idle.grow(capacity)
    this.#absolute.grow(capacity)
    this.#capacity = capacity
  }
}
