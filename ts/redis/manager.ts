import { AsyncLocalStorage } from 'node:async_hooks'
import { encodeDataValue, type JsonFields, type JsonValue } from '../data-codec'
import { ManagerClosedError, SessionExistsError } from '../errors'
import { closedByCreate, recordRejectedCookie, redisCommand, redisNow, replaceSession } from '../internal'
import type { PageOptions, SessionInit } from '../manager'
import {
  checkChoice, checkInteger, checkKey, checkKnownKeys, checkPlainObject, checkRoles, checkString, checkTimeout, describe, isUsableKey,
  MAX_KEY_BYTES,
} from '../validate'
import { RedisCore, type RedisSessionManagerEvents, type RedisSessionStats } from './core'
import { type RedisSessionManagerOptions, resolveRedisOptions } from './options'
import { newRecordFields } from './record'
import { SCRIPTS } from './scripts'
import { RedisSession } from './session'

/** A checked init: what a new record holds, before it is given an id. */
interface RecordInit {
  idleTimeout: number
  absoluteTimeout: number
  user: string | undefined
  roles: string[] | undefined
  /** Data key, stored form, ... */
  data: string[]
}

const INIT_KEYS = ['key', 'user', 'roles', 'data', 'idleTimeout', 'absoluteTimeout'] as const
/** Fresh random ids tried when one is taken (2^-128 odds each) before giving up. */
const ID_ATTEMPTS = 3
const BASE64URL = /^[A-Za-z0-9_-]+$/
const HEX = /^[0-9a-f]+$/

/** What `closeUser(user, options)` of a RedisSessionManager accepts. */
export interface RedisCloseUserOptions<Data extends JsonFields<Data> = Record<string, JsonValue>> {
  /** A session to leave open ("log out my other devices"); ignored when it is not the user's or is closed. */
  except?: RedisSession<Data>
  /** The reason the `'close'` events carry: `'destroyed'` (default) or `'evicted'`. */
  reason?: 'destroyed' | 'evicted'
}

/** One page of `RedisSessionManager.page()`: `cursor` continues after it, undefined after the last page. */
export interface RedisSessionPage<Data extends JsonFields<Data> = Record<string, JsonValue>> {
  sessions: RedisSession<Data>[]
  cursor: string | undefined
}

/** A Redis page cursor: 'i' and the last id the page looked at, as UTF-8 in base64url. */
const REDIS_CURSOR_TAG = 'i'
const REDIS_CURSOR = /^i[A-Za-z0-9_-]+$/
/** Room for the longest id: a caller key of MAX_KEY_BYTES UTF-8 bytes. */
const REDIS_CURSOR_MAX = 1 + Math.ceil((MAX_KEY_BYTES * 4) / 3)
const PAGE_LIMIT = 10_000

/**
 * Sessions shared by many processes and machines through Redis: the SessionManager's API with
 * Promises. Redis holds the truth; each process keeps a near cache of records it read recently
 * (answered without a round trip, invalidated by every change elsewhere) and sweeps expired
 * sessions under a lease, so `'close'` fires once across all processes. See README "Many
 * processes: Redis" for the consistency bounds.
 *
 * ```ts
 * const manager = new RedisSessionManager({ client: createClient({ url }), idleTimeout: 30 * 60_000 })
 * const session = await manager.create({ user: 'alice' })
 * const same = await manager.get(session.id)   // any process
 * ```
 */
export class RedisSessionManager<Data extends JsonFields<Data> = Record<string, JsonValue>> implements AsyncIterable<RedisSession<Data>> {
  readonly #core: RedisCore
  readonly #context = new AsyncLocalStorage<RedisSession<Data> | (() => RedisSession<Data> | undefined) | undefined>()
  readonly #idLength: number
  readonly #idAlphabet: RegExp

  constructor(options: RedisSessionManagerOptions) {
    const resolved = resolveRedisOptions(options)
    this.#core = new RedisCore(resolved)
    this.#idLength = resolved.idEncoding === 'hex' ? resolved.idBytes * 2 : Math.ceil((resolved.idBytes * 4) / 3)
    this.#idAlphabet = resolved.idEncoding === 'hex' ? HEX : BASE64URL
  }

