import { performance } from 'node:perf_hooks'
import { ManagerClock } from './clock'
import type { JsonFields, JsonValue } from './data-codec'
import type { Engine } from './engine'
import { ExpiryLagCounts } from './expiry-lag'
import { ExpiryTimer } from './expiry-timer'
import { CloseRecords } from './internal'
import { Listeners } from './listeners'
import type { ResolvedOptions } from './options'
import type { PersistenceStats } from './persist/persistence'
import { OwnedObjects } from './owned-objects'
import type { Session } from './session'
import { UserSessionLimitError } from './errors'
import { UserIndex } from './user-index'

/** Why a session was closed. */
export type CloseReason = 'destroyed' | 'expired' | 'evicted' | 'shutdown'

/** Listener signatures of `manager.on(event, listener)`, for a manager of `Data`. */
export interface SessionManagerEvents<Data extends JsonFields<Data> = Record<string, JsonValue>> {
  create: [session: Session<Data>]
  close: [session: Session<Data>, reason: CloseReason]
  regenerate: [session: Session<Data>, oldId: string]
  error: [error: unknown]
}

/** What `manager.stats()` returns. */
export interface SessionStats {
  /** Sessions created and not yet closed (expired ones count until the sweep closes them). */
  live: number
  created: number
  closed: Record<CloseReason, number>
  /** `create` calls refused with SessionLimitError. */
  rejected: number
  /** Listeners and disposers that threw or rejected. */
  listenerErrors: number
  /**
   * Clock readings that were not a finite safe number, or that threw; the latest good reading
   * was used instead (the first of each run of bad readings is reported as `'error'`).
   */
  clockErrors: number
  /**
   * Session cookies the HTTP integrations treated as "no session": malformed, oversized,
   * duplicated, badly signed, or naming no live session.
   */
  rejectedCookies: number
  /**
   * `maxSessionsPerUser` at work: sessions it evicted (also counted in `closed.evicted`; at
   * load too) and creates or `session.user` assignments it refused with UserSessionLimitError.
   */
  userLimit: { evicted: number; rejected: number }
  /**
   * How late after its deadline each session closed as `'expired'` was closed, in ms:
   * `counts[i]` sessions were at most `bounds[i]` late (and more than `bounds[i - 1]`),
   * `counts[bounds.length]` later than the last bound; `sum` adds up every lag. The counts add
   * up to `closed.expired`. Background expiry keeps lags under `resolution` while the event loop
   * keeps up; the upper buckets show when it does not (or when the clock jumped forward).
   */
  expiryLag: { bounds: readonly number[]; counts: number[]; sum: number }
  /**
   * The longest slice of background expiry so far, in ms of real time, close listeners and
   * disposers included, as is a turn that gives freed memory back to the OS (native): how long
   * expiry held the event loop at once (0 before the first).
   */
  longestSweepSliceMs: number
  /**
   * With `persist` only: sessions restored from the file at construction, the file's size,
   * background compactions done and the longest any of them held the event loop at once (ms of
   * real time: one slice of encoding, or the last turn with the rename), and the lag from a
   * change to the fdatasync that made it durable, latest and longest (ms; with
   * `fsync: 'always'` the change waits for it: 0).
   */
  persistence?: PersistenceStats
}

/** Expired sessions closed per engine call, and the longest a background slice may run. */
const SWEEP_BATCH = 256
const SLICE_MS = 1
/**
 * A background slice checks the time between batches, so it overruns SLICE_MS by at most one
 * batch: the batch is sized from the previous one's cost per session to take about this long.
 * A close is not always cheap: near the end of a mass expiry each one empties a page of the slot
 * table, whose release reads it whole (~90 KB) and hands it back to the OS; 256 such closes took
 * 2-4 ms at 10^6 sessions, one batch past a slice's end.
 */
const BATCH_MS = SLICE_MS / 4
/**
 * The first batch of a manager's background sweep, before anything is known of what a close
 * costs (a close listener may take milliseconds). Later batches go down to one session: where a
 * close costs BATCH_MS, the engine call around it costs nothing in comparison.
 */
const FIRST_SWEEP_BATCH = 16
/**
 * How far a native engine's memoryBytes must fall below its latest high before the memory freed
 * is given back to the OS (Registry.releaseFreed): the step starts at 4 MiB and adapts within
 * these bounds so that a background release takes about RELEASE_MS. A release costs a walk over
 * the heap's pages (~0.2 ms at 10^6 sessions) plus one madvise per run of pages left empty, and
 * pages empty unevenly: near the end of a mass expiry most of them do, and one 4 MiB step there
 * released for 3.5 ms.
 */
