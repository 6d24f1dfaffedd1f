/**
 * An Engine that journals every change it forwards to another engine, so that the facade and
 * the Session handles need not know about persistence: whatever path a change takes (a setter,
 * an eviction, a sweep, a caller-key regenerate), it reaches the engine through here.
 *
 * Renewals are coalesced: a use writes a Renew record only once the last activity the journal
 * holds is `renewalSlack(idleTimeout, window)` ms old (at least `window`, the manager's
 * `resolution`). A server touches most of its sessions within that time of their last record, so
 * a renewal costs a typed-array compare, not a record. The price, after a crash only (`close()`
 * saves exact times): a session may come back with a last activity up to that slack older than
 * its real one, so it expires early by at most the slack, never late (the loader adds nothing:
 * see LOAD_SHIFT in persistence.ts).
 *
 * A create is one Session record: the facade creates, then sets user, roles and data on the new
 * handle, then calls `commitCreate()`; those writes are folded into the pending record.
 */
import {
  COOKIE_ID_END, COOKIE_VALUE_START, type Engine, REKEY_OK, SET_OK, SLOT_SPACE,
} from '../engine'
import { Kind, type SavedSession, sessionRecordBound } from './format'
import { type Journal, view } from './journal'
import { addPage, PAGE_BITS, PAGE_MASK, PAGE_SIZE } from '../pages'

/**
 * A handle's slot is its low SLOT_BITS bits (a handle is below 2^53 and `&` keeps its low 32):
 * `handle % SLOT_SPACE`, a floating-point remainder by an imported binding, cost a get on a
 * persisted manager about a quarter of its time (in-process A/B, 2 * 10^5 sessions).
 */
const SLOT_MASK = SLOT_SPACE - 1

/** A renewal moving the idle deadline by less than this share of the idle timeout is not written. */
export const RENEWAL_SLACK_SHARE = 1 / 16
/** ...nor by less than this (ms), whatever the idle timeout (0, none, included). */
export const RENEWAL_SLACK_MAX = 60_000

/**
 * How old (ms) the journal's last activity of a session may get before a use writes a Renew: the
 * most a crash can move the session's restored last activity back (docs/persistence-format.md).
 */
export function renewalSlack(idleTimeout: number, window: number): number {
  const share = idleTimeout === 0 ? RENEWAL_SLACK_MAX : Math.min(idleTimeout * RENEWAL_SLACK_SHARE, RENEWAL_SLACK_MAX)
  return Math.max(window, share)
}

interface PendingCreate extends SavedSession {
  handle: number
  /**
   * False while `data` is not the record's own (the shared empty list, or createSession's
   * entries, which the facade made for that create alone): copied before its first change, so
   * a create makes no list of its own unless its data changes before the record is written.
   */
  ownsData: boolean
}

/** The pending record's roles and data until it has its own (frozen: a stray change throws). */
const NO_TEXTS: string[] = Object.freeze([]) as unknown as string[]

export class JournaledEngine implements Engine {
  readonly kind: 'native' | 'js'
  /** Set by the manager's close: from then on releases are suspensions, not removals. */
  suspended = false
  /**
   * The per-slot state in pages (ts/pages.ts; one array per field, doubled in place, copied 68
   * MiB inside the create of session 2^22, 35 ms, native engine), made together as a slot in
   * them is first journaled. One byte a slot: 1 while its session is attached and journaled.
   */
  readonly #livePages: (Uint8Array | undefined)[] = []
  /** Pages of one double a slot: the last activity the journal holds. */
  readonly #renewedPages: (Float64Array | undefined)[] = []
  /**
   * Pages of one double a slot: from when a use writes a Renew (the last activity held plus the
   * slack), +Infinity while the slot is not live, so that a use reads one number to know it
   * writes nothing. Apart from the others: a get reads only these (8 bytes a slot, as dense as
   * the one array they replace; with the live flag beside, or the last activity, a persisted get
   * measured 3-7% slower).
   */
  readonly #duePages: (Float64Array | undefined)[] = []
  #pending: PendingCreate | undefined
  /**
   * The session last found by id without renewal (destroy, peek, has), or made, regenerated or
   * rekeyed, and that id: a change that follows (the Remove of a destroy, a write to a session
   * just made) names it in its record by this string rather than have the engine spell its id
   * again, a string made per change (a tenth of a persisted destroy's time). A handle names one
   * session for good and an id found is its canonical spelling, so the pair stays right until the
   * id changes, which only regenerate and rekey do. Not from a renewing lookup (a get): its id is
   * often a slice of a request's header or body, which V8 keeps whole while the slice lives, and
   * a get is not followed by a change as a destroy's lookup is. A Remove forgets it; otherwise
   * one string a manager is held until the next of these calls.
   */
  #namedHandle = -1
  #namedId = ''
  readonly #scratch = new Float64Array(256)
  readonly #oneHandle = new Float64Array(1)

