import { EventEmitter } from 'node:events'
import { SessionManager } from '../manager'
import type { SessionManagerOptions } from '../options'
import type { RedisClientLike } from '../redis/connection'
import type { RedisSessionManager } from '../redis/manager'
import { CONNECT_REDIS_PREFIX, RedisStoreBackend } from '../redis/store-backend'
import type { Session } from '../session'
import { checkInteger, checkKnownKeys, checkPlainObject, isUsableKey } from '../validate'
import { dropAddedCookie, fastifyCookieOptions, fastifyLoadIn, markFastifyLoad } from './fastify-session-loads'
import { mergeChanges } from './record-merge'

/**
 * A session record as express-session and @fastify/session hand it to a store: any JSON-able
 * object; only its cookie's expiry is read, to set the session's lifetime.
 */
export interface StoredSession {
  cookie?: { expires?: Date | string | null; maxAge?: number | null; originalMaxAge?: number | null }
}

// eslint-style `any` for errors: the frameworks' callback types take `any` there.
type Callback<T = void> = (error: any, value?: T) => void

/** Options of `new SessionkeeperStore(options?)`. */
export interface SessionkeeperStoreOptions {
  /** A manager with `keys: 'caller'` to keep the sessions in; by default the store makes its own. */
  manager?: SessionManager
  /** Lifetime in ms of a session whose cookie has no expiry. Default one day. */
  ttl?: number
  /** Options for the manager the store makes (ignored with `manager`); `keys` is always `'caller'`. */
  managerOptions?: Omit<SessionManagerOptions, 'keys'>
  /**
   * Redis mode: a node-redis v5 client (`createClient({ url })`). Sessions then live in Redis,
   * shared by every process, through a RedisSessionManager (`keys: 'caller'`): reads are served
   * from the near cache, touches renew in Redis at most once per touchInterval. Not combinable
   * with `manager` or `managerOptions`.
   */
  redis?: unknown
  /** Redis mode: the key prefix (default `'sk:'`; see RedisSessionManager's `prefix`). */
  prefix?: string
  /** Redis mode: the longest a renewal waits (ms); default a tenth of `ttl`, at most one minute. */
  touchInterval?: number
  /**
   * Redis mode, switching from connect-redis: `true` (its default prefix `'sess:'`) or the prefix
   * its store used. A session not found is looked up there (its JSON serializer) and moved over on
   * first read, keeping what is left of its TTL; no one is logged out.
   */
  migrateConnectRedis?: boolean | string
  /**
   * Redis mode: encrypts the stored sessions in Redis, as RedisSessionManager's `key` (one key of
   * 32 bytes, or a list to rotate: the first seals, every one opens).
   */
  key?: Uint8Array | string | readonly (Uint8Array | string)[]
}

/** The data key under which the serialized session lives in the engine. */
const RECORD = 'express-session'
const DAY = 24 * 3600_000
/**
 * Longest lifetime a cookie's expiry gives (2^52 ms, some 140,000 years): a longer one, up to a
 * maxAge of 1e300, is held to it rather than refused, so the deadline stays a safe integer.
 */
const MAX_TTL = 2 ** 52

/**
 * express-session's `Store` when it is installed (it supplies load, regenerate and createSession,
 * which express-session calls), else a plain EventEmitter: @fastify/session needs only
 * get/set/destroy, and its users need not install express-session.
 */
const StoreBase: new () => EventEmitter = (() => {
  try {
    return (require('express-session') as { Store: new () => EventEmitter }).Store
  } catch {
    return EventEmitter
  }
})()

/**
 * A drop-in session store for express-session, also accepted by @fastify/session. Sessions are
 * keyed by the framework's own session id and kept serialized in sessionkeeper's engine (off the
 * JS heap with the native engine); they expire by themselves, whether or not they are read again.
 */
export class SessionkeeperStore extends StoreBase {
  // Inherited at run time from express-session's Store (declared here so that the class
  // type-checks as one without requiring @types/express-session).
  declare regenerate: (req: any, callback: (error?: any) => any) => void
  declare load: (sid: string, callback: (error: any, session?: any) => any) => void

  readonly #manager: SessionManager | undefined
  readonly #redis: RedisStoreBackend | undefined
  readonly #ttl: number
  readonly #ownsManager: boolean