const RELEASE_STEP_MIN = 512 << 10
const RELEASE_STEP_MAX = 16 << 20
const RELEASE_MS = 1
/** In a mass close, a release follows at least every 1/16 of the sessions still open. */
const RELEASE_TAIL_SHARE = 16
/** Closes outside sweeps between two looks at memoryBytes. */
const RELEASE_CHECK_CLOSES = 4096

/**
 * The state a manager and its sessions share, and the one place where sessions are closed:
 * detach (lookups stop finding it), count, tell the close listeners, dispose owned objects,
 * release the slot. Every close path goes through `finishClose`, so each session closes once.
 *
 * @internal Shared by the manager and its Session handles; not part of the public API.
 */
export class Registry {
  // Sessions of any data type: `Data` types a manager's handles only, not what is stored.
  readonly listeners = new Listeners<SessionManagerEvents<any>>()
  readonly objects = new OwnedObjects()
  /** Why each session closed, for Session handles that ask after the slot was released. */
  readonly closeRecords = new CloseRecords()
  readonly counts = {
    created: 0,
    closed: { destroyed: 0, expired: 0, evicted: 0, shutdown: 0 } as Record<CloseReason, number>,
    rejected: 0,
    listenerErrors: 0,
    rejectedCookies: 0,
    userLimit: { evicted: 0, rejected: 0 },
  }
  /** The sessions of each user (`sessionsOf`, `closeUser`, `maxSessionsPerUser`). */
  readonly users = new UserIndex()
  /**
   * Users whose sessions are being evicted for maxSessionsPerUser: a create or assignment for
   * one of them from a close listener meanwhile gets only room beyond the one being made, and
   * evicts nothing itself (that could go on without end).
   */
  readonly fillingUsers = new Set<string>()
  /**
   * Expired sessions closed outside a sweep (found expired by a lookup of their key, by
   * `session.close()`, `closeUser`, `maxSessionsPerUser`, or at shutdown): the engines count
   * what their sweeps close.
   */
  readonly lateExpiries = new ExpiryLagCounts()
  /** See SessionStats.longestSweepSliceMs. */
  longestSweepSliceMs = 0
  /** memoryBytes at its latest high since the last release of freed memory (native engines). */
  #memoryHigh = 0
  #releaseStep = 4 << 20
  #closesSinceCheck = 0
  /** A background release of freed memory waits for the next slice, a turn of its own. */
  #releaseDue = false
  /** Sessions a background slice's next batch closes (see BATCH_MS). */
  #sweepBatch = FIRST_SWEEP_BATCH
  /**
   * Memory fell a step before a sweep finished: a mass close is under way, and the end of its
   * sweep gives back its last part (below a step) too.
   */
  #releasing = false
  /**
   * What the latest release cost per session closed since the one before it (ms), past the
   * cheapest release of this sweep (#releaseFixedMs: the walk over the heap that every release
   * pays), while a sweep is under way; 0 when unknown. Freed memory does not fall evenly:
   * allocator pages hold many sessions' data each and empty only when all of them are gone, so in
   * the last few percent of a mass expiry most pages empty at once, and a release after a step of
   * memoryBytes there handed back hundreds of pages for 4-5 ms. The background sweep stops a
   * slice once the closes since the last release would cost half of a release's budget (the
   * cost per close keeps rising there), then releases.
   */
  #releaseMsPerClose = 0
  #releaseFixedMs = Infinity
  #closesSinceRelease = 0
  /** The release due next follows the slice that finished a sweep. */
  #releaseEndsSweep = false
  /** A background slice is closing sessions (sweepSlice). */
  #inSlice = false
  /** Bumped by every id change, so Session handles can cache their id until one happens. */
  idEpoch = 0
  closed = false
  /**
   * Caller keys that a create or a caller-key regenerate is claiming (closing the expired
   * session that held the key, making room): a create or regenerate from a close listener
   * meanwhile may not take the key from under it (SessionExistsError).
   */
  readonly claimedKeys = new Set<string>()
  readonly timer: ExpiryTimer
  /** The only reader of `options.clock`: every operation takes its time from here. */
  readonly clock: ManagerClock