  /** Set by Persistence.open once the file is loaded; nothing is journaled before. */
  journal!: Journal

  /** The engine changes are forwarded to; a load that fails replaces it with an empty one. */
  inner: Engine

  /**
   * The inner engine's, when it has one (native): made once, not per read (the manager reads it
   * at every sweep slice). A load that fails replaces `inner` with an empty engine of its kind.
   */
  readonly releaseFreedMemory: (() => void) | undefined

  constructor(inner: Engine, readonly window: number) {
    this.inner = inner
    this.kind = inner.kind
    this.releaseFreedMemory = inner.releaseFreedMemory === undefined ? undefined : () => this.inner.releaseFreedMemory?.()
  }

  get size(): number {
    return this.inner.size
  }

  /**
   * Takes on the sessions the loader restored into the inner engine, given as (handle, last
   * activity) pairs: the journal holds each last activity as loaded. Idle timeouts are not looked up (a native call per session
   * would slow the load): a session's first use past the window writes a Renew, and from then
   * on the slack applies.
   */
  adoptAll(activity: Float64Array): void {
    this.#namedHandle = -1
    for (let index = 0; index < activity.length; index += 2) {
      this.#journaled(activity[index] & SLOT_MASK, activity[index + 1], this.window)
    }
  }

  /**
   * Ends the create in progress: its Session record goes to the journal. The engine holds
   * exactly what the pending record does here (the facade calls this right after the create's
   * own writes), so an engine that encodes records natively writes it: one crossing instead of
   * a dozen string writes and a checksum in JavaScript, which cost a persisted native create
   * more than the create itself.
   */
  commitCreate(): void {
    const pending = this.#pending
    if (pending !== undefined && this.#recordsNatively()) {
      const writer = this.journal.writer
      // Room for the record at 3 bytes per UTF-16 unit, so that it is encoded once (the engine
      // refuses a record that does not fit only after encoding it).
      writer.ensure(sessionRecordBound(pending))
      const handles = this.#oneHandle
      handles[0] = pending.handle
      const end = this.inner.sessionRecordsInto!(handles, 1, view(writer.buffer), writer.length)
      if (end >= 0) {
        this.#pending = undefined
        writer.length = end
      }
    }
    // Encoded here when the engine does not (the pending record holds the same).
    this.#endPending()
    this.journal.commit()
  }