  /**
   * Resolves once the client and the invalidation subscription are connected and the sweeper
   * runs. Every call waits for it on its own; await it to learn of a bad URL at start-up.
   */
  ready(): Promise<void> {
    return this.#core.ready()
  }

  /** `'random'` or `'caller'`. */
  get keys(): 'random' | 'caller' {
    return this.#core.options.keys
  }

  /** The key prefix in use, with the layout version (`'sk:1:'` by default). */
  get prefix(): string {
    return this.#core.options.prefix
  }

  /** Refused: no process knows the count without asking Redis. Use `await manager.count()`. */
  get size(): never {
    throw new TypeError('RedisSessionManager has no size: the sessions live in Redis; use await manager.count()')
  }

  /** Live sessions in Redis (from the deadline index: sessions past their deadline are not counted). */
  async count(): Promise<number> {
    this.#assertOpen('count sessions')
    const reply = await this.#core.run('count sessions', SCRIPTS.sequence, [])
    const now = Number(reply[0])
    const count = await this.#core.command('count sessions', ['ZCOUNT', `${this.prefix}deadlines`, `(${now}`, '+inf'])
    return Number(count)
  }

  /** The live session with this id, renewed (at most once per touchInterval); undefined when there is none. */
  async get(id: string): Promise<RedisSession<Data> | undefined> {
    return this.#lookup(id, true, 'get a session')
  }

  /** Like `get`, without renewing. */
  async peek(id: string): Promise<RedisSession<Data> | undefined> {
    return this.#lookup(id, false, 'peek at a session')
  }