  constructor(
    readonly engine: Engine,
    readonly options: ResolvedOptions,
    readonly makeSession: (handle: number) => Session,
  ) {
    this.clock = new ManagerClock(options.clock, (error) => this.#deliver(error, 'SessionkeeperClockError'))
    this.timer = new ExpiryTimer(
      () => this.clock.now(), options.resolution, () => this.sweepSlice(), () => engine.nextDeadline(), this.reportError,
    )
  }

  now(): number {
    return this.clock.now()
  }

  /** Closes an attached session found past its deadline at `now` outside a sweep, counting how late. */
  closeExpired(handle: number, now: number): void {
    const expiresAt = this.engine.expiresAt(handle)
    if (!this.engine.detach(handle)) return
    this.lateExpiries.record(now - expiresAt)
    this.finishClose(handle, 'expired')
  }

  /** Closes a session `detachIfExpired` found past its deadline at `now`, counting how late. */
  finishExpired(handle: number, now: number): void {
    this.lateExpiries.record(now - this.engine.expiresAt(handle))
    this.finishClose(handle, 'expired')
  }

  /** Closes an attached session. */
  close(handle: number, reason: CloseReason): void {
    if (this.engine.detach(handle)) this.finishClose(handle, reason)
  }

  /** Closes a session already detached from the engine. */
  finishClose(handle: number, reason: CloseReason): void {
    // Out of the index before the listeners run: a closing session is no user's live session.
    if (this.users.size !== 0) this.users.remove(handle)
    this.closeRecords.record(handle, reason)
    this.counts.closed[reason]++
    if (this.listeners.count('close') > 0) {
      this.listeners.emit('close', [this.makeSession(handle), reason], this.reportError)
    }
    this.objects.disposeAll(handle, this.reportError)
    this.engine.release(handle)
    this.#closesSinceRelease++
    // Inside a background slice the look waits for the slice's end, so a release never adds to it.
    if (++this.#closesSinceCheck >= RELEASE_CHECK_CLOSES && !this.#inSlice) this.releaseFreed(false)
  }

  /**
   * Gives the memory that closed sessions freed back to the OS once memoryBytes has fallen a step
   * below its latest high (or, at the end of a sweep that released already, RELEASE_STEP_MIN:
   * every sweep of steady traffic ends below its high too, by what it closed, and creates take
   * that memory again).
   * mimalloc purges freed pages itself only some time after the free, from later allocator calls
   * in the same part of the heap: during a mass expiry that meant purges of whole segments at
   * once inside a sweep batch (blocks of 2.5-4 ms at 10^6 sessions), and after it nothing came
   * back at all (4M sessions expired left 694 MiB of 1,546 resident). Released in steps, each
   * call finds a few MiB to give back. Steady traffic, where creates take the place of what
   * expires, calls it only when one wake-up closes a step's worth.
   */
  releaseFreed(sweepDone: boolean): void {
    if (this.#releaseWanted(sweepDone)) this.#release()
  }

  #releaseWanted(sweepDone: boolean): boolean {
    this.#closesSinceCheck = 0
    const bytes = this.noteMemoryHigh()
    if (bytes < 0) return false
    const fallen = this.#memoryHigh - bytes
    if (fallen >= this.#releaseStep) {
      this.#releasing = !sweepDone
      return true
    }
    if (!sweepDone) return false
    const tail = this.#releasing && fallen >= RELEASE_STEP_MIN
    this.#releasing = false
    return tail
  }

  #release(): void {
    this.#releaseDue = false
    const started = performance.now()
    this.engine.releaseFreedMemory!()
    const took = performance.now() - started
    if (this.#releaseEndsSweep) {
      this.#releaseMsPerClose = 0
      this.#releaseFixedMs = Infinity
    } else {
      this.#releaseFixedMs = Math.min(this.#releaseFixedMs, took)
      this.#releaseMsPerClose = this.#closesSinceRelease === 0 ? 0 : (took - this.#releaseFixedMs) / this.#closesSinceRelease
    }
    this.#closesSinceRelease = 0
    this.#releaseEndsSweep = false
    if (took > RELEASE_MS) this.#releaseStep = Math.max(RELEASE_STEP_MIN, this.#releaseStep >> 1)
    else if (took < RELEASE_MS / 4) this.#releaseStep = Math.min(RELEASE_STEP_MAX, this.#releaseStep * 2)
    this.#memoryHigh = this.engine.memoryBytes()
  }

  /**
   * memoryBytes now, raising the high that releaseFreed measures the fall from; -1 for an engine
   * that releases nothing (the JsEngine). Read before sessions are closed in bulk (a sweep):
   * creates grow the engine without the facade looking.
   */
  noteMemoryHigh(): number {
    const engine = this.engine
    if (engine.releaseFreedMemory === undefined) return -1
    const bytes = engine.memoryBytes()
    if (bytes > this.#memoryHigh) this.#memoryHigh = bytes
    return bytes
  }

  /** Closes everything expired at `now`, stopping early once `until` (performance.now()) passes. */
  sweepExpired(now: number, until: number, maxClosed = Infinity): { closed: number; done: boolean } {
    let closed = 0
    // Per call, not shared: a close listener may start another sweep (sweep(), close(), a
    // create at maxSessions) while this one still walks its batch.
    let buffer: Float64Array | undefined
    const timed = until !== Infinity
    let started = timed ? performance.now() : 0
    for (;;) {
      const limit = Math.min(timed ? this.#sweepBatch : SWEEP_BATCH, maxClosed - closed)
      let batch: number
      if (this.listeners.count('close') === 0 && this.objects.sessionsHoldingObjects === 0) {
        if (this.users.size === 0) {
          // Nobody needs to see these sessions: the engine frees them without crossing back.
          batch = this.engine.sweepRelease(now, limit)
        } else {
          // The index must learn which sessions went; still no close record, as sweepRelease.
          buffer ??= new Float64Array(SWEEP_BATCH)
          batch = this.engine.sweep(now, limit === SWEEP_BATCH ? buffer : buffer.subarray(0, limit))
          for (let index = 0; index < batch; index++) {
            this.users.remove(buffer[index])
            this.engine.release(buffer[index])
          }
        }
        this.counts.closed.expired += batch
        this.#closesSinceRelease += batch
      } else {
        buffer ??= new Float64Array(SWEEP_BATCH)
        batch = this.engine.sweep(now, limit === SWEEP_BATCH ? buffer : buffer.subarray(0, limit))
        // The whole batch leaves the user index before the first listener runs: a listener that
        // makes or moves a session of a user whose expired sessions come later in the batch must
        // not count them against maxSessionsPerUser, since they are detached already and could
        // be neither closed as expired nor evicted to make room.
        if (this.users.size !== 0) for (let index = 0; index < batch; index++) this.users.remove(buffer[index])
        for (let index = 0; index < batch; index++) this.finishClose(buffer[index], 'expired')
      }
      closed += batch
      // A call that stopped at its re-filing budget leaves the next deadline due.
      const full = batch === limit || this.engine.nextDeadline() <= now
      if (!full) return { closed, done: true }
      if (timed) {
        const ended = performance.now()
        if (batch > 0) {
          const perSession = (ended - started) / batch
          this.#sweepBatch = Math.max(1, Math.min(SWEEP_BATCH, Math.floor(BATCH_MS / perSession)))
        }
        if (ended >= until || closed >= maxClosed) return { closed, done: false }
        started = ended
      }
    }
  }

  /**
   * Makes room for one more session of `user` under maxSessionsPerUser, before a create
   * (`joining` -1) or before session `joining` takes that user: closes the user's sessions past
   * their deadline, then evicts the user's oldest other sessions (earliest createdAt; reason
   * 'evicted') or, with whenUserFull 'reject', throws UserSessionLimitError. Close listeners run
   * meanwhile and may close anything, the manager and `joining` included: callers check after.
   */
  admitUser(user: string, joining: number): void {
    const { maxSessionsPerUser: cap, whenUserFull } = this.options
    if (this.fillingUsers.has(user)) {
      // The place being made is the outer call's: this one gets only room beyond it.
      if (this.users.count(user) + 1 < cap) return
      this.counts.userLimit.rejected++
      throw new UserSessionLimitError(user, cap, 'added by a close listener while older sessions of this user were being evicted')
    }
    if (this.users.count(user) < cap) return
    const now = this.now()
    for (const handle of this.users.handles(user)) {
      if (handle !== joining && !this.engine.isAlive(handle, now)) this.closeExpired(handle, now)
    }
    if (this.users.count(user) < cap) return
    if (whenUserFull === 'evict-oldest') {
      this.fillingUsers.add(user)
      try {
        // One victim per session over the cap; listeners that add more do not extend it.
        for (let victims = this.users.count(user) - cap + 1; victims > 0; victims--) {
          const victim = this.#oldest(user, joining)
          if (victim < 0) break
          // Counted only when it was attached: an eviction that closes nothing frees no place.
          if (!this.engine.detach(victim)) {
            this.users.remove(victim)
            continue
          }
          this.counts.userLimit.evicted++
          this.finishClose(victim, 'evicted')
        }
      } finally {
        this.fillingUsers.delete(user)
      }
      if (this.users.count(user) < cap) return
    }
    this.counts.userLimit.rejected++
    throw new UserSessionLimitError(user, cap, whenUserFull === 'reject' ? "whenUserFull: 'reject'" : 'eviction made no room')
  }

  /** The user's session created first, other than `except`; -1 when none. O(the user's sessions). */
  #oldest(user: string, except: number): number {
    let oldest = -1
    let oldestAt = Infinity
    for (const handle of this.users.handles(user)) {
      if (handle === except) continue
      const createdAt = this.engine.createdAt(handle)
      if (createdAt < oldestAt) {
        oldest = handle
        oldestAt = createdAt
      }
    }
    return oldest
  }

  sweepSlice(): 'done' | 'more' {
    if (this.closed) return 'done'
    const start = performance.now()
    if (this.#releaseDue) {
      // A turn of its own: its madvise calls never add to a sweep's batch.
      this.#release()
      this.#noteSlice(start)
      return 'more'
    }
    const bytes = this.noteMemoryHigh()
    // Closes since the last release after which the next is due (see #releaseMsPerClose).
    let closesPerRelease = Infinity
    if (bytes >= 0 && this.#releaseMsPerClose > 0) {
      // Where the walk alone takes a release's budget, releases stay at least half walk.
      const budget = Math.max(RELEASE_MS - this.#releaseFixedMs, this.#releaseFixedMs) / 2
      closesPerRelease = Math.max(1, Math.floor(budget / this.#releaseMsPerClose))
    }
    if (bytes >= 0 && this.#releasing) {
      // A mass close under way: the pages that empty in the next 1/RELEASE_TAIL_SHARE of what
      // is left grow as fewer sessions are left, faster than the cost per close can follow.
      closesPerRelease = Math.min(closesPerRelease, Math.max(1, Math.ceil(this.engine.size / RELEASE_TAIL_SHARE)))
    }
    const maxClosed = closesPerRelease - this.#closesSinceRelease
    if (maxClosed <= 0) {
      // Closes outside this sweep (destroys, a listener's) reached it first.
      this.#releasing = true
      this.#releaseDue = true
      return 'more'
    }
    this.#inSlice = true
    let swept: { closed: number; done: boolean }
    try {
      swept = this.sweepExpired(this.now(), start + SLICE_MS, maxClosed)
    } finally {
      this.#inSlice = false
    }
    const { closed, done } = swept
    this.#noteSlice(start)
    if (closed > 0 && (this.#releaseWanted(done) || closed >= maxClosed)) {
      if (!done) this.#releasing = true
      this.#releaseDue = true
      this.#releaseEndsSweep = done
      return 'more'
    }
    if (done) {
      this.#releaseMsPerClose = 0
      this.#releaseFixedMs = Infinity
    }
    return done ? 'done' : 'more'
  }

  #noteSlice(start: number): void {
    const took = performance.now() - start
    if (took > this.longestSweepSliceMs) this.longestSweepSliceMs = took
  }

  /** A failing listener or disposer: counted, then given to 'error' listeners or emitted as a warning. */
  reportError = (error: unknown): void => {
    this.counts.listenerErrors++
    this.#deliver(error, 'SessionkeeperListenerError')
  }

  #deliver(error: unknown, type: WarningType): void {
    if (this.listeners.count('error') > 0) {
      this.listeners.emit('error', [error], (failure) => emitWarning(failure, 'SessionkeeperListenerError'))
    } else {
      emitWarning(error, type)
    }
  }
}

type WarningType = 'SessionkeeperListenerError' | 'SessionkeeperClockError'

const WARNING_CODES: Record<WarningType, string> = {
  SessionkeeperListenerError: 'SESSIONKEEPER_LISTENER_ERROR',
  SessionkeeperClockError: 'SESSIONKEEPER_CLOCK_ERROR',
}

/** Never throws, whatever was thrown: a value without a string form must not escape a manager call. */
function emitWarning(error: unknown, type: WarningType): void {
  const code = WARNING_CODES[type]
  try {
    const message = error instanceof Error ? error.message : describeThrown(error)
    const detail = error instanceof Error ? error.stack : undefined
    process.emitWarning(message, { type, code, detail })
  } catch {
    process.emitWarning('a sessionkeeper listener or disposer threw a value that cannot be described', { type, code })
  }
}

function describeThrown(value: unknown): string {
  try {
    return String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}