  /** Whether the inner engine writes the Session records of creates (not with a cipher: each is sealed here). */
  #recordsNatively(): boolean {
    return this.inner.sessionRecordsInto !== undefined && this.journal.writer.cipher === undefined
  }

  create(now: number, idleTimeout: number, absoluteTimeout: number): number {
    const handle = this.inner.create(now, idleTimeout, absoluteTimeout)
    if (handle >= 0) this.#begin(handle, this.inner.id(handle) as string, now, idleTimeout, absoluteTimeout)
    return handle
  }

  createdId = ''

  /**
   * The inner engine's one-call create (the native engine's single crossing; create, data and id
   * as three took a persisted native create about a tenth longer), the entries folded into the
   * pending record as `setDataEntries` would. The facade has checked that they fit the data cap
   * (init.data over maxDataBytes is a RangeError), so the engine stores them all.
   */
  createSession(now: number, idleTimeout: number, absoluteTimeout: number, entries: string[]): number {
    const handle = this.inner.createSession(now, idleTimeout, absoluteTimeout, entries)
    if (handle < 0) return handle
    const id = this.inner.createdId
    this.#begin(handle, id, now, idleTimeout, absoluteTimeout)
    // The facade's keys are an object's own, distinct, so the entries hold what the engine does
    // (and a key given twice would load as the engine stores it: in its place, the last value).
    // Folding them in one by one cost a create of 10^4 keys 170 ms. Kept as given (the engine
    // copied them), and copied only if the data changes before the record is written.
    this.#pending!.data = entries
    this.createdId = id
    return handle
  }

  createWithKey(key: string, now: number, idleTimeout: number, absoluteTimeout: number): number {
    const handle = this.inner.createWithKey(key, now, idleTimeout, absoluteTimeout)
    if (handle >= 0) this.#begin(handle, key, now, idleTimeout, absoluteTimeout)
    return handle
  }

  restore(id: string, createdAt: number, lastActivity: number, idleTimeout: number, absoluteTimeout: number): number {
    const handle = this.inner.restore(id, createdAt, lastActivity, idleTimeout, absoluteTimeout)
    if (handle >= 0) {
      this.#begin(handle, id, createdAt, idleTimeout, absoluteTimeout)
      this.#pending!.lastActivity = lastActivity
      this.#renewed(handle, lastActivity)
      this.commitCreate()
    }
    return handle
  }

  lookup(id: string, now: number, renew: boolean): number {
    const handle = this.inner.lookup(id, now, renew)
    if (handle >= 0) {
      if (!renew) this.#name(handle, id)
      else if (this.#renewalDue(handle & SLOT_MASK, now)) this.#renew(handle, id, now)
    }
    return handle
  }

  /** Set when the inner engine reads cookies natively; the facade then calls {@link readCookie}. */
  get createCookieVerifier(): ((name: string, secrets: readonly string[]) => object) | undefined {
    const inner = this.inner
    return inner.createCookieVerifier === undefined ? undefined : (name, secrets) => inner.createCookieVerifier!(name, secrets)
  }

  /** The inner engine's one-call read, its renewal journaled as `lookup` journals one. */
  readCookie(verifier: object, header: string, now: number, out: Float64Array): number {
    const handle = this.inner.readCookie!(verifier, header, now, out)
    if (handle >= 0) {
      if (this.#renewalDue(handle & SLOT_MASK, now)) {
        this.#renew(handle, header.slice(out[COOKIE_VALUE_START], out[COOKIE_ID_END]), now)
      }
    }
    return handle
  }

  detachIfExpired(id: string, now: number): number {
    const handle = this.inner.detachIfExpired(id, now)
    if (handle >= 0) this.#removed(handle, id)
    return handle
  }

  isAlive(handle: number, now: number): boolean {
    return this.inner.isAlive(handle, now)
  }

  touch(handle: number, now: number): boolean {
    if (!this.inner.touch(handle, now)) return false
    if (this.#renewalDue(handle & SLOT_MASK, now)) {
      this.#renew(handle, this.inner.id(handle) as string, now)
    }
    return true
  }

  detach(handle: number): boolean {
    const id = this.#liveId(handle)
    if (!this.inner.detach(handle)) return false
    if (id !== undefined) this.#removed(handle, id)
    return true
  }

  release(handle: number): boolean {
    const id = this.#liveId(handle)
    if (!this.inner.release(handle)) return false
    if (id !== undefined) {
      if (this.suspended) this.#notLive(handle & SLOT_MASK)
      else this.#removed(handle, id)
    }
    return true
  }

  sweep(now: number, out: Float64Array): number {
    const count = this.inner.sweep(now, out)
    for (let index = 0; index < count; index++) {
      const handle = out[index]
      const id = this.#liveId(handle)
      if (id !== undefined) this.#record(handle, id)
    }
    if (count > 0) this.journal.commit()
    return count
  }

  sweepRelease(now: number, limit: number): number {
    // Through sweep, so that each expired session's id reaches the journal.
    const scratch = this.#scratch
    let released = 0
    while (released < limit) {
      const wanted = Math.min(scratch.length, limit - released)
      const batch = this.sweep(now, scratch.subarray(0, wanted))
      for (let index = 0; index < batch; index++) this.inner.release(scratch[index])
      released += batch
      if (batch < wanted) break
    }
    return released
  }

  nextDeadline(): number {
    return this.inner.nextDeadline()
  }

  evictionCandidate(): number {
    return this.inner.evictionCandidate()
  }

  regenerate(handle: number, now: number): string | undefined {
    const oldId = this.#liveId(handle)
    const newId = this.inner.regenerate(handle, now)
    if (newId !== undefined) this.#name(handle, newId)
    if (newId !== undefined && oldId !== undefined) this.#rename(handle, oldId, newId, now)
    return newId
  }

  rekey(handle: number, key: string, now: number): number {
    const oldId = this.#liveId(handle)
    const result = this.inner.rekey(handle, key, now)
    if (result === REKEY_OK) this.#name(handle, key)
    if (result === REKEY_OK && oldId !== undefined) this.#rename(handle, oldId, key, now)
    return result
  }

  state(handle: number): number {
    return this.inner.state(handle)
  }

  id(handle: number): string | undefined {
    return this.inner.id(handle)
  }

  createdAt(handle: number): number {
    return this.inner.createdAt(handle)
  }

  lastActivity(handle: number): number {
    return this.inner.lastActivity(handle)
  }

  expiresAt(handle: number): number {
    return this.inner.expiresAt(handle)
  }

  idleTimeout(handle: number): number {
    return this.inner.idleTimeout(handle)
  }

  absoluteTimeout(handle: number): number {
    return this.inner.absoluteTimeout(handle)
  }

  setIdleTimeout(handle: number, timeout: number): boolean {
    if (!this.inner.setIdleTimeout(handle, timeout)) return false
    this.#timeouts(handle)
    return true
  }

  setAbsoluteTimeout(handle: number, timeout: number): boolean {
    if (!this.inner.setAbsoluteTimeout(handle, timeout)) return false
    this.#timeouts(handle)
    return true
  }

  getData(handle: number, key: string): string | undefined {
    return this.inner.getData(handle, key)
  }

  setData(handle: number, key: string, value: string): number {
    const result = this.inner.setData(handle, key, value)
    if (result !== SET_OK) return result
    const pending = this.#pending
    if (pending !== undefined && pending.handle === handle) {
      setEntry(ownData(pending), key, value)
      return result
    }
    const id = this.#liveId(handle)
    if (id !== undefined) this.#write(this.journal.writer.begin(Kind.SetData).str(id).u32(1).str(key).str(value))
    return result
  }

  setDataEntries(handle: number, entries: string[]): number {
    const result = this.inner.setDataEntries(handle, entries)
    // Entries before the first that did not fit were stored: keep exactly what the engine holds.
    const stored = result === SET_OK ? entries : entries.filter((_, index) =>
      index % 2 === 0 ? this.inner.getData(handle, entries[index]) === entries[index + 1] : this.inner.getData(handle, entries[index - 1]) === entries[index])
    if (stored.length === 0) return result
    const pending = this.#pending
    if (pending !== undefined && pending.handle === handle) {
      const data = ownData(pending)
      for (let index = 0; index < stored.length; index += 2) setEntry(data, stored[index], stored[index + 1])
      return result
    }
    const id = this.#liveId(handle)
    if (id !== undefined) {
      const writer = this.journal.writer.begin(Kind.SetData).str(id).u32(stored.length / 2)
      for (const text of stored) writer.str(text)
      this.#write(writer)
    }
    return result
  }

  deleteData(handle: number, key: string): boolean {
    if (!this.inner.deleteData(handle, key)) return false
    const pending = this.#pending
    if (pending !== undefined && pending.handle === handle) {
      const data = ownData(pending)
      for (let index = 0; index < data.length; index += 2) {
        if (data[index] === key) data.splice(index, 2)
      }
      return true
    }
    const id = this.#liveId(handle)
    if (id !== undefined) this.#write(this.journal.writer.begin(Kind.DeleteData).str(id).str(key))
    return true
  }

  dataKeys(handle: number): string[] {
    return this.inner.dataKeys(handle)
  }

  dataBytes(handle: number): number {
    return this.inner.dataBytes(handle)
  }

  user(handle: number): string | undefined {
    return this.inner.user(handle)
  }

  setUser(handle: number, user: string | undefined): boolean {
    if (!this.inner.setUser(handle, user)) return false
    const pending = this.#pending
    if (pending !== undefined && pending.handle === handle) {
      pending.user = user
      return true
    }
    const id = this.#liveId(handle)
    if (id !== undefined) {
      const writer = this.journal.writer.begin(Kind.User).str(id)
      if (user === undefined) writer.u8(0)
      else writer.u8(1).str(user)
      this.#write(writer)
    }
    return true
  }

  roles(handle: number): string[] {
    return this.inner.roles(handle)
  }

  setRoles(handle: number, roles: string[]): boolean {
    if (!this.inner.setRoles(handle, roles)) return false
    const pending = this.#pending
    if (pending !== undefined && pending.handle === handle) {
      pending.roles = roles.slice()
      return true
    }
    const id = this.#liveId(handle)
    if (id !== undefined) this.#write(this.journal.writer.begin(Kind.Roles).str(id).strings(roles))
    return true
  }

  scan(fromSlot: number, now: number, out: Float64Array): number {
    return this.inner.scan(fromSlot, now, out)
  }

  memoryBytes(): number {
    return this.inner.memoryBytes()
  }

  expiryLag(out: Float64Array): void {
    this.inner.expiryLag(out)
  }

  #begin(handle: number, id: string, now: number, idleTimeout: number, absoluteTimeout: number): void {
    this.#endPending()
    this.#name(handle, id)
    this.#journaled(handle & SLOT_MASK, now, renewalSlack(idleTimeout, this.window))
    this.#pending = {
      handle, id, createdAt: now, lastActivity: now, idleTimeout, absoluteTimeout, user: undefined, roles: NO_TEXTS, data: NO_TEXTS, ownsData: false,
    }
  }

  /** Any change but the create's own ends the create: its record must come first. */
  #endPending(): void {
    const pending = this.#pending
    if (pending === undefined) return
    this.#pending = undefined
    this.journal.writer.session(pending)
  }

  #write(writer: { end(): void }): void {
    writer.end()
    this.journal.commit()
  }

  #liveId(handle: number): string | undefined {
    if (!this.#isLive(handle & SLOT_MASK)) return undefined
    this.#endPending()
    return handle === this.#namedHandle ? this.#namedId : this.inner.id(handle)
  }

  /** `handle`'s id is now `id` (see #namedHandle). */
  #name(handle: number, id: string): void {
    this.#namedHandle = handle
    this.#namedId = id
  }

  #renew(handle: number, id: string, now: number): void {
    this.#endPending()
    this.#renewed(handle, now)
    this.#write(this.journal.writer.begin(Kind.Renew).str(id).f64(now))
  }

  /** The journal now holds `at` as the session's last activity. */
  #renewed(handle: number, at: number): void {
    const slot = handle & SLOT_MASK
    // Only a journaled session has a due time (a finite due time is what makes a use write).
    if (!this.#isLive(slot)) return
    this.#renewedPages[slot >>> PAGE_BITS]![slot & PAGE_MASK] = at
    this.#duePages[slot >>> PAGE_BITS]![slot & PAGE_MASK] = at + renewalSlack(this.inner.idleTimeout(handle), this.window)
  }

  #rename(handle: number, oldId: string, newId: string, now: number): void {
    this.#renewed(handle, now)
    this.#write(this.journal.writer.begin(Kind.Rename).str(oldId).str(newId).f64(now))
  }

  #timeouts(handle: number): void {
    const id = this.#liveId(handle)
    if (id === undefined) return
    this.journal.writer.begin(Kind.Timeouts).str(id).f64(this.inner.idleTimeout(handle)).f64(this.inner.absoluteTimeout(handle)).end()
    // Uses not written were within the old timeout's slack, maybe more than the new one's: the
    // journal catches up, so the slack of the timeout in force bounds what a crash moves back.
    const lastActivity = this.inner.lastActivity(handle)
    const renewedAt = this.#renewedAt(handle & SLOT_MASK)
    if (lastActivity > renewedAt) this.journal.writer.begin(Kind.Renew).str(id).f64(lastActivity).end()
    this.#renewed(handle, Math.max(lastActivity, renewedAt))
    this.journal.commit()
  }

  /** A session left the table (destroyed, expired, evicted): a Remove record. */
  #removed(handle: number, id: string): void {
    this.#record(handle, id)
    this.journal.commit()
  }

  #record(handle: number, id: string): void {
    this.#endPending()
    // The session is gone: its id need not be kept (a lookup's string may be a slice that holds
    // a whole request alive).
    if (handle === this.#namedHandle) this.#name(-1, '')
    this.#notLive(handle & SLOT_MASK)
    this.journal.writer.begin(Kind.Remove).str(id).end()
  }

  /** Whether a use of `slot` at `now` writes a Renew: its session is journaled and its slack is spent. */
  #renewalDue(slot: number, now: number): boolean {
    const due = this.#duePages[slot >>> PAGE_BITS]
    return due !== undefined && !(now < due[slot & PAGE_MASK])
  }

  /** The last activity the journal holds for `slot`: meaningful only while the slot is live (read for live ones only). */
  #renewedAt(slot: number): number {
    const renewedAt = this.#renewedPages[slot >>> PAGE_BITS]
    return renewedAt === undefined ? -Infinity : renewedAt[slot & PAGE_MASK]
  }

  #isLive(slot: number): boolean {
    const live = this.#livePages[slot >>> PAGE_BITS]
    return live !== undefined && live[slot & PAGE_MASK] === 1
  }

  /** `slot`'s session is journaled, its last activity `at`, a Renew due from `at + slack`. */
  #journaled(slot: number, at: number, slack: number): void {
    const page = slot >>> PAGE_BITS
    if (this.#livePages[page] === undefined) {
      addPage(this.#livePages, slot, new Uint8Array(PAGE_SIZE))
      addPage(this.#renewedPages, slot, new Float64Array(PAGE_SIZE))
      addPage(this.#duePages, slot, new Float64Array(PAGE_SIZE).fill(Infinity))
    }
    this.#livePages[page]![slot & PAGE_MASK] = 1
    this.#renewedPages[page]![slot & PAGE_MASK] = at
    this.#duePages[page]![slot & PAGE_MASK] = at + slack
  }

  #notLive(slot: number): void {
    if (!this.#isLive(slot)) return
    this.#livePages[slot >>> PAGE_BITS]![slot & PAGE_MASK] = 0
    this.#duePages[slot >>> PAGE_BITS]![slot & PAGE_MASK] = Infinity
  }
}

/** The pending record's data list, made its own first if it is not. */
function ownData(pending: PendingCreate): string[] {
  if (!pending.ownsData) {
    pending.data = pending.data.slice()
    pending.ownsData = true
  }
  return pending.data
}

/** Replacing a key keeps its place; a new key goes to the end. */
function setEntry(data: string[], key: string, value: string): void {
  for (let index = 0; index < data.length; index += 2) {
    if (data[index] === key) {
      data[index + 1] = value
      return
    }
  }
  data.push(key, value)
}