  /** True when a live session has this id. Does not renew. */
  async has(id: string): Promise<boolean> {
    return (await this.#lookup(id, false, 'look up a session')) !== undefined
  }

  /**
   * Creates a session (`'create'` fires here). With `keys: 'caller'`, `init.key` is required and
   * is taken only if no live session holds it (SessionExistsError), in one atomic step.
   */
  async create(init?: SessionInit<Data>): Promise<RedisSession<Data>> {
    this.#assertOpen('create a session')
    const checked = this.#checkInit(init)
    if (this.keys === 'caller' && checked.key === undefined) throw new TypeError("init.key is required with keys: 'caller'")
    return this.#create(checked.key, checked.record)
  }

  /**
   * The live session with this id (renewed), or a new one: with `keys: 'random'` a fresh id
   * (a client's id is never adopted), with `keys: 'caller'` the given key.
   */
  async getOrCreate(id: string, init?: Omit<SessionInit<Data>, 'key'>): Promise<RedisSession<Data>> {
    for (let attempt = 0; attempt < ID_ATTEMPTS; attempt++) {
      const found = await this.get(id)
      if (found !== undefined) return found
      this.#assertOpen('create a session')
      const checked = this.#checkInit(init)
      if (checked.key !== undefined) throw new TypeError('getOrCreate takes the key as its first argument, not in init.key')
      if (this.keys === 'random') return this.#create(undefined, checked.record)
      try {
        return await this.#create(checkKey('id', id), checked.record)
      } catch (error) {
        // Another process created it meanwhile: take that one.
        if (!(error instanceof SessionExistsError)) throw error
      }
    }
    throw new SessionExistsError(id)
  }

  /** Closes the session everywhere (`'close'` fires here, once); false when there was none live. */
  async destroy(id: string): Promise<boolean> {
    this.#assertOpen('destroy a session')
    if (!this.#plausible(id)) return false
    return (await this.#core.destroy(id)) === 'destroyed'
  }

  /**
   * The live sessions of `user` across every process, oldest first (by `createdAt`), read in one
   * round trip from the per-user sets the scripts keep with each session; not renewed.
   */
  async sessionsOf(user: string): Promise<RedisSession<Data>[]> {
    this.#assertOpen('list the sessions of a user')
    checkString('user', user)
    const found = await this.#core.sessionsOf(user)
    found.sort((a, b) => a[1].createdAt - b[1].createdAt || (a[0] < b[0] ? -1 : 1))
    return found.map(([id, record]) => new RedisSession<Data>(this.#core, id, record))
  }

  /**
   * Closes every live session of `user`, in every process, but `options.except`, with reason
   * `options.reason` (`'destroyed'` by default); resolves how many. One atomic script: once it
   * resolves, no process serves any of them (each invalidation has reached every process, as
   * after `destroy`). `'close'` fires here, once per session; sessions past their deadline close
   * as `'expired'` and are not counted.
   */
  async closeUser(user: string, options?: RedisCloseUserOptions<Data>): Promise<number> {
    this.#assertOpen('close the sessions of a user')
    checkString('user', user)
    const given = checkPlainObject('options', options === undefined ? {} : options)
    checkKnownKeys('options', given, ['except', 'reason'])
    let except = ''
    if (given.except !== undefined) {
      if (!(given.except instanceof RedisSession)) throw new TypeError(`options.except must be a RedisSession, received ${describe(given.except)}`)
      if (!given.except.belongsTo(this.#core)) throw new RangeError('options.except must be a session of this manager')
      // A handle this process knows closed excepts nothing: with keys: 'caller' its id may name
      // a later session of the user by now, which it must not keep open.
      if (!given.except.closed) except = given.except.id
    }
    const reason = given.reason === undefined ? 'destroyed' : checkChoice('options.reason', given.reason, ['destroyed', 'evicted'] as const)
    return this.#core.closeUser(user, except, reason)
  }

  /**
   * A page of live sessions, in id order (bytes), and the cursor of the next one (undefined
   * after the last page). A session whose id is live from the first page to the last is in
   * exactly one page, whatever is created, renewed, closed or swept meanwhile and from whatever
   * process: the scripts keep a set of live ids (`ids`, every score 0) in the same atomic step as
   * the deadline index, and a page is one script that takes the next `limit` ids strictly after
   * the cursor's and reads them. A session created or closed during the paging may or may not
   * appear; one regenerated meanwhile is both (its old id closed, its new one created), so it
   * may be in no page or in two, under its two ids. At most `limit` sessions (1 to 10,000,
   * default 100); fewer, even none, when ids in range belong to sessions past their deadline.
   * Sessions are not renewed. Cursors are opaque strings (`'i'` and the last id looked at, in
   * base64url): a malformed one is a TypeError/RangeError naming `options.cursor`, and a well
   * formed one starts the page after that id; it only ever reads members of the set.
   * During a rolling deploy from a release without the set, a session created by the older
   * release is in pages once this release renews it, writes a timeout or regenerates it (see
   * README "Paging on Redis").
   */
  async page(options?: PageOptions): Promise<RedisSessionPage<Data>> {
    const given = checkPlainObject('options', options === undefined ? {} : options)
    checkKnownKeys('options', given, ['cursor', 'limit'])
    const limit = given.limit === undefined ? 100 : checkInteger('options.limit', given.limit, 1, PAGE_LIMIT)
    const after = given.cursor === undefined ? '' : this.#cursorId(given.cursor)
    this.#assertOpen('page through sessions')
    const { found, last } = await this.#core.page(after, limit)
    return {
      sessions: found.map(([id, record]) => new RedisSession<Data>(this.#core, id, record)),
      cursor: last === undefined ? undefined : REDIS_CURSOR_TAG + Buffer.from(last, 'utf8').toString('base64url'),
    }
  }

  /** The id a cursor of page() names; a TypeError or RangeError for anything page() cannot have made. */
  #cursorId(cursor: unknown): string {
    if (typeof cursor !== 'string') throw new TypeError(`options.cursor must be a string from page(), received ${describe(cursor)}`)
    const refuse = () => new RangeError(`options.cursor is not a cursor of page(), received ${describe(cursor)}`)
    if (cursor.length > REDIS_CURSOR_MAX || !REDIS_CURSOR.test(cursor)) throw refuse()
    const encoded = cursor.slice(REDIS_CURSOR_TAG.length)
    const id = Buffer.from(encoded, 'base64url').toString('utf8')
    // One spelling per id (no stray bits) of valid UTF-8 (a lone byte decodes to U+FFFD, which
    // encodes back otherwise), and an id this manager could have made: get()'s test.
    if (Buffer.from(id, 'utf8').toString('base64url') !== encoded || !this.#plausible(id)) throw refuse()
    return id
  }

  /**
   * Closes what is due now, if this process holds (or takes) the sweep lease; resolves how many
   * it closed. The background sweeper does this every `resolution` ms on its own.
   */
  async sweep(): Promise<number> {
    this.#assertOpen('sweep')
    return this.#core.sweep()
  }

  /**
   * Stops the sweeper, gives up its lease and the invalidation subscription. Sessions stay in
   * Redis for the other processes (no `'close'` events); the client stays open (it is yours).
   * Idempotent.
   */
  async close(): Promise<void> {
    await this.#core.close()
  }

  on<E extends keyof RedisSessionManagerEvents>(event: E, listener: (...args: RedisSessionManagerEvents<RedisSession<Data>>[E]) => unknown): this {
    this.#checkListener(event, listener)
    this.#core.listeners.add(event, listener, false)
    return this
  }

  once<E extends keyof RedisSessionManagerEvents>(event: E, listener: (...args: RedisSessionManagerEvents<RedisSession<Data>>[E]) => unknown): this {
    this.#checkListener(event, listener)
    this.#core.listeners.add(event, listener, true)
    return this
  }

  off<E extends keyof RedisSessionManagerEvents>(event: E, listener: (...args: RedisSessionManagerEvents<RedisSession<Data>>[E]) => unknown): this {
    this.#core.listeners.remove(event, listener)
    return this
  }

  /** As `SessionManager.run`: binds a session (or a function returning one) to the async context of `fn`. */
  run<R>(session: RedisSession<Data> | undefined | (() => RedisSession<Data> | undefined), fn: () => R): R {
    if (session !== undefined && typeof session !== 'function' && !(session instanceof RedisSession)) {
      throw new TypeError('run(session, fn): session must be a RedisSession, a function returning one, or undefined')
    }
    if (typeof fn !== 'function') throw new TypeError('run(session, fn): fn must be a function')
    return this.#context.run(session, fn)
  }

  /** The session bound by `run`, unless closed since; undefined outside `run`. */
  current(): RedisSession<Data> | undefined {
    const bound = this.#context.getStore()
    const session = typeof bound === 'function' ? bound() : bound
    return session instanceof RedisSession && !session.closed ? session as RedisSession<Data> : undefined
  }

  /** This process's counters since the manager was made. */
  stats(): RedisSessionStats {
    const { counts, cache } = this.#core
    return {
      created: counts.created,
      closed: { ...counts.closed },
      listenerErrors: counts.listenerErrors,
      rejectedCookies: counts.rejectedCookies,
      nearCache: { hits: counts.hits, misses: counts.misses, size: cache.size, flushes: cache.flushes },
      roundTrips: this.#core.connection.roundTrips,
      unavailable: counts.unavailable,
      sweepErrors: counts.sweepErrors,
      userLimit: { ...counts.userLimit },
    }
  }

  /** Refused: iteration must ask Redis. Use `for await (const s of manager)`. */
  [Symbol.iterator](): never {
    throw new TypeError('RedisSessionManager is not iterable synchronously: use for await (const session of manager)')
  }

  /**
   * Live sessions in id order, as `page()` walks them (256 a round trip): one live throughout
   * comes exactly once; sessions made or closed meanwhile may or may not come. Not renewed.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<RedisSession<Data>> {
    let after: string | undefined = ''
    do {
      this.#assertOpen('iterate sessions')
      const { found, last } = await this.#core.page(after, 256)
      for (const [id, record] of found) yield new RedisSession<Data>(this.#core, id, record)
      after = last
    } while (after !== undefined)
  }

  /** @internal A plain command on this manager's connection, once ready (its deadline, its errors). */
  async [redisCommand](action: string, args: readonly string[]): Promise<unknown> {
    return this.#core.command(action, args)
  }

  /** @internal Redis's time now, as this process estimates it (ms). */
  [redisNow](): number {
    return this.#core.now()
  }

  /** @internal For the HTTP integrations: counts a cookie treated as "no session". */
  [recordRejectedCookie](): void {
    this.#core.counts.rejectedCookies++
  }

  /** @internal For the HTTP integrations' login: a create; the caller closes `previous` after. */
  async [replaceSession](previous: RedisSession<Data> | undefined, init: SessionInit<Data>): Promise<RedisSession<Data>> {
    this.#assertOpen('create a session')
    const checked = this.#checkInit(init)
    if (this.keys === 'caller' && checked.key === undefined) throw new TypeError("init.key is required with keys: 'caller'")
    if (previous !== undefined && checked.key !== undefined && previous.id === checked.key) await previous.close()
    // A re-login of the same user at maxSessionsPerUser: the old session is leaving anyway, and
    // must not cost the user another session (or, with 'reject', the login). The create's script
    // closes it in its own step, so nothing can take its place in between (a close listener's
    // create, another device's login) and a refused create leaves it open.
    const { user } = checked.record
    const leaving = previous !== undefined && !previous.closed && user !== undefined && previous.user === user &&
      this.#core.options.maxSessionsPerUser !== Infinity
      ? { id: previous.id, closed: () => previous[closedByCreate]() }
      : undefined
    return this.#create(checked.key, checked.record, leaving)
  }

  async #lookup(id: string, renew: boolean, action: string): Promise<RedisSession<Data> | undefined> {
    this.#assertOpen(action)
    if (!this.#plausible(id)) return undefined
    const record = await this.#core.read(id, renew)
    return record === undefined ? undefined : new RedisSession<Data>(this.#core, id, record)
  }

  /** False for what cannot be one of this manager's ids: it never reaches Redis. */
  #plausible(id: unknown): id is string {
    if (typeof id !== 'string') return false
    if (this.keys === 'caller') return isUsableKey(id)
    return id.length === this.#idLength && this.#idAlphabet.test(id)
  }

  async #create(key: string | undefined, init: RecordInit, previous?: { id: string; closed: () => void }): Promise<RedisSession<Data>> {
    const core = this.#core
    for (let attempt = 0; ; attempt++) {
      const id = key ?? core.randomId()
      try {
        // Sealed values are bound to the id, so each id tried gets its own.
        const fields = newRecordFields(id, core.seal, init.idleTimeout, init.absoluteTimeout, init.user, init.roles, init.data)
        const record = await core.create(id, fields, init.user, previous)
        const session = new RedisSession<Data>(core, id, record)
        if (core.listeners.count('create') > 0) core.listeners.emit('create', [session], core.reportError)
        return session
      } catch (error) {
        if (key !== undefined || !(error instanceof SessionExistsError) || attempt + 1 >= ID_ATTEMPTS) throw error
      }
    }
  }

  #checkInit(init: unknown): { key: string | undefined; record: RecordInit } {
    const given = init === undefined ? {} : checkPlainObject('init', init)
    checkKnownKeys('init', given, INIT_KEYS)
    const options = this.#core.options
    let key: string | undefined
    if (given.key !== undefined) {
      if (this.keys !== 'caller') throw new TypeError("init.key is only accepted with keys: 'caller'; with keys: 'random' the manager issues ids")
      key = checkKey('init.key', given.key)
    }
    const user = given.user === undefined ? undefined : checkString('init.user', given.user)
    const roles = given.roles === undefined ? undefined : checkRoles('init.roles', given.roles)
    const idleTimeout = given.idleTimeout === undefined ? options.idleTimeout : checkTimeout('init.idleTimeout', given.idleTimeout)
    const absoluteTimeout = given.absoluteTimeout === undefined ? options.absoluteTimeout : checkTimeout('init.absoluteTimeout', given.absoluteTimeout)
    const data: string[] = []
    if (given.data !== undefined) {
      const values = checkPlainObject('init.data', given.data)
      for (const name of Object.keys(values)) data.push(checkString('init.data key', name), encodeDataValue(name, values[name], true))
    }
    return { key, record: { idleTimeout, absoluteTimeout, user, roles, data } }
  }

  #checkListener(event: unknown, listener: unknown): void {
    if (event !== 'create' && event !== 'close' && event !== 'regenerate' && event !== 'error') {
      throw new RangeError(`event must be 'create', 'close', 'regenerate' or 'error', received ${describe(event)}`)
    }
    if (typeof listener !== 'function') throw new TypeError(`listener must be a function, received ${typeof listener}`)
  }

  #assertOpen(action: string): void {
    if (this.#core.closed) throw new ManagerClosedError(action)
  }
}