  constructor(options?: SessionkeeperStoreOptions) {
    super()
    const given = options === undefined ? {} : checkPlainObject('options', options)
    checkKnownKeys('options', given, ['manager', 'ttl', 'managerOptions', 'redis', 'prefix', 'touchInterval', 'migrateConnectRedis', 'key'])
    this.#ttl = given.ttl === undefined ? DAY : checkInteger('options.ttl', given.ttl, 1, Number.MAX_SAFE_INTEGER)
    if (given.redis !== undefined) {
      if (given.manager !== undefined || given.managerOptions !== undefined) {
        throw new TypeError('options.redis cannot be combined with options.manager or options.managerOptions')
      }
      const migrate = given.migrateConnectRedis
      if (migrate !== undefined && typeof migrate !== 'boolean' && (typeof migrate !== 'string' || migrate.length === 0)) {
        throw new TypeError('options.migrateConnectRedis must be true, false or the key prefix connect-redis used')
      }
      this.#redis = new RedisStoreBackend({
        client: given.redis as RedisClientLike,
        prefix: given.prefix as string | undefined,
        touchInterval: given.touchInterval === undefined ? undefined : checkInteger('options.touchInterval', given.touchInterval, 0, 2 ** 31 - 1),
        migrateFrom: migrate === true ? CONNECT_REDIS_PREFIX : typeof migrate === 'string' ? migrate : undefined,
        key: given.key,
      }, this.#ttl)
      this.#manager = undefined
      this.#ownsManager = true
      return
    }
    for (const name of ['prefix', 'touchInterval', 'migrateConnectRedis', 'key']) {
      if (given[name] !== undefined) throw new TypeError(`options.${name} needs options.redis`)
    }
    this.#redis = undefined
    if (given.manager !== undefined) {
      if (!(given.manager instanceof SessionManager)) {
        throw new TypeError('options.manager must be a SessionManager')
      }
      if (given.managerOptions !== undefined) {
        throw new TypeError('options.managerOptions cannot be combined with options.manager')
      }
      this.#manager = given.manager
      this.#ownsManager = false
    } else {
      const managerOptions = given.managerOptions === undefined ? {} : checkPlainObject('options.managerOptions', given.managerOptions)
      if ('keys' in managerOptions) throw new TypeError("options.managerOptions.keys is always 'caller' for a store")
      this.#manager = new SessionManager({ idleTimeout: this.#ttl, ...managerOptions, keys: 'caller' })
      this.#ownsManager = true
    }
    // Sessions are keyed by the framework's id, so the manager must take the caller's keys;
    // a 'random' manager would refuse them at the first set().
    if (this.#manager.keys !== 'caller') {
      throw new TypeError("options.manager must be created with keys: 'caller' to key sessions by the framework's session id")
    }
  }

  /** The in-process manager holding the sessions (`keys: 'caller'`); a TypeError in Redis mode (see `redisManager`). */
  get manager(): SessionManager {
    if (this.#manager === undefined) throw new TypeError('this SessionkeeperStore keeps its sessions in Redis: see store.redisManager')
    return this.#manager
  }

  /** Redis mode: the RedisSessionManager holding the sessions (`keys: 'caller'`); else undefined. */
  get redisManager(): RedisSessionManager | undefined {
    return this.#redis?.manager
  }

  /** The session for `sid`, or null. Reading does not extend it: set and touch do. */
  get<Record extends StoredSession = StoredSession>(sid: string, callback: (error: any, session?: Record | null) => void): void {
    const redis = this.#redis
    if (redis !== undefined) {
      this.#answerAsync(callback, async () => {
        if (typeof sid !== 'string') return null
        return this.#parse<Record>(sid, await redis.get(sid))
      })
      return
    }
    this.#answer(callback, () => this.#parse<Record>(sid, recordOf(this.#peek(sid))))
  }

  /**
   * express-session's own step after a `get` (its Store's, called for a loaded session, never for
   * a new one): the Session it makes is remembered with the record it came from, so that its
   * save writes only what the request changed and never brings back a session that ended while
   * the request held it (see `set`).
   */
  createSession(req: any, sess: any): any {
    const make = (StoreBase.prototype as { createSession?: (req: any, sess: any) => any }).createSession
    if (make === undefined) throw new TypeError('createSession is express-session\'s: install express-session to use it')
    // A cookie the store added only to carry @fastify/session's marks: express-session reads the
    // record as it is stored.
    dropAddedCookie(sess)
    const created = make.call(this, req, sess)
    const record = loadedAs(sess)
    if (record !== undefined && typeof created === 'object' && created !== null) remember(created, record)
    return created
  }

  /**
   * Stores `sess` under `sid`; its deadline becomes its cookie's expiry as of this call (or
   * `ttl` from now for a cookie without one). A live session of other code holding the key (a
   * shared manager) is left alone and the callback gets a SessionExistsError.
   *
   * A session express-session loaded from this store (its `createSession`) is saved as a change
   * of what that request loaded: when another request of the session saved meanwhile, only the
   * top-level properties this request changed (set, replaced or deleted) go over the stored
   * record, and the others' changes stay. And it is never brought back: when it ended while the
   * request held it (a logout, a regenerate, its expiry), the save does nothing, and the cookie
   * finds no session. @fastify/session's Session, which keeps no reference to the object `get`
   * answered, finds the record its request loaded on the cookie options it copied from that
   * answer (fastify-session-loads.ts), and is saved the same way. Any other save (a new
   * session) writes `sess` whole, and makes a new session when none is live under `sid`.
   */
  set(sid: string, sess: StoredSession, callback?: Callback): void {
    const loaded = loadedAs(sess) ?? this.#fastifyLoad(sid, sess)
    const redis = this.#redis
    if (redis !== undefined) {
      this.#answerAsync(callback, async () => {
        const record = JSON.stringify(sess)
        await redis.set(sid, record, this.#ttlOf(sess), loaded === undefined ? undefined : (stored) => this.#saved(loaded, stored, record, sess))
        if (loaded !== undefined) remember(sess, record)
      })
      return
    }
    this.#answer(callback, () => {
      const record = JSON.stringify(sess)
      const existing = this.#findOwn(sid)
      if (loaded !== undefined) {
        const stored = recordOf(existing)
        if (existing !== undefined && stored !== undefined) {
          const saved = this.#saved(loaded, stored, record, sess)
          if (existing.set(RECORD, saved.record)) renew(existing, saved.ttl)
        }
        remember(sess, record)
        return
      }
      const ttl = this.#ttlOf(sess)
      if (existing !== undefined && existing.set(RECORD, record) && renew(existing, ttl)) return
      this.manager.create({ key: sid, idleTimeout: ttl, data: { [RECORD]: record } })
    })
  }

  /** What the request of @fastify/session's Session `sess` loaded under `sid` (see set). */
  #fastifyLoad(sid: unknown, sess: unknown): string | undefined {
    if (typeof sid !== 'string' || typeof sess !== 'object' || sess === null) return undefined
    const options = fastifyCookieOptions(sess)
    if (options === undefined) return undefined
    return fastifyLoadIn(options, sid)
  }

  /**
   * What a save of a loaded session writes over `stored`, and the lifetime it gives: `record`
   * when nothing changed since the request loaded it, else the merge, whose lifetime comes from
   * the cookie it holds (another request's "remember me" stays with the lifetime it set).
   */
  #saved(loaded: string, stored: string, record: string, sess: StoredSession): { record: string; ttl: number } {
    if (stored === loaded) return { record, ttl: this.#ttlOf(sess) }
    const merged = mergeChanges(loaded, stored, record)
    return { record: merged, ttl: this.#ttlOf(JSON.parse(merged) as StoredSession) }
  }

  /**
   * Extends a live session to its cookie's expiry as of this call, and stores that cookie (its
   * new `expires`) in the record, as express-session's MemoryStore does, without rewriting the
   * rest (express-session's `rolling`/`resave: false`). When another request saved a cookie
   * change since this one loaded the session (a "remember me", a shortened lifetime), that cookie
   * stays and the session is renewed by its own `maxAge`. An unknown or expired session is left
   * gone.
   */
  touch(sid: string, sess: StoredSession, callback?: Callback): void {
    const loaded = loadedAs(sess)
    const redis = this.#redis
    if (redis !== undefined) {
      // The record is not rewritten in Redis (as connect-redis's touch): only the lifetime, which
      // comes from the request's own cookie unless another request saved since this one loaded
      // (touched), so the usual touch parses nothing.
      this.#answerAsync(callback, () => redis.touch(sid, (stored) => this.#ttlOf(stored === loaded ? sess : touched(sess, loaded, stored))))
      return
    }
    this.#answer(callback, () => {
      const existing = this.#findOwn(sid)
      const record = recordOf(existing)
      if (existing === undefined || record === undefined) return
      const stored = touched(sess, loaded, record)
      if (existing.set(RECORD, JSON.stringify(stored))) renew(existing, this.#ttlOf(stored))
    })
  }

  /** Destroys the store's session `sid`, if it has one. */
  destroy(sid: string, callback?: Callback): void {
    const redis = this.#redis
    if (redis !== undefined) {
      this.#answerAsync(callback, () => redis.destroy(sid))
      return
    }
    this.#answer(callback, () => {
      this.#findOwn(sid)?.close()
    })
  }

  /**
   * Every live session of this store, by id (as express-session's MemoryStore returns them).
   * Like `ids`, `length` and `clear`, it sees only the sessions this store wrote, not those of
   * other code sharing its manager.
   */
  all<Stored extends StoredSession = StoredSession>(callback: (error: any, sessions?: { [sid: string]: Stored } | null) => void): void {
    const redis = this.#redis
    if (redis !== undefined) {
      this.#answerAsync(callback, async () => {
        const sessions: { [sid: string]: Stored } = {}
        for (const session of await redis.own()) sessions[session.id] = JSON.parse(session.get('express-session') as string) as Stored
        return sessions
      })
      return
    }
    this.#answer(callback, () => {
      const sessions: { [sid: string]: Stored } = {}
      for (const session of this.manager) {
        const record = recordOf(session)
        if (record !== undefined) sessions[session.id] = JSON.parse(record) as Stored
      }
      return sessions
    })
  }

  /** The ids of the store's live sessions. */
  ids(callback: Callback<string[]>): void {
    const redis = this.#redis
    if (redis !== undefined) this.#answerAsync(callback, async () => (await redis.own()).map((session) => session.id))
    else this.#answer(callback, () => this.#own().map((session) => session.id))
  }

  /** How many of the store's sessions are live. */
  length(callback: Callback<number>): void {
    const redis = this.#redis
    if (redis !== undefined) this.#answerAsync(callback, async () => (await redis.own()).length)
    else this.#answer(callback, () => this.#own().length)
  }

  /** Destroys every session of the store (other code's sessions in a shared manager stay). */
  clear(callback?: Callback): void {
    const redis = this.#redis
    if (redis !== undefined) {
      this.#answerAsync(callback, async () => {
        for (const session of await redis.own()) await session.close()
      })
      return
    }
    this.#answer(callback, () => {
      for (const session of this.#own()) session.close()
    })
  }

  /**
   * Closes the manager the store made (a manager given to it stays open). In Redis mode it
   * stops the store's sweeper and subscription (resolving when done); the client stays yours.
   */
  close(): Promise<void> | void {
    if (this.#redis !== undefined) return this.#redis.close()
    if (this.#ownsManager) this.manager.close()
  }

  /** A stored record as `get` answers it (null for none), remembered for `createSession` and @fastify/session. */
  #parse<Record extends StoredSession>(sid: string, record: string | undefined): Record | null {
    if (record === undefined) return null
    const parsed = JSON.parse(record) as Record
    if (typeof parsed === 'object' && parsed !== null) {
      remember(parsed, record)
      // Every answer: a store cannot tell which framework asks (one store may serve both, and
      // after a restart it has seen neither), and an unmarked @fastify/session load saves whole.
      markFastifyLoad(parsed, sid, record)
    }
    return parsed
  }

  /** The live session `sid`, without renewing it; undefined for a key no session can have. */
  #peek(sid: unknown): Session | undefined {
    return typeof sid === 'string' && isUsableKey(sid) ? this.manager.peek(sid) : undefined
  }

  /** The store's live session `sid` (not another code's under the same key in a shared manager). */
  #findOwn(sid: unknown): Session | undefined {
    const session = this.#peek(sid)
    return session !== undefined && isOwn(session) ? session : undefined
  }

  /** The store's live sessions. */
  #own(): Session[] {
    return Array.from(this.manager).filter(isOwn)
  }

  /**
   * The lifetime left as of this call, like the established stores: the cookie's expiry (wall
   * time, so measured against Date.now()), else its maxAge, else ttl; at least 1 ms, at most
   * {@link MAX_TTL}.
   */
  #ttlOf(sess: StoredSession): number {
    const cookie = sess?.cookie
    const expires = cookie?.expires
    if (expires !== undefined && expires !== null) {
      const remaining = new Date(expires).getTime() - Date.now()
      if (Number.isFinite(remaining)) return Math.min(MAX_TTL, Math.max(1, Math.ceil(remaining)))
    }
    const maxAge = cookie?.maxAge ?? cookie?.originalMaxAge
    if (typeof maxAge === 'number' && Number.isFinite(maxAge)) return Math.min(MAX_TTL, Math.max(1, Math.ceil(maxAge)))
    return this.#ttl
  }

  /** Redis mode: the callback gets the result or the error (a RedisUnavailableError when Redis is). */
  #answerAsync<T>(callback: Callback<T> | undefined, work: () => Promise<T>): void {
    let promise: Promise<T>
    try {
      promise = work()
    } catch (error) {
      promise = Promise.reject(error)
    }
    // Through nextTick, so that a callback that throws throws as an uncaught exception (as with
    // the in-process mode), not as a rejection of this promise.
    promise.then(
      (value) => { if (callback !== undefined) process.nextTick(callback, null, value) },
      (error: unknown) => { if (callback !== undefined) process.nextTick(callback, error) },
    )
  }

  /**
   * Callbacks are always called asynchronously, with setImmediate as MemoryStore does (after
   * pending I/O, not ahead of it), and errors go to them.
   */
  #answer<T>(callback: Callback<T> | undefined, work: () => T): void {
    let value: T
    try {
      value = work()
    } catch (error) {
      if (callback !== undefined) setImmediate(callback, error)
      return
    }
    if (callback !== undefined) setImmediate(callback, null, value)
  }
}

