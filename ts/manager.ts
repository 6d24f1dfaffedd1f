import { AsyncLocalStorage } from 'node:async_hooks'
import {
  COOKIE_ID_END, COOKIE_NONE, COOKIE_VALUE_START, CREATE_KEY_EXISTS, CREATE_TABLE_FULL, type Engine, EXPIRY_LAG_BOUNDS,
  EXPIRY_LAG_VALUES, SLOT_SPACE, slotOf,
} from './engine'
import { ManagerClosedError, SessionExistsError, SessionLimitError, UserSessionLimitError } from './errors'
import { encodeDataValue, type JsonFields, type JsonValue } from './data-codec'
import { cookieVerifier, readCookieHeader, recordRejectedCookie, replaceSession, runRequest } from './internal'
import { createEngine } from './load-engine'
import { type ResolvedOptions, type SessionManagerOptions, resolveOptions } from './options'
import { JournaledEngine } from './persist/journaled-engine'
import { forEachAttached, Persistence } from './persist/persistence'
import { type CloseReason, Registry, type SessionManagerEvents, type SessionStats } from './registry'
import { Session } from './session'
import {
  checkChoice, checkInteger, checkKey, checkKnownKeys, checkPlainObject, checkPlainObjectShape, checkRoles, checkString, checkTimeout, describe, unknownKeyError,
  utf8Bytes,
} from './validate'

/** What `create(init)` and `getOrCreate(id, init)` accept; `Data` is the manager's data type. */
export interface SessionInit<Data extends JsonFields<Data> = Record<string, JsonValue>> {
  /** With `keys: 'caller'`: the session's key (required for `create`). Never accepted with `keys: 'random'`. */
  key?: string
  user?: string
  roles?: string[]
  /**
   * Initial data: JSON values by key, stored as copies (the rules of `Session.set`); its
   * stored form counts against `maxDataBytes`.
   */
  data?: Partial<Data>
  /** Overrides the manager's idle timeout for this session (ms, 0 for none). */
  idleTimeout?: number
  /** Overrides the manager's absolute timeout for this session (ms, 0 for none). */
  absoluteTimeout?: number
}

/** What `closeUser(user, options)` accepts. */
export interface CloseUserOptions<Data extends JsonFields<Data> = Record<string, JsonValue>> {
  /** A session of this manager to leave open ("log out my other devices"); ignored when it is not the user's. */
  except?: Session<Data>
  /** The reason the `'close'` events carry: `'destroyed'` (default) or `'evicted'`. */
  reason?: 'destroyed' | 'evicted'
}

/** What `page(options)` accepts. */
export interface PageOptions {
  /** Where to go on: the `cursor` of the previous page; omitted for the first page. */
  cursor?: string
  /** Most sessions in the page, 1 to 10,000; default 100. */
  limit?: number
}

/** One page of live sessions: `cursor` continues after it, and is undefined after the last page. */
export interface SessionPage<Data extends JsonFields<Data> = Record<string, JsonValue>> {
  sessions: Session<Data>[]
  cursor: string | undefined
}

const PAGE_LIMIT = 10_000
/**
 * A session file whose latest activity is this far ahead of the clock at load is warned about
 * (the manager's time then stands still until the clock catches up); nearer, it is jitter.
 */
const CLOCK_BEHIND_WARNING_MS = 1000
/**
 * A cursor is the slot to scan from, in base 36 after a 'p'. Slots never move: a session keeps
 * its slot from create to close, and pages scan slots in ascending order, so a session live
 * throughout the paging is in exactly one page, whatever else is created or closed meanwhile.
 */
const CURSOR = /^p[0-9a-z]{1,5}$/

function encodeCursor(slot: number): string {
  return `p${slot.toString(36)}`
}

function decodeCursor(cursor: unknown): number {
  if (typeof cursor !== 'string') throw new TypeError(`options.cursor must be a string from page(), received ${describe(cursor)}`)
  const slot = CURSOR.test(cursor) ? Number.parseInt(cursor.slice(1), 36) : NaN
  if (!(slot <= SLOT_SPACE)) throw new RangeError(`options.cursor is not a cursor of page(), received ${describe(cursor)}`)
  return slot
}

interface CheckedInit {
  key: string | undefined
  user: string | undefined
  roles: string[] | undefined
  /** key, stored value, key, stored value... as the engine's setDataEntries takes them. */
  data: string[]
  idleTimeout: number
  absoluteTimeout: number
}

const INIT_KEYS = ['key', 'user', 'roles', 'data', 'idleTimeout', 'absoluteTimeout'] as const

/**
 * Creates, finds, renews and expires sessions. Session state lives in the engine (Rust through
 * N-API, or the pure JavaScript engine), not on the JS heap; this class validates input, keeps
 * listeners and owned objects, binds sessions to async contexts and runs background expiry.
 *
 * `Data` types the session data per key, for `get`, `set`, `init.data` and the integrations'
 * `init.keep`: `new SessionManager<{ visits: number; cart: string[] }>()`. Every property must be
 * a JSON value (interfaces are fine); by default any key holds any JSON value.
 */
