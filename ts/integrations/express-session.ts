import { EventEmitter } from 'node:events'
import { SessionManager } from '../manager'
import type { SessionManagerOptions } from '../options'
import type { Session } from '../session'
import { checkInteger, checkKnownKeys, checkPlainObject, isUsableKey } from '../validate'

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
}

/** The data key under which the serialized session lives in the engine. */
const RECORD = 'express-session'
const DAY = 24 * 3600_000

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
  declare createSession: (req: any, session: any) => any

  /** The manager holding the sessions (`keys: 'caller'`). */
  readonly manager: SessionManager
  readonly #ttl: number
  readonly #ownsManager: boolean

  constructor(options?: SessionkeeperStoreOptions) {
    super()
    const given = options === undefined ? {} : checkPlainObject('options', options)
    checkKnownKeys('options', given, ['manager', 'ttl', 'managerOptions'])
    this.#ttl = given.ttl === undefined ? DAY : checkInteger('options.ttl', given.ttl, 1, Number.MAX_SAFE_INTEGER)
    if (given.manager !== undefined) {
      if (!(given.manager instanceof SessionManager)) {
        throw new TypeError('options.manager must be a SessionManager')
      }
      if (given.managerOptions !== undefined) {
        throw new TypeError('options.managerOptions cannot be combined with options.manager')
      }
      this.manager = given.manager
      this.#ownsManager = false
    } else {
      const managerOptions = given.managerOptions === undefined ? {} : checkPlainObject('options.managerOptions', given.managerOptions)
      if ('keys' in managerOptions) throw new TypeError("options.managerOptions.keys is always 'caller' for a store")
      this.manager = new SessionManager({ idleTimeout: this.#ttl, ...managerOptions, keys: 'caller' })
      this.#ownsManager = true
    }
    // Sessions are keyed by the framework's id, so the manager must take the caller's keys;
    // a 'random' manager would refuse them at the first set().
    if (this.manager.keys !== 'caller') {
      throw new TypeError("options.manager must be created with keys: 'caller' to key sessions by the framework's session id")
    }
  }

  /** The session for `sid`, or null. Reading does not extend it: set and touch do. */
  get<Record extends StoredSession = StoredSession>(sid: string, callback: (error: any, session?: Record | null) => void): void {
    this.#answer(callback, () => {
      const session = this.#find(sid)
      const record = session?.get(RECORD)
      return record === undefined ? null : (JSON.parse(record) as Record)
    })
  }

  /** Stores `sess` under `sid` and restarts its lifetime from its cookie. */
  set(sid: string, sess: StoredSession, callback?: Callback): void {
    this.#answer(callback, () => {
      const ttl = this.#ttlOf(sess)
      const record = JSON.stringify(sess)
      const existing = this.#find(sid)
      if (existing === undefined) {
        this.manager.create({ key: sid, idleTimeout: ttl, data: { [RECORD]: record } })
        return
      }
      existing.set(RECORD, record)
      this.#extend(existing, ttl)
    })
  }

  /** Extends the session's lifetime without rewriting it (express-session's `rolling`/`resave: false`). */
  touch(sid: string, sess: StoredSession, callback?: Callback): void {
    this.#answer(callback, () => {
      const existing = this.#find(sid)
      if (existing !== undefined) this.#extend(existing, this.#ttlOf(sess))
    })
  }

  destroy(sid: string, callback?: Callback): void {
    this.#answer(callback, () => {
      if (typeof sid === 'string' && isUsableKey(sid)) this.manager.destroy(sid)
    })
  }

  /** Every live session, by id (as express-session's MemoryStore returns them). */
  all<Stored extends StoredSession = StoredSession>(callback: (error: any, sessions?: { [sid: string]: Stored } | null) => void): void {
    this.#answer(callback, () => {
      const sessions: { [sid: string]: Stored } = {}
      for (const session of this.manager) {
        const record = session.get(RECORD)
        if (record !== undefined) sessions[session.id] = JSON.parse(record) as Stored
      }
      return sessions
    })
  }

  /** The ids of every live session. */
  ids(callback: Callback<string[]>): void {
    this.#answer(callback, () => Array.from(this.manager, (session) => session.id))
  }

  /** How many sessions are live. */
  length(callback: Callback<number>): void {
    this.#answer(callback, () => {
      let count = 0
      for (const _ of this.manager) count++
      return count
    })
  }

  /** Destroys every session. */
  clear(callback?: Callback): void {
    this.#answer(callback, () => {
      for (const session of Array.from(this.manager)) session.close()
    })
  }

  /** Closes the manager the store made (a manager given to it stays open). */
  close(): void {
    if (this.#ownsManager) this.manager.close()
  }

  #find(sid: unknown): Session | undefined {
    return typeof sid === 'string' && isUsableKey(sid) ? this.manager.peek(sid) : undefined
  }

  /** Lifetime from the cookie, like the established stores: its expiry, else its maxAge, else ttl. */
  #ttlOf(sess: StoredSession): number {
    const cookie = sess?.cookie
    const expires = cookie?.expires
    if (expires !== undefined && expires !== null) {
      const remaining = new Date(expires).getTime() - Date.now()
      if (Number.isFinite(remaining)) return Math.max(1, Math.ceil(remaining))
    }
    const maxAge = cookie?.maxAge ?? cookie?.originalMaxAge
    if (typeof maxAge === 'number' && Number.isFinite(maxAge)) return Math.max(1, Math.ceil(maxAge))
    return this.#ttl
  }

  #extend(session: Session, ttl: number): void {
    if (session.idleTimeout !== ttl) session.idleTimeout = ttl
    session.touch()
  }

  /** Callbacks are always called asynchronously, as MemoryStore does, and errors go to them. */
  #answer<T>(callback: Callback<T> | undefined, work: () => T): void {
    let value: T
    try {
      value = work()
    } catch (error) {
      if (callback !== undefined) process.nextTick(callback, error)
      return
    }
    if (callback !== undefined) process.nextTick(callback, null, value)
  }
}