/**
 * The store's record in `session`: express-session's JSON text, kept as a string value (stored
 * as itself, since it starts with '{'). Undefined for a session without one.
 */
function recordOf(session: Session | undefined): string | undefined {
  const record = session?.get(RECORD)
  return typeof record === 'string' ? record : undefined
}

/**
 * The record an object was parsed from (`get`'s answer), or that a request's Session was made
 * from and last saved as: a property of the object under a symbol of this module, not
 * enumerable, so that JSON.stringify, for...in and express-session's change check skip it.
 * WeakMaps keyed by these per-request objects made young collections three times as long
 * (267-290 ms against 80-86 over 250,000 loads and saves: V8 traces ephemerons apart).
 */
const LOADED_AS = Symbol('sessionkeeper loaded record')

function loadedAs(object: unknown): string | undefined {
  if (typeof object !== 'object' || object === null) return undefined
  const record = (object as { [LOADED_AS]?: unknown })[LOADED_AS]
  return typeof record === 'string' ? record : undefined
}

function remember(object: object, record: string): void {
  Object.defineProperty(object, LOADED_AS, { value: record, writable: true, configurable: true, enumerable: false })
}

/**
 * The stored record `stored` (JSON) with the cookie a touch leaves in it: the request's own,
 * unless the stored cookie changed since the request loaded the session (`loaded`), which then
 * stays, its expiry renewed by its own maxAge. The request's own cookie too when nothing is
 * known of what it loaded, or nothing is stored.
 */