export class SessionManager<Data extends JsonFields<Data> = Record<string, JsonValue>> implements Iterable<Session<Data>> {
  readonly #registry: Registry
  readonly #engine: Engine
  readonly #options: ResolvedOptions
  /**
   * What `run` bound: a session, or a function `current()` asks each time (it follows the
   * request), or (the integrations' `runRequest`) a request whose `session` it reads each time.
   */
  readonly #context = new AsyncLocalStorage<Session<Data> | (() => Session<Data> | undefined) | BoundRequest | undefined>()
  /**
   * Set while a create makes room at maxSessions (closing expired sessions, evicting): the room
   * belongs to that create, so a create from a close listener meanwhile may not take it, nor
   * make room in turn (that could evict without end).
   */
  #makingRoom = false
  /** With `persist`: the file, its lock and the journal. */
  readonly #persistence: Persistence | undefined

  constructor(options?: SessionManagerOptions) {
    // Through checkPlainObject even when omitted: its copy has no prototype to inherit from.
    const resolved = resolveOptions(options === undefined ? {} : options)
    this.#options = resolved
    const inner = createEngine(resolved.engine, resolved)
    const journaled = resolved.persist === undefined ? undefined : new JournaledEngine(inner, resolved.resolution)
    this.#engine = journaled ?? inner
    const registry: Registry = new Registry(this.#engine, resolved, (handle) => new Session(registry, handle, this.#engine.id(handle) ?? ''))
    this.#registry = registry
    if (resolved.persist !== undefined && journaled !== undefined) {
      // Loaded before the constructor returns; sessions found expired close as 'expired' on the
      // first background sweep, so listeners added right after construction see them.
      this.#persistence = Persistence.open(
        resolved.persist, resolved, journaled, registry.clock.now(),
        (message, code) => process.emitWarning(message, { type: 'SessionkeeperPersistenceWarning', code }),
        (error) => {
          if (registry.listeners.count('error') > 0) registry.listeners.emit('error', [error], registry.reportError)
          else process.emitWarning(error instanceof Error ? error : String(error), { type: 'SessionkeeperPersistenceWarning', code: 'SESSIONKEEPER_JOURNAL_ERROR' })
        },
        () => createEngine(resolved.engine, resolved),
      )
      // Time never goes backwards across a restart either: a clock stepped back while the server
      // was down would make sessions made now older than restored ones (the wrong one evicted
      // as the oldest), and a use of a restored session would move its activity back.
      // However far ahead the file is: under any bound, a clock behind the file would bring back
      // alive and renewable the sessions a crash left past their deadline (swept, their Remove
      // not yet on disk). A file a clock once set far ahead wrote holds time still as long, as
      // that clock's step back would have in the running process.
      const { latestActivity } = this.#persistence.report
      const ahead = latestActivity - registry.clock.now()
      registry.clock.atLeast(latestActivity)
      if (ahead > CLOCK_BEHIND_WARNING_MS) {
        process.emitWarning(
          `the session file ${this.#persistence.path} holds activity ${Math.round(ahead)} ms ahead of options.clock (was the clock stepped back?): ` +
          'the manager\'s time stands still at that activity until the clock catches up, so expiry runs late by up to that, never early',
          { type: 'SessionkeeperPersistenceWarning', code: 'SESSIONKEEPER_CLOCK_BEHIND_FILE' },
        )
      }
      // Filing by user asks every session for its user (a native call each): skipped when the
      // load gave none a user.
      if (this.#persistence.report.users !== 0) this.#indexRestored()
      if (this.#engine.size > resolved.maxSessions) this.#capRestored()
      registry.timer.note(this.#engine.nextDeadline())
    }
  }

  /** The engine in use: `'native'` or `'js'` (after `'auto'` chose). */
  get engine(): 'native' | 'js' {
    return this.#engine.kind
  }

  /** `'random'` (the manager issues ids) or `'caller'` (sessions are keyed by the caller's strings). */
  get keys(): 'random' | 'caller' {
    return this.#options.keys
  }

  /** Sessions created and not yet closed (expired ones count until the background sweep closes them). */
  get size(): number {
    return this.#engine.size
  }

  /** Creates a session (a `'create'` event follows). */
  create(init?: SessionInit<Data>): Session<Data> {
    this.#assertOpen('create a session')
    const checked = this.#checkInit(init)
    if (this.#options.keys === 'caller' && checked.key === undefined) {
      throw new TypeError("init.key is required with keys: 'caller'")
    }
    return this.#create(checked)
  }

  /** The live session with this id, renewed; undefined when there is none (malformed ids included). */
  get(id: string): Session<Data> | undefined {
    const registry = this.#registry
    if (registry.closed) throw new ManagerClosedError('get a session')
    if (typeof id !== 'string') return undefined
    if (this.#options.keys === 'caller' && !id.isWellFormed()) return undefined
    const handle = this.#engine.lookup(id, this.#registry.clock.now(), true)
    return handle < 0 ? undefined : new Session<Data>(registry, handle, id)
  }

  /** Like `get`, without renewing. */
  peek(id: string): Session<Data> | undefined {
    const handle = this.#find(id, 'peek at a session')
    return handle < 0 ? undefined : new Session<Data>(this.#registry, handle, id)
  }

  /** True when a live session has this id. Does not renew. */
  has(id: string): boolean {
    return this.#find(id, 'look up a session') >= 0
  }

  /**
   * The live session with this id (renewed), or a new one. With `keys: 'random'` a new session
   * gets a fresh id, never the given one (adopting a client's id would allow session fixation);
   * with `keys: 'caller'` the given id is the new session's key.
   */
  getOrCreate(id: string, init?: Omit<SessionInit<Data>, 'key'>): Session<Data> {
    const found = this.get(id)
    if (found !== undefined) return found
    this.#assertOpen('create a session')
    const checked = this.#checkInit(init)
    if (checked.key !== undefined) throw new TypeError('getOrCreate takes the key as its first argument, not in init.key')
    if (this.#options.keys === 'caller') checked.key = checkKey('id', id)
    return this.#create(checked)
  }

  /** Closes the live session with this id (reason `'destroyed'`); false when there is none. */
  destroy(id: string): boolean {
    const handle = this.#find(id, 'destroy a session')
    if (handle < 0) return false
    this.#registry.close(handle, 'destroyed')
    return true
  }

  /** Closes every session expired by now and returns how many. The background timer does this on its own. */
  sweep(): number {
    this.#assertOpen('sweep')
    this.#registry.noteMemoryHigh()
    const { closed } = this.#registry.sweepExpired(this.#registry.clock.now(), Infinity)
    if (closed > 0) this.#registry.releaseFreed(true)
    this.#registry.timer.rearm()
    return closed
  }

  /**
   * The live sessions of `user` (`session.user`), oldest first (by `createdAt`), not renewed.
   * O(the user's sessions): a per-user index follows creates, `session.user` assignments,
   * logins, regenerates, closes and loads. `[]` after `close()`.
   */
  sessionsOf(user: string): Session<Data>[] {
    checkString('user', user)
    const registry = this.#registry
    if (registry.closed) return []
    const engine = this.#engine
    const now = registry.clock.now()
    const live: { handle: number; createdAt: number }[] = []
    for (const handle of registry.users.handles(user)) {
      if (engine.isAlive(handle, now)) live.push({ handle, createdAt: engine.createdAt(handle) })
    }
    // Stable: sessions created in the same ms keep the order they became the user's.
    live.sort((a, b) => a.createdAt - b.createdAt)
    return live.map(({ handle }) => registry.makeSession(handle) as Session<Data>)
  }

  /**
   * Closes every live session of `user` ("log out everywhere"), but `options.except` ("log out
   * my other devices"), with reason `options.reason` (`'destroyed'` by default), and returns how
   * many it closed. Each close emits `'close'` as `destroy` does. Sessions of the user already
   * past their deadline close as `'expired'` and are not counted. What the user's sessions are
   * is read when the call starts: a session a close listener gives the user meanwhile stays open,
   * one it takes from the user (or closes) is skipped. O(the user's sessions).
   */
  closeUser(user: string, options?: CloseUserOptions<Data>): number {
    this.#assertOpen('close the sessions of a user')
    checkString('user', user)
    const given = checkPlainObject('options', options === undefined ? {} : options)
    checkKnownKeys('options', given, ['except', 'reason'])
    const registry = this.#registry
    let except = -1
    if (given.except !== undefined) {
      if (!(given.except instanceof Session)) throw new TypeError(`options.except must be a Session, received ${describe(given.except)}`)
      if (!given.except.belongsTo(registry)) throw new RangeError('options.except must be a session of this manager')
      except = given.except.handle
    }
    const reason = given.reason === undefined ? 'destroyed' : checkChoice('options.reason', given.reason, ['destroyed', 'evicted'] as const)
    const engine = this.#engine
    let closed = 0
    for (const handle of registry.users.handles(user)) {
      if (registry.users.userOf(handle) !== user) continue
      const now = registry.clock.now()
      if (engine.isAlive(handle, now)) {
        if (handle === except) continue
        registry.close(handle, reason)
        closed++
      } else {
        // An `except` past its deadline is closed already, as its handle reads: it excepts nothing.
        registry.closeExpired(handle, now)
      }
    }
    return closed
  }

  /**
   * A page of live sessions (slot order, not renewed) and the cursor of the next one: paging
   * through 10^6 sessions for an admin page without making them all at once. A session alive
   * from the first page to the last is in exactly one page; one created or closed meanwhile
   * may or may not be. A page may be shorter than `limit`, even empty, before the last; the
   * last has `cursor` undefined. Cursors are opaque strings, valid on this manager only (a
   * forged one is a RangeError or starts the scan at some slot, never reads outside the
   * table). After `close()`: an empty last page.
   */
  page(options?: PageOptions): SessionPage<Data> {
    const given = checkPlainObject('options', options === undefined ? {} : options)
    checkKnownKeys('options', given, ['cursor', 'limit'])
    const limit = given.limit === undefined ? 100 : checkInteger('options.limit', given.limit, 1, PAGE_LIMIT)
    const from = given.cursor === undefined ? 0 : decodeCursor(given.cursor)
    const registry = this.#registry
    if (registry.closed) return { sessions: [], cursor: undefined }
    const buffer = new Float64Array(limit)
    const count = this.#engine.scan(from, registry.clock.now(), buffer)
    const sessions: Session<Data>[] = []
    for (let index = 0; index < count; index++) sessions.push(registry.makeSession(buffer[index]) as Session<Data>)
    return { sessions, cursor: count < limit ? undefined : encodeCursor(slotOf(buffer[count - 1]) + 1) }
  }

  /**
   * Resolves once every change made before the call is durable (fdatasync'd), whatever the
   * fsync policy; at once without `persist` or after `close()`. Rejects if the journal failed
   * (a write or fsync error, also emitted as `'error'`).
   */
  flush(): Promise<void> {
    return this.#persistence === undefined || this.#registry.closed ? Promise.resolve() : this.#persistence.flush()
  }

  /**
   * Stops background expiry and closes every session (expired ones with reason `'expired'`, the
   * rest with `'shutdown'`). Idempotent. With `persist`, the sessions still alive are saved
   * instead (written and fsync'd, the file unlocked) and suspended, not closed: no `'close'`
   * event for them, their owned objects disposed, their handles closed with reason `'shutdown'`.
   */
  close(): void {
    const registry = this.#registry
    if (registry.closed) return
    registry.closed = true
    registry.timer.stop()
    if (this.#persistence !== undefined) {
      this.#suspend(this.#persistence)
      return
    }
    let now = registry.clock.now()
    const engine = this.#engine
    const buffer = new Float64Array(256)
    let from = 0
    for (;;) {
      // Every attached session, alive or not, in slot order: closing must not depend on the
      // order the engine's expiry structure keeps (a sweep stops at the first session not due).
      const count = engine.scan(from, -Infinity, buffer)
      for (let index = 0; index < count; index++) {
        const handle = buffer[index]
        if (engine.expiresAt(handle) <= now) registry.closeExpired(handle, now)
        else registry.close(handle, 'shutdown')
        // Time goes on while close listeners and disposers run, and what they read (a later
        // session's closeReason is 'expired' once its deadline has passed) must match the
        // reason its close event then carries. Without them, one reading serves the whole call.
        if (registry.listeners.count('close') > 0 || registry.objects.sessionsHoldingObjects > 0) now = registry.clock.now()
      }
      if (count < buffer.length) break
      from = slotOf(buffer[count - 1]) + 1
    }
  }

  /**
   * Approximate bytes the engine holds for its sessions: outside the JS heap with the native
   * engine, in typed arrays and session data with the JsEngine. O(1) native; the JsEngine adds
   * up its sessions' data, a pass over them (1.3 ms of CPU per 10^5 sessions, measured).
   */
  memoryBytes(): number {
    return this.#engine.memoryBytes()
  }

  /** Adds a listener. `'error'` receives failures of other listeners and of disposers. */
  on<E extends keyof SessionManagerEvents>(event: E, listener: (...args: SessionManagerEvents<Data>[E]) => unknown): this {
    this.#checkListener(event, listener)
    this.#registry.listeners.add(event, listener, false)
    return this
  }

  /** Adds a listener that runs once. */
  once<E extends keyof SessionManagerEvents>(event: E, listener: (...args: SessionManagerEvents<Data>[E]) => unknown): this {
    this.#checkListener(event, listener)
    this.#registry.listeners.add(event, listener, true)
    return this
  }

  /** Removes a listener added with `on` or `once`. */
  off<E extends keyof SessionManagerEvents>(event: E, listener: (...args: SessionManagerEvents<Data>[E]) => unknown): this {
    this.#registry.listeners.remove(event, listener)
    return this
  }

  /**
   * Runs `fn` with `session` as the current session of its async context (undefined:
   * anonymous). `session` may also be a function returning the session: `current()` then asks
   * it on every call, so the binding follows a session started mid-request, in every callback
   * and after every await of `fn` (the HTTP integrations bind `() => req.session`).
   */
  run<R>(session: Session<Data> | undefined | (() => Session<Data> | undefined), fn: () => R): R {
    if (session !== undefined && typeof session !== 'function' && !(session instanceof Session)) {
      throw new TypeError('run(session, fn): session must be a Session, a function returning one, or undefined')
    }
    if (typeof fn !== 'function') throw new TypeError('run(session, fn): fn must be a function')
    return this.#context.run(session, fn)
  }

  /**
   * The session bound by `run` to the current async context (what a bound function returns
   * now), unless it has been closed since; undefined outside `run`.
   */
  current(): Session<Data> | undefined {
    const bound = this.#context.getStore()
    const session = typeof bound === 'function' ? bound() : bound instanceof Session || bound === undefined ? bound : bound.session
    return session instanceof Session && !session.closed ? session as Session<Data> : undefined
  }

  /** Counters since the manager was made. */
  stats(): SessionStats {
    const { counts } = this.#registry
    const lag = new Float64Array(EXPIRY_LAG_VALUES)
    this.#engine.expiryLag(lag)
    this.#registry.lateExpiries.addTo(lag)
    return {
      live: this.#engine.size,
      created: counts.created,
      closed: { ...counts.closed },
      rejected: counts.rejected,
      listenerErrors: counts.listenerErrors,
      rejectedCookies: counts.rejectedCookies,
      userLimit: { ...counts.userLimit },
      clockErrors: this.#registry.clock.failures,
      expiryLag: {
        bounds: EXPIRY_LAG_BOUNDS,
        counts: Array.from(lag.subarray(0, EXPIRY_LAG_BOUNDS.length + 1)),
        sum: lag[EXPIRY_LAG_BOUNDS.length + 1],
      },
      longestSweepSliceMs: this.#registry.longestSweepSliceMs,
      ...(this.#persistence === undefined ? {} : { persistence: this.#persistence.stats() }),
    }
  }

  /**
   * @internal For the HTTP integrations: `fn` (called with no arguments) bound to `request` as
   * `run(() => request.session, fn)` binds it, without a function made per request.
   */
  [runRequest]<R>(request: BoundRequest, fn: () => R): R {
    return this.#context.run(request, fn)
  }

  /**
   * @internal For the HTTP integrations: a native verifier of cookies named `name` signed with
   * `secrets`, or undefined when the engine reads no cookies itself (the JsEngine).
   */
  [cookieVerifier](name: string, secrets: readonly string[]): object | undefined {
    const engine = this.#engine
    return engine.createCookieVerifier === undefined || engine.readCookie === undefined ? undefined : engine.createCookieVerifier(name, secrets)
  }

  /**
   * @internal For the HTTP integrations: the live session a Cookie header names (renewed), read
   * by the engine in one call; a header whose session cookie names none counts in
   * `stats().rejectedCookies`. COOKIE_NONE when there is no session cookie; `out` as the
   * engine's `readCookie` fills it. On a closed manager, undefined without reading (the
   * caller's JS path then throws ManagerClosedError where a lookup would).
   */
  [readCookieHeader](verifier: object, header: string, out: Float64Array): Session<Data> | number | undefined {
    const registry = this.#registry
    if (registry.closed) return undefined
    const found = this.#engine.readCookie!(verifier, header, registry.clock.now(), out)
    if (found >= 0) return new Session<Data>(registry, found, header.slice(out[COOKIE_VALUE_START], out[COOKIE_ID_END]))
    if (found !== COOKIE_NONE) registry.counts.rejectedCookies++
    return found
  }

  /** @internal For the HTTP integrations: counts a cookie treated as "no session". */
  [recordRejectedCookie](): void {
    this.#registry.counts.rejectedCookies++
  }

  /**
   * @internal For the HTTP integrations' login: `create(init)` where the new session replaces
   * `previous`. `init` is checked whole first; `previous` is closed (reason `'destroyed'`) before
   * the new session is made only when the new one needs what it holds: its caller key, or its
   * place at `maxSessions` (a login must never be refused, or evict another user, for want of
   * the room the user's own old session holds). Otherwise the caller closes it after.
   */
  [replaceSession](previous: Session<Data> | undefined, init: SessionInit<Data>): Session<Data> {
    this.#assertOpen('create a session')
    const checked = this.#checkInit(init)
    if (this.#options.keys === 'caller' && checked.key === undefined) {
      throw new TypeError("init.key is required with keys: 'caller'")
    }
    return this.#create(checked, previous)
  }

  /** Iterates live sessions (slot order; expired ones are skipped). */
  *[Symbol.iterator](): Iterator<Session<Data>> {
    const buffer = new Float64Array(256)
    let from = 0
    while (!this.#registry.closed) {
      const count = this.#engine.scan(from, this.#registry.clock.now(), buffer)
      const handles = Array.from(buffer.subarray(0, count))
      for (const handle of handles) {
        if (this.#engine.state(handle) === 1) yield this.#registry.makeSession(handle) as Session<Data>
      }
      if (count < buffer.length) return
      from = slotOf(buffer[count - 1]) + 1
    }
  }

  #suspend(persistence: Persistence): void {
    const registry = this.#registry
    const engine = this.#engine
    try {
      // Sessions past their deadline are not saved: they close, as without persistence.
      const now = registry.clock.now()
      const expired: number[] = []
      forEachAttached(engine, (handle) => {
        if (engine.expiresAt(handle) <= now) expired.push(handle)
      })
      for (const handle of expired) registry.closeExpired(handle, now)
      persistence.save()
      registry.users.clear()
      forEachAttached(engine, (handle) => {
        registry.closeRecords.record(handle, 'shutdown')
        registry.objects.disposeAll(handle, registry.reportError)
        engine.release(handle)
      })
    } finally {
      persistence.unlock()
    }
  }

  #find(id: string, action: string): number {
    if (this.#registry.closed) throw new ManagerClosedError(action)
    if (typeof id !== 'string') return -1
    if (this.#options.keys === 'caller' && !id.isWellFormed()) return -1
    return this.#engine.lookup(id, this.#registry.clock.now(), false)
  }

  #create(init: CheckedInit, replacing?: Session<Data>): Session<Data> {
    const registry = this.#registry
    const engine = this.#engine
    const now = registry.clock.now()
    // Checked again after everything that can run the caller's code: getters of `init` (read
    // by #checkInit) and an 'error' listener told of a bad clock reading may close the manager.
    this.#assertOpen('create a session')
    const { key, user } = init
    if (user !== undefined && this.#options.maxSessionsPerUser !== Infinity) {
      // An eviction cannot be undone: a create its key refuses anyway must not evict first (nor
      // free a live key by evicting its holder, the user's oldest session).
      if (key !== undefined && (registry.claimedKeys.has(key) ||
        (engine.lookup(key, now, false) >= 0 && !(replacing !== undefined && !replacing.closed && replacing.id === key)))) {
        throw new SessionExistsError(key)
      }
      this.#admitUser(user, replacing)
    }
    let handle: number
    if (key === undefined) {
      this.#makeRoom(now, replacing)
      this.#recheckUserRoom(user)
      handle = engine.createSession(now, init.idleTimeout, init.absoluteTimeout, init.data)
    } else {
      const { claimedKeys } = registry
      if (claimedKeys.has(key)) throw new SessionExistsError(key)
      claimedKeys.add(key)
      try {
        const expiredHolder = engine.detachIfExpired(key, now)
        if (expiredHolder >= 0) {
          // Closing the holder makes room as surely as a sweep does, and the room is this
          // create's: its close listeners get only room beyond it, as in #makeRoom.
          const wasMakingRoom = this.#makingRoom
          this.#makingRoom = true
          try {
            registry.finishExpired(expiredHolder, now)
          } finally {
            this.#makingRoom = wasMakingRoom
          }
          this.#assertOpen('create a session')
        }
        if (replacing !== undefined && replacing.id === key) this.#closeReplaced(replacing)
        if (engine.lookup(key, now, false) >= 0) throw new SessionExistsError(key)
        this.#makeRoom(now, replacing)
        this.#recheckUserRoom(user)
        handle = engine.createWithKey(key, now, init.idleTimeout, init.absoluteTimeout)
      } finally {
        claimedKeys.delete(key)
      }
    }
    if (handle === CREATE_KEY_EXISTS) throw new SessionExistsError(init.key as string)

    if (handle === CREATE_TABLE_FULL) {
      registry.counts.rejected++
      throw new SessionLimitError(SLOT_SPACE, 'the engine holds at most 2^25 sessions')
    }
    if (user !== undefined) {
      engine.setUser(handle, user)
      registry.users.set(handle, user)
    }
    if (init.roles !== undefined) engine.setRoles(handle, init.roles)
    if (key !== undefined && init.data.length > 0) engine.setDataEntries(handle, init.data)
    this.#persistence?.commitCreate()
    registry.counts.created++
    const session = new Session<Data>(registry, handle, key ?? engine.createdId)
    registry.timer.note(deadlineOf(now, init.idleTimeout, init.absoluteTimeout))
    if (registry.listeners.count('create') > 0) registry.listeners.emit('create', [session], registry.reportError)
    return session
  }

  /**
   * maxSessionsPerUser for a create of `user`. A login's old session of the same user is closed
   * first when the user is at the cap: it is leaving anyway, and must not cost the user another
   * session (or the login its place, with 'reject').
   */
  #admitUser(user: string, replacing: Session<Data> | undefined): void {
    const registry = this.#registry
    if (replacing !== undefined && registry.users.count(user) >= this.#options.maxSessionsPerUser && !replacing.closed &&
      registry.users.userOf(replacing.handle) === user) this.#closeReplaced(replacing)
    // An eviction of the user's oldest session also frees a place at maxSessions: it is this
    // create's, so a create from its close listeners gets only room beyond it (as in #makeRoom).
    const wasMakingRoom = this.#makingRoom
    this.#makingRoom = true
    try {
      registry.admitUser(user, -1)
    } finally {
      this.#makingRoom = wasMakingRoom
    }
    this.#assertOpen('create a session')
  }

  /**
   * Close listeners that ran while room was made for a create (expired sessions, evictions) may
   * have added sessions of its user: the create gets no place beyond the cap, as at maxSessions.
   */
  #recheckUserRoom(user: string | undefined): void {
    const cap = this.#options.maxSessionsPerUser
    // Without a cap there is nothing to count, and this runs on every create with a user.
    if (user === undefined || cap === Infinity || this.#registry.users.count(user) < cap) return
    this.#registry.counts.userLimit.rejected++
    throw new UserSessionLimitError(user, cap, 'taken by close listeners while room was made')
  }

  /**
   * Files the sessions loaded from the persistence file under their users, then applies
   * maxSessionsPerUser to them (the cap may have been lowered since they were saved): of a user's
   * live sessions, the policy keeps the ones it would have kept as they came, the newest with
   * 'evict-oldest', the oldest with 'reject', and closes the rest as 'evicted'. Sessions past
   * their deadline are left to the first sweep, which closes them as 'expired'.
   */
  #indexRestored(): void {
    const registry = this.#registry
    const engine = this.#engine
    const { users } = registry
    forEachAttached(engine, (handle) => {
      const user = engine.user(handle)
      if (user !== undefined) users.set(handle, user)
    })
    const { maxSessionsPerUser: cap, whenUserFull } = this.#options
    if (cap === Infinity || users.size <= cap) return
    const now = registry.clock.now()
    const over: string[] = []
    users.forEachUser((user, count) => {
      if (count > cap) over.push(user)
    })
    for (const user of over) {
      const live = users.handles(user).filter((handle) => engine.isAlive(handle, now))
      if (live.length <= cap) continue
      // Stable: sessions created in the same ms keep the order they joined the user.
      live.sort((a, b) => engine.createdAt(a) - engine.createdAt(b))
      const closing = whenUserFull === 'evict-oldest' ? live.slice(0, live.length - cap) : live.slice(cap)
      for (const handle of closing) {
        registry.counts.userLimit.evicted++
        registry.close(handle, 'evicted')
      }
    }
  }

  /**
   * maxSessions on the restored sessions (it may have been lowered since they were saved): of
   * the live ones, the policy keeps those it would have kept as they came ('evict': the others
   * go in the engine's eviction order, sessions without a user first, the closest to expiry
   * first; 'reject': the sessions created first stay, as the later ones would have been refused)
   * and closes the rest as 'evicted', during construction (no listener can be attached yet).
   * Sessions found expired are left to the first sweep, so that listeners added right after
   * construction see them close.
   */
  #capRestored(): void {
    const registry = this.#registry
    const engine = this.#engine
    const { maxSessions, whenFull } = this.#options
    const now = registry.clock.now()
    const live: number[] = []
    forEachAttached(engine, (handle) => {
      if (engine.isAlive(handle, now)) live.push(handle)
    })
    if (live.length <= maxSessions) return
    // Stable sorts: ties keep slot order.
    if (whenFull === 'evict') {
      const hasUser = (handle: number): number => (engine.user(handle) === undefined ? 0 : 1)
      live.sort((a, b) => hasUser(a) - hasUser(b) || engine.expiresAt(a) - engine.expiresAt(b))
      for (const handle of live.slice(0, live.length - maxSessions)) registry.close(handle, 'evicted')
      return
    }
    live.sort((a, b) => engine.createdAt(a) - engine.createdAt(b))
    for (const handle of live.slice(maxSessions)) registry.close(handle, 'evicted')
  }

  /**
   * At maxSessions: close what has expired, then evict (the engine's candidate: sessions without
   * a user first, closest to expiry first) or refuse. Ends
   * with the manager open and room for one session, or throws; listeners run meanwhile may
   * close the manager (ManagerClosedError) but cannot take the room.
   */
  #makeRoom(now: number, replacing?: Session<Data>): void {
    const { maxSessions, whenFull } = this.#options
    if (this.#makingRoom) {
      // A create from a close listener while an outer create makes room: one place is the
      // outer create's, and this one may not close or evict anything to get another.
      if (this.#engine.size + 1 < maxSessions) return
      this.#registry.counts.rejected++
      throw new SessionLimitError(maxSessions, 'created by a close listener while another create was making room')
    }
    if (maxSessions === Infinity || this.#engine.size < maxSessions) return
    if (replacing !== undefined && !replacing.closed) {
      this.#closeReplaced(replacing)
      if (this.#engine.size < maxSessions) return
    }
    this.#makingRoom = true
    try {
      this.#registry.sweepExpired(now, Infinity)
      this.#assertOpen('create a session')
      if (this.#engine.size >= maxSessions && whenFull === 'evict') {
        // One victim per session over the limit; listeners that create more do not extend it.
        for (let victims = this.#engine.size - maxSessions + 1; victims > 0; victims--) {
          const victim = this.#engine.evictionCandidate()
          if (victim < 0) break
          this.#registry.close(victim, 'evicted')
        }
        this.#assertOpen('create a session')
      }
    } finally {
      this.#makingRoom = false
    }
    if (this.#engine.size < maxSessions) return
    this.#registry.counts.rejected++
    throw new SessionLimitError(maxSessions, whenFull === 'reject' ? "whenFull: 'reject'" : 'eviction made no room')
  }

  /** Closes the session a create replaces; the room or key it leaves is that create's. */
  #closeReplaced(replaced: Session<Data>): void {
    const wasMakingRoom = this.#makingRoom
    this.#makingRoom = true
    try {
      replaced.close()
    } finally {
      this.#makingRoom = wasMakingRoom
    }
    this.#assertOpen('create a session')
  }

  #checkInit(init: unknown): CheckedInit {
    const options = this.#options
    const checked: CheckedInit = {
      key: undefined, user: undefined, roles: undefined, data: [], idleTimeout: options.idleTimeout, absoluteTimeout: options.absoluteTimeout,
    }
    if (init === undefined) return checked
    // Own enumerable properties only, each read once, unknown ones refused before any value is
    // checked; read in place rather than copied into a null-prototype object first (the copies
    // of init and init.data were a fifth of a create's CPU time).
    const given = checkPlainObjectShape('init', init)
    let key: unknown, user: unknown, roles: unknown, data: unknown, idleTimeout: unknown, absoluteTimeout: unknown
    for (const name of Object.keys(given)) {
      const value = given[name]
      switch (name) {
        case 'key': key = value; break
        case 'user': user = value; break
        case 'roles': roles = value; break
        case 'data': data = value; break
        case 'idleTimeout': idleTimeout = value; break
        case 'absoluteTimeout': absoluteTimeout = value; break
        // Not checkKnownKeys(given): that asks init for its keys again, and a getter read
        // before this key (or a Proxy) could have taken it away by then.
        default: throw unknownKeyError('init', name, INIT_KEYS)
      }
    }
    if (user !== undefined) checked.user = checkString('init.user', user)
    if (roles !== undefined) checked.roles = checkRoles('init.roles', roles)
    if (idleTimeout !== undefined) checked.idleTimeout = checkTimeout('init.idleTimeout', idleTimeout)
    if (absoluteTimeout !== undefined) checked.absoluteTimeout = checkTimeout('init.absoluteTimeout', absoluteTimeout)
    if (key !== undefined) {
      if (options.keys !== 'caller') {
        throw new TypeError("init.key is only accepted with keys: 'caller'; with keys: 'random' the manager issues ids")
      }
      checked.key = checkKey('init.key', key)
    }
    if (data !== undefined) {
      const entries = checkPlainObjectShape('init.data', data)
      for (const name of Object.keys(entries)) {
        checked.data.push(checkString('init.data key', name), encodeDataValue(name, entries[name], true))
      }
      // Counting UTF-8 bytes (of the stored forms) costs a pass over every string; only a finite cap needs it.
      const bytes = options.maxDataBytes === Infinity ? 0 : checked.data.reduce((sum, text) => sum + utf8Bytes(text), 0)
      if (bytes > options.maxDataBytes) {
        throw new RangeError(`init.data is ${bytes} bytes, over maxDataBytes (${options.maxDataBytes})`)
      }
    }
    return checked
  }

  #checkListener(event: unknown, listener: unknown): void {
    if (event !== 'create' && event !== 'close' && event !== 'regenerate' && event !== 'error') {
      throw new RangeError(`event must be 'create', 'close', 'regenerate' or 'error', received ${describe(event)}`)
    }
    if (typeof listener !== 'function') throw new TypeError(`listener must be a function, received ${typeof listener}`)
  }

  #assertOpen(action: string): void {
    if (this.#registry.closed) throw new ManagerClosedError(action)
  }
}

function deadlineOf(now: number, idleTimeout: number, absoluteTimeout: number): number {
  const idle = idleTimeout > 0 ? now + idleTimeout : Infinity
  const absolute = absoluteTimeout > 0 ? now + absoluteTimeout : Infinity
  return Math.min(idle, absolute)
}

/** A request bound by `runRequest`: `current()` reads its `session`. */
interface BoundRequest {
  readonly session?: unknown
}

export type { CloseReason, SessionManagerEvents, SessionStats }
