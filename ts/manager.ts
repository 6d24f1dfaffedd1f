import { AsyncLocalStorage } from 'node:async_hooks'
import { CREATE_KEY_EXISTS, CREATE_TABLE_FULL, type Engine, SLOT_SPACE, slotOf } from './engine'
import { ManagerClosedError, SessionExistsError, SessionLimitError } from './errors'
import { encodeDataValue, type JsonFields, type JsonValue } from './data-codec'
import { recordRejectedCookie, replaceSession } from './internal'
import { createEngine } from './load-engine'
import { type ResolvedOptions, type SessionManagerOptions, resolveOptions } from './options'
import { JournaledEngine } from './persist/journaled-engine'
import { forEachAttached, Persistence } from './persist/persistence'
import { type CloseReason, Registry, type SessionManagerEvents, type SessionStats } from './registry'
import { Session } from './session'
import {
  checkKey, checkKnownKeys, checkPlainObject, checkRoles, checkString, checkTimeout, describe, utf8Bytes,
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
  /** What `run` bound: a session, or a function `current()` asks each time (it follows the request). */
  readonly #context = new AsyncLocalStorage<Session<Data> | (() => Session<Data> | undefined) | undefined>()
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
      )
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
    const { closed } = this.#registry.sweepExpired(this.#registry.clock.now(), Infinity)
    this.#registry.timer.rearm()
    return closed
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
        registry.close(handle, engine.expiresAt(handle) <= now ? 'expired' : 'shutdown')
        // Time goes on while close listeners and disposers run, and what they read (a later
        // session's closeReason is 'expired' once its deadline has passed) must match the
        // reason its close event then carries. Without them, one reading serves the whole call.
        if (registry.listeners.count('close') > 0 || registry.objects.sessionsHoldingObjects > 0) now = registry.clock.now()
      }
      if (count < buffer.length) break
      from = slotOf(buffer[count - 1]) + 1
    }
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
    const session = typeof bound === 'function' ? bound() : bound
    return session instanceof Session && !session.closed ? session as Session<Data> : undefined
  }

  /** Counters since the manager was made. */
  stats(): SessionStats {
    const { counts } = this.#registry
    return {
      live: this.#engine.size,
      created: counts.created,
      closed: { ...counts.closed },
      rejected: counts.rejected,
      listenerErrors: counts.listenerErrors,
      rejectedCookies: counts.rejectedCookies,
      clockErrors: this.#registry.clock.failures,
      ...(this.#persistence === undefined ? {} : { persistence: this.#persistence.stats() }),
    }
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
      for (const handle of expired) registry.close(handle, 'expired')
      persistence.save()
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
    const { key } = init
    let handle: number
    if (key === undefined) {
      this.#makeRoom(now, replacing)
      handle = engine.create(now, init.idleTimeout, init.absoluteTimeout)
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
            registry.finishClose(expiredHolder, 'expired')
          } finally {
            this.#makingRoom = wasMakingRoom
          }
          this.#assertOpen('create a session')
        }
        if (replacing !== undefined && replacing.id === key) this.#closeReplaced(replacing)
        if (engine.lookup(key, now, false) >= 0) throw new SessionExistsError(key)
        this.#makeRoom(now, replacing)
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
    if (init.user !== undefined) engine.setUser(handle, init.user)
    if (init.roles !== undefined) engine.setRoles(handle, init.roles)
    if (init.data.length > 0) engine.setDataEntries(handle, init.data)
    this.#persistence?.commitCreate()
    registry.counts.created++
    const session = new Session<Data>(registry, handle, init.key ?? (engine.id(handle) as string))
    registry.timer.note(deadlineOf(now, init.idleTimeout, init.absoluteTimeout))
    if (registry.listeners.count('create') > 0) registry.listeners.emit('create', [session], registry.reportError)
    return session
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
    // Own properties only, each read once (checkPlainObject copies them), even when omitted.
    const given = checkPlainObject('init', init === undefined ? {} : init)
    checkKnownKeys('init', given, INIT_KEYS)
    const checked: CheckedInit = {
      key: undefined,
      user: given.user === undefined ? undefined : checkString('init.user', given.user),
      roles: given.roles === undefined ? undefined : checkRoles('init.roles', given.roles),
      data: [],
      idleTimeout: given.idleTimeout === undefined ? this.#options.idleTimeout : checkTimeout('init.idleTimeout', given.idleTimeout),
      absoluteTimeout: given.absoluteTimeout === undefined
        ? this.#options.absoluteTimeout
        : checkTimeout('init.absoluteTimeout', given.absoluteTimeout),
    }
    if (given.key !== undefined) {
      if (this.#options.keys !== 'caller') {
        throw new TypeError("init.key is only accepted with keys: 'caller'; with keys: 'random' the manager issues ids")
      }
      checked.key = checkKey('init.key', given.key)
    }
    if (given.data !== undefined) {
      const data = checkPlainObject('init.data', given.data)
      for (const key in data) {
        if (!Object.hasOwn(data, key)) continue
        checked.data.push(checkString('init.data key', key), encodeDataValue(key, data[key], true))
      }
      // Counting UTF-8 bytes (of the stored forms) costs a pass over every string; only a finite cap needs it.
      const bytes = this.#options.maxDataBytes === Infinity ? 0 : checked.data.reduce((sum, text) => sum + utf8Bytes(text), 0)
      if (bytes > this.#options.maxDataBytes) {
        throw new RangeError(`init.data is ${bytes} bytes, over maxDataBytes (${this.#options.maxDataBytes})`)
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

export type { CloseReason, SessionManagerEvents, SessionStats }