function touched(sess: StoredSession, loaded: string | undefined, stored: string | undefined): StoredSession {
  if (stored === undefined) return sess
  const record = JSON.parse(stored) as StoredSession
  // The usual touch: nothing saved since the request loaded it, one string compare.
  if (loaded === undefined || loaded === stored || JSON.stringify((JSON.parse(loaded) as StoredSession).cookie) === JSON.stringify(record.cookie)) {
    record.cookie = sess.cookie
    return record
  }
  const maxAge = record.cookie?.originalMaxAge
  if (typeof maxAge === 'number' && Number.isFinite(maxAge)) record.cookie = { ...record.cookie, expires: new Date(Date.now() + maxAge).toISOString() }
  return record
}

/** Sessions the store wrote hold its record; other code sharing the manager's do not. */
function isOwn(session: Session): boolean {
  return session.keys().includes(RECORD)
}

/**
 * Makes the session's deadline `ttl` from now: renews it first (it is alive, so that cannot
 * fail for a session found alive in this call), then sets its idle timeout, which counts from
 * that renewal. Both steps are synchronous, so no one sees the session between them; setting
 * the timeout first would count it from the previous use and could put the deadline in the
 * past, losing a live session. False when it had already expired (it stays gone).
 */
function renew(session: Session, ttl: number): boolean {
  if (!session.touch()) return false
  if (session.idleTimeout !== ttl) session.idleTimeout = ttl
  return true
}
