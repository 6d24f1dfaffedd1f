import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { SessionExistsError, UserSessionLimitError } from '../errors'
import { Listeners } from '../listeners'
import { type Disposer, OwnedObjects } from '../owned-objects'
import type { CloseReason } from '../registry'
import { Connection, type RedisClientLike, refusedForMemory } from './connection'
import { DataChangedError, RedisKeyError, RedisUnavailableError } from './errors'
import { NearCache } from './near-cache'
import type { ResolvedRedisOptions } from './options'
import { expiresAtOf, parseRecord, type Reseal, SEALED_DATA_PREFIX, type SessionRecord } from './record'
import { SCRIPTS, type Script } from './scripts'
import { RecordSeal } from './seal'
import { RedisSession } from './session'

/** Events of a RedisSessionManager: fired in the process that did the deed (see README). */
export interface RedisSessionManagerEvents<S = RedisSession> {
  create: [session: S]
  close: [session: S, reason: CloseReason]
  regenerate: [session: S, oldId: string]
  error: [error: unknown]
}

/** Counters of one process; see `RedisSessionManager.stats()`. */
export interface RedisSessionStats {
  created: number
  closed: Record<CloseReason, number>
  listenerErrors: number
  rejectedCookies: number
  /** Lookups answered from the near cache, and those that went to Redis. */
  nearCache: { hits: number; misses: number; size: number; flushes: number }
  /**
   * Commands this process sent to Redis on the client (scripts and plain commands, the
   * background sweep's included; not the invalidation subscription's messages).
   */
  roundTrips: number
  /** Calls that rejected with RedisUnavailableError. */
  unavailable: number
  /** Background sweeps that failed (Redis unreachable); the next one retries. */
  sweepErrors: number
  /**
   * `maxSessionsPerUser` at work in this process's calls: sessions evicted (also in
   * `closed.evicted`) and creates or `setUser` calls refused with UserSessionLimitError.
   */
  userLimit: { evicted: number; rejected: number }
}

type Flat = string[]
/** A sweep's own slice: sessions closed per script call, and calls per timer tick. */
const SWEEP_BATCH = 256
const SWEEP_CALLS_PER_TICK = 16
/** Tries of a regenerate (or a write) whose values another writer keeps changing, before it gives up. */
const REGENERATE_ATTEMPTS = 5

/**
 * Everything a RedisSessionManager and its sessions share: the connection, the near cache and
 * its subscription, the Redis clock estimate, listeners, owned objects and the sweeper.
 */
/**
 * The managers of this process subscribed to each channel. Redis writes one message to each
 * subscriber in turn, so one manager may resolve a change (its own copy of the message has come
 * back) while another manager's copy is still on its way: the first to receive a message drops
 * the copies of the others at once, so no manager in this process serves a session after a
 * change on the same channel has resolved in any of them.
 */
const siblings = new Map<string, Set<RedisCore>>()

export class RedisCore {
  readonly options: ResolvedRedisOptions
  readonly connection: Connection
  readonly cache: NearCache
  /** Seals and opens values when the manager was given `key`. */
  readonly seal: RecordSeal | undefined
  readonly listeners = new Listeners<RedisSessionManagerEvents<any>>()
  readonly objects = new OwnedObjects()
  /** Process-local handles of sessions holding owned objects, by id. */
  readonly #objectHandles = new Map<string, number>()
  #nextHandle = 1
  /** A random token: this process's name in invalidations and on the sweep lease. */
  readonly origin = randomBytes(12).toString('base64url')
  readonly counts = {
    created: 0,
    closed: { destroyed: 0, expired: 0, evicted: 0, shutdown: 0 } as Record<CloseReason, number>,
    listenerErrors: 0,
    rejectedCookies: 0,
    hits: 0,
    misses: 0,
    unavailable: 0,
    sweepErrors: 0,
    userLimit: { evicted: 0, rejected: 0 },
  }
  /** Redis time minus performance.now(), from the latest reply. */
  #offset = NaN
  #subscriber: RedisClientLike | undefined
  #ready: Promise<void> | undefined
  #timer: NodeJS.Timeout | undefined
  #sweeping = false
  /** The pending end of this loop turn that near-cache hits wait for (see #endOfTurn). */
  #turn: Promise<void> | undefined
  /** Highest invalidation sequence number received since the subscription was (re)confirmed. */
  #seqSeen = 0
  /** Changes of this process waiting for their own invalidation to come back (see #settle). */
  #waiters: { seq: number; resolve: () => void }[] = []
  closed = false

  constructor(options: ResolvedRedisOptions) {
    this.options = options
    this.connection = new Connection(options.client, options.commandTimeout)
    this.cache = new NearCache(options.nearCache)
    this.seal = options.key === undefined ? undefined : new RecordSeal(options.key)
  }

  /** Parses a record as Redis returned it, opening sealed values (RedisKeyError when one cannot be). */
  parse(id: string, flat: Flat, reseal?: Reseal): SessionRecord {
    return parseRecord(id, flat, this.seal, reseal)
  }

  /**
   * Seals again what `parse` found sealed under an older key or not sealed at all, unless it
   * changed meanwhile (then the next read from Redis tries again). Its failure fails no read.
   */
  async #reseal(id: string, reseal: Reseal, rethrow: boolean): Promise<void> {
    try {
      // Counted as unavailable only for the write that waits for it: a read it follows succeeded.
      await this.run('seal a session again', SCRIPTS.reseal, [id, String(this.options.grace), ...reseal], rethrow)
    } catch (error) {
      // Redis unavailable: the values stay readable as they are. A write waiting for the seal
      // says why it cannot go in.
      if (rethrow) throw error
    }
  }

  get channel(): string {
    return `${this.options.prefix}channel`
  }

  /** Connects the client (when the caller has not) and the subscription, and starts the sweeper. Once. */
  ready(): Promise<void> {
    this.#ready ??= this.#start()
    return this.#ready
  }

  async #start(): Promise<void> {
    const { client } = this.options
    client.on('error', this.#clientError)
    if (!client.isOpen) await client.connect()
    const subscriber = client.duplicate()
    this.#subscriber = subscriber
    subscriber.on('error', this.#subscriptionLost)
    subscriber.on('reconnecting', this.#subscriptionLost)
    subscriber.on('end', this.#subscriptionLost)
    await subscriber.connect()
    await subscriber.subscribe(this.channel, this.#onMessage)
    if (!this.closed) {
      let set = siblings.get(this.channel)
      if (set === undefined) siblings.set(this.channel, set = new Set())
      set.add(this)
    }
    // node-redis restores subscriptions before it reports 'ready' again after a reconnect.
    subscriber.on('ready', this.#subscriptionRestored)
    this.#subscriptionRestored()
    if (this.closed) return
    void this.#checkEvictionPolicy()
    this.#timer = setInterval(() => void this.sweepInBackground(), this.options.resolution)
    this.#timer.unref()
  }

  /**
   * Warns (once per manager) when Redis has a memory limit and may evict keys to stay under it.
   * Every eviction policy but noeviction can drop what must stay until the sweep removes it: a
   * session record (its user logged out early, closed later with no data), a per-user set
   * (closeUser then misses its sessions), under allkeys-* the deadline index itself. A Redis that
   * refuses INFO (an ACL) is not checked. Sent before ready() resolves, so it counts among the
   * round trips from the start.
   */
  async #checkEvictionPolicy(): Promise<void> {
    let info: string
    try {
      info = String(await this.connection.command('read the memory policy', ['INFO', 'memory']))
    } catch {
      return
    }
    const limit = Number(/^maxmemory:(\d+)/m.exec(info)?.[1] ?? '0')
    const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1]
    if (limit === 0 || policy === undefined || policy === 'noeviction' || this.closed) return
    process.emitWarning(
      `Redis has maxmemory-policy ${policy}: when full it may evict session records (users logged out early), ` +
        "per-user sets (closeUser then misses sessions) or the deadline index. Use noeviction: a full Redis then " +
        'refuses creates and writes of data, and still renews, closes and expires sessions.',
      { type: 'SessionkeeperRedisWarning', code: 'SESSIONKEEPER_REDIS_EVICTION_POLICY' },
    )
  }

  /** Errors of the user's client (each failed reconnect emits one): never thrown, never fatal. */
  #clientError = (): void => {}

  #subscriptionLost = (): void => {
    this.#releaseWaiters(Infinity)
    if (!this.cache.subscribed && this.cache.size === 0) return
    this.cache.subscribed = false
    this.cache.flush()
  }

  #subscriptionRestored = (): void => {
    this.#releaseWaiters(Infinity)
    this.#seqSeen = 0
    this.cache.flush()
    this.cache.subscribed = !this.closed
  }

  #onMessage = (text: string): void => {
    let message: unknown
    try {
      message = JSON.parse(text)
    } catch {
      return
    }
    if (!Array.isArray(message) || typeof message[0] !== 'number') return
    const [seq, kind, origin, id, moved, after] = message as [number, string, string, string, unknown, unknown]
    const newId = typeof moved === 'string' ? moved : undefined
    const foreign = origin !== this.origin
    const held = foreign && kind === 'w' && Array.isArray(after) ? this.cache.get(id) : undefined
    const ids = newId === undefined ? [id] : [id, newId]
    const coherent = this.cache.invalidate(seq, ids, foreign)
    const others = siblings.get(this.channel)
    if (others !== undefined && others.size > 1) {
      for (const other of others) if (other !== this && other.origin !== origin) other.#siblingMessage(seq, kind, id, ids, after)
    }
    // Another process's write: a copy held here becomes the record after it, unless the copy is
    // newer (a read on the command connection can overtake messages still on their way over the
    // subscription) or the record cannot be read here.
    if (held !== undefined && coherent) {
      if (held.seq >= seq) {
        this.cache.replace(id, held.record, held.seq, held.readAt)
      } else {
        try {
          this.cache.replace(id, this.parse(id, after as Flat), seq, performance.now())
        } catch {
          // Unreadable here (a key missing): the next read asks Redis and reports it.
        }
      }
    }
    if (seq > this.#seqSeen) {
      this.#seqSeen = seq
      if (this.#waiters.length > 0) this.#releaseWaiters(seq)
    } else if (seq === 1) {
      // The counter was made again (see NearCache.invalidate): what was waited for never comes.
      this.#seqSeen = 1
      this.#releaseWaiters(Infinity)
    }
    if (!foreign) return
    // Another process closed or moved a session: its objects here go (closed) or follow (moved).
    if (kind === 'c') this.disposeObjects(id)
    else if (kind === 'r' && newId !== undefined) this.#moveObjects(id, newId)
  }

  /**
   * Another manager of this process received message `seq` first (see `siblings`): the copies it
   * invalidates go now, or become the record a write carried, as #onMessage does; the sequence
   * and everything else wait for this manager's own copy of the message.
   */
  #siblingMessage(seq: number, kind: string, id: string, ids: readonly string[], after: unknown): void {
    const held = kind === 'w' && Array.isArray(after) ? this.cache.get(id) : undefined
    if (held !== undefined && held.seq >= seq) return
    this.cache.drop(seq, ids)
    if (held === undefined) return
    try {
      this.cache.replace(id, this.parse(id, after as Flat), seq, performance.now(), false)
    } catch {
      // Unreadable here: the next read asks Redis.
    }
  }

  /**
   * Resolves once this process's subscription has received invalidation `seq` (or every later
   * one), so that a change resolves only after Redis has sent its invalidation to every
   * subscriber: a request that follows the change's response, anywhere, finds it delivered.
   * Does not wait without a subscription, nor longer than commandTimeout (at most 1 s).
   */
  async settle(seq: number): Promise<void> {
    if (!this.cache.subscribed || !(seq > this.#seqSeen)) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(this.options.commandTimeout, 1000))
      timer.unref()
      this.#waiters.push({ seq, resolve: () => { clearTimeout(timer); resolve() } })
    })
  }

  #releaseWaiters(upTo: number): void {
    const waiting = this.#waiters
    this.#waiters = waiting.filter((waiter) => waiter.seq > upTo)
    for (const waiter of waiting) if (waiter.seq <= upTo) waiter.resolve()
  }

  /** Redis's time now, as estimated from the latest reply (off by at most one round trip). */
  now(): number {
    return performance.now() + this.#offset
  }

  #clock(redisNow: unknown): void {
    const now = Number(redisNow)
    if (Number.isSafeInteger(now) && now > 0) this.#offset = now - performance.now()
  }

  /** Runs `script`; a RedisUnavailableError counts in stats().unavailable when `counted`. */
  async run(action: string, script: Script, argv: string[], counted = true): Promise<unknown[]> {
    if (this.#ready === undefined) void this.ready().catch(() => {})
    try {
      if (!this.cache.subscribed) await this.#readyWithin(action)
      const reply = await this.connection.run(action, script, [this.options.prefix, ...argv]) as unknown[]
      // Replies are {now, ...} or {status, now, ...}: a status is a small number, a time is not
      // (a status other than 0 or 1 taken for the time once made every copy look fresh).
      this.#clock(Number(reply[0]) < 2 ** 31 ? reply[1] : reply[0])
      return reply
    } catch (error) {
      if (error instanceof RedisUnavailableError) {
        if (counted) this.counts.unavailable++
        // A script given up on (commandTimeout) may still run in Redis later: a logout, a
        // regenerate or a write. Its invalidation then carries this process's origin, which the
        // near cache ignores, as it does for changes whose replies it applied itself; without
        // this, this process served the logged-out session, or the id a regenerate retired,
        // from its copy while every other process saw the change. Copies are dropped, and reads
        // sent before are kept from putting any back, as after a reconnect. A refusal for
        // memory (a create at maxmemory) ran nothing and never will: copies stay. Other errors
        // Redis answers flush too: a script that fails half-way (a NOPERM of a narrow ACL) keeps
        // the writes it made, and publishes nothing.
        if (!refusedForMemory(error)) this.cache.flush()
      }
      throw error
    }
  }

  /** A plain command, with run's waiting, deadline and errors. */
  async command(action: string, args: readonly string[]): Promise<unknown> {
    if (this.#ready === undefined) void this.ready().catch(() => {})
    try {
      if (!this.cache.subscribed) await this.#readyWithin(action)
      return await this.connection.command(action, args)
    } catch (error) {
      if (error instanceof RedisUnavailableError) this.counts.unavailable++
      throw error
    }
  }

  /** Waits for the first connection, as long as a command would. */
  async #readyWithin(action: string): Promise<void> {
    const ready = this.ready()
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new RedisUnavailableError(action, { cause: new Error('not connected') })), this.options.commandTimeout)
      timer.unref()
    })
    try {
      await Promise.race([ready, late])
    } catch (error) {
      if (error instanceof RedisUnavailableError) throw error
      throw new RedisUnavailableError(action, { cause: error })
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * The live record of `id` (near cache first), renewed when `renew` and due. Values to seal
   * again are sealed on the way; with `sealOrThrow` a failure to do so rejects the read.
   */
  async read(id: string, renew: boolean, sealOrThrow = false): Promise<SessionRecord | undefined> {
    const cached = this.cache.get(id)
    if (cached !== undefined) {
      // Let every I/O event already received this loop turn (an invalidation among them) be
      // handled before the copy is trusted.
      await this.#endOfTurn()
      const fresh = this.cache.get(id)
      const now = this.now()
      if (fresh !== undefined && now < expiresAtOf(fresh.record) && now - fresh.record.lastActivity < this.options.touchInterval) {
        this.counts.hits++
        return fresh.record
      }
    }
    this.counts.misses++
    const epoch = this.cache.epoch
    const reply = await this.run('read a session', SCRIPTS.read, [id, renew ? '1' : '0', String(this.options.touchInterval), String(this.options.grace)])
    const flat = reply[2] as Flat | null
    if (flat === null || flat === undefined) {
      this.cache.delete(id)
      return undefined
    }
    const reseal: Reseal | undefined = this.seal === undefined ? undefined : []
    const record = this.parse(id, flat, reseal)
    this.cache.offer(id, record, Number(reply[1]), epoch, performance.now())
    if (reseal !== undefined && reseal.length > 0) await this.#reseal(id, reseal, sealOrThrow)
    return record
  }

  /**
   * Resolves in this loop turn's check phase, after every I/O event of its poll phase: one
   * setImmediate shared by all the lookups of a turn rather than one each.
   */
  #endOfTurn(): Promise<void> {
    this.#turn ??= new Promise<void>((resolve) => {
      setImmediate(() => {
        this.#turn = undefined
        resolve()
      })
    })
    return this.#turn
  }

  /**
   * Creates `id` with `fields`; SessionExistsError when a live session holds it. An expired
   * holder the sweep had not reached is closed here ('expired'). `previous` (a login's old
   * session) is closed ('destroyed') in the same step when it is the user's: `closed` marks its
   * handle before its 'close' event.
   */
  async create(id: string, fields: string[], user: string | undefined, previous?: { id: string; closed: () => void }): Promise<SessionRecord> {
    const epoch = this.cache.epoch
    const reply = await this.run('create a session', SCRIPTS.create, [
      id, String(this.options.grace), this.origin, ...this.#userCap(user), previous?.id ?? '', ...fields,
    ])
    if (reply[0] === 0) throw new SessionExistsError(id)
    if (reply[0] === 4) throw this.#userFull(user as string)
    const evicted = reply[5] as Flat
    const closedPrevious = Array.isArray(reply[6])
    if (Array.isArray(reply[4]) || evicted.length > 0 || closedPrevious) await this.settle(Number(reply[2]))
    if (closedPrevious && previous !== undefined) {
      this.cache.delete(previous.id)
      previous.closed()
      this.emitClose(previous.id, reply[6] as Flat, 'destroyed')
    }
    if (Array.isArray(reply[4])) this.emitClose(id, reply[4] as Flat, 'expired')
    this.#emitEvicted(evicted)
    const record = this.parse(id, reply[3] as Flat)
    this.cache.offer(id, record, Number(reply[2]), epoch, performance.now())
    this.counts.created++
    return record
  }

  /**
   * Sets and deletes fields of a live record: the record after; undefined when not live. With
   * `expected`, only while the record's data version is that one (a change merged against a
   * copy of that version), else DataChangedError, carrying the record as Redis holds it, and
   * nothing written.
   */
  async write(id: string, set: readonly string[], remove: readonly string[], user?: string, expected?: number): Promise<SessionRecord | undefined> {
    const epoch = this.cache.epoch
    let reply: unknown[]
    for (let attempt = 1; ; attempt++) {
      reply = await this.run('write to a session', SCRIPTS.write, [
        id, String(this.options.grace), this.origin, ...this.#userCap(user), String(set.length / 2), ...set, ...remove,
        expected === undefined ? '' : String(expected),
      ])
      if (reply[0] === 7) {
        // Another process's write, whose invalidation may not have arrived: the copy is stale.
        this.cache.delete(id)
        throw new DataChangedError(id, this.parse(id, reply[2] as Flat))
      }
      if (reply[0] === 4) throw this.#userFull(user as string)
      // A plain value into a record sealed since this process loaded it.
      if (reply[0] === 5) throw new RedisKeyError(id, String(reply[2]), 'no-key')
      if (reply[0] !== 6) break
      // A record written without a key, not yet sealed (its sealing on read lost a race): a
      // read from Redis seals it, then the write goes in.
      if (attempt === REGENERATE_ATTEMPTS) {
        throw new RedisUnavailableError('write to a session', { cause: new Error(`its plain values changed during each of ${attempt} attempts to seal them`) })
      }
      this.cache.delete(id)
      if (await this.read(id, false, true) === undefined) return undefined
    }
    if (reply[0] === 0) {
      this.cache.delete(id)
      return undefined
    }
    this.cache.delete(id)
    await this.settle(Number(reply[2]))
    const record = this.parse(id, reply[3] as Flat)
    this.cache.offer(id, record, Number(reply[2]), epoch, performance.now())
    this.#emitEvicted(reply[4] as Flat)
    return record
  }

  /**
   * The names (under the prefix) of `user`'s per-user sets: u:<user>, and with a key uh:<blind
   * index> under each key, since a record sealed under an older key stays filed under that key's
   * index until it is sealed again.
   */
  userSets(user: string): string[] {
    const plain = `u:${user}`
    return this.seal === undefined ? [plain] : [...this.seal.userIndexes(user).map((index) => `uh:${index}`), plain]
  }

  /** maxSessionsPerUser, whenUserFull and the sets of `user` (none without one), as CREATE and WRITE take them. */
  #userCap(user: string | undefined): string[] {
    const { maxSessionsPerUser, whenUserFull } = this.options
    const sets = user === undefined ? [] : this.userSets(user)
    return [maxSessionsPerUser === Infinity ? '0' : String(maxSessionsPerUser), whenUserFull, String(sets.length), ...sets]
  }

  #userFull(user: string): UserSessionLimitError {
    this.counts.userLimit.rejected++
    return new UserSessionLimitError(user, this.options.maxSessionsPerUser, "whenUserFull: 'reject'")
  }

  /** 'close' ('evicted') for the sessions a script evicted for maxSessionsPerUser: id, record, id, record... */
  #emitEvicted(evicted: Flat | undefined): void {
    if (!Array.isArray(evicted)) return
    for (let index = 0; index + 1 < evicted.length; index += 2) {
      this.counts.userLimit.evicted++
      this.emitClose(evicted[index], evicted[index + 1] as unknown as Flat, 'evicted')
    }
  }

  /** The live records of `user`'s sessions, each with its id. */
  async sessionsOf(user: string): Promise<[string, SessionRecord][]> {
    return this.#records(await this.run('list the sessions of a user', SCRIPTS.sessionsOf, this.userSets(user)))
  }

  /**
   * One page of live records in id order after `after` ('' for the first page): the records,
   * each with its id, and the last id the page looked at when more may follow (else undefined).
   */
  async page(after: string, limit: number): Promise<{ found: [string, SessionRecord][]; last: string | undefined }> {
    const reply = await this.run('page through sessions', SCRIPTS.page, [after, String(limit)])
    const last = String(reply[3])
    return {
      found: this.#records(reply, 4),
      last: Number(reply[2]) === 1 && last !== '' ? last : undefined,
    }
  }

  #records(reply: unknown[], from = 2): [string, SessionRecord][] {
    const found: [string, SessionRecord][] = []
    for (let index = from; index + 1 < reply.length; index += 2) {
      const id = reply[index] as string
      found.push([id, this.parse(id, reply[index + 1] as Flat)])
    }
    return found
  }

  /**
   * Closes every session of `user` but `except` in one script; 'close' fires here for each, with
   * `reason` for the live ones and 'expired' for those past their deadline. Resolves once the
   * invalidations have reached every process (as destroy). Returns how many live ones it closed.
   */
  async closeUser(user: string, except: string, reason: CloseReason): Promise<number> {
    const reply = await this.run('close the sessions of a user', SCRIPTS.closeUser, [this.origin, except, ...this.userSets(user)])
    if (reply.length > 2) await this.settle(Number(reply[1]))
    let closed = 0
    for (let index = 2; index + 2 < reply.length; index += 3) {
      const live = reply[index] === 1
      if (live) closed++
      this.emitClose(reply[index + 1] as string, reply[index + 2] as Flat, live ? reason : 'expired')
    }
    return closed
  }

  /** Renews a live record now, whatever touchInterval says. */
  async touch(id: string): Promise<SessionRecord | undefined> {
    const epoch = this.cache.epoch
    const reply = await this.run('touch a session', SCRIPTS.read, [id, '1', '0', String(this.options.grace)])
    const flat = reply[2] as Flat | null
    if (flat === null || flat === undefined) {
      this.cache.delete(id)
      return undefined
    }
    this.cache.delete(id)
    const record = this.parse(id, flat)
    this.cache.offer(id, record, Number(reply[1]), epoch, performance.now())
    return record
  }

  /** Closes `id` (destroy): 'destroyed', 'expired' (it was past its deadline), or undefined (nothing to close). */
  async destroy(id: string): Promise<CloseReason | undefined> {
    const reply = await this.run('destroy a session', SCRIPTS.destroy, [id, this.origin])
    this.cache.delete(id)
    if (reply[0] === 0) return undefined
    const reason: CloseReason = reply[0] === 1 ? 'destroyed' : 'expired'
    await this.settle(Number(reply[2]))
    this.emitClose(id, reply[3] as Flat, reason)
    return reason
  }

  /** Moves a live record to `newId`: its record, or undefined when it is not live; SessionExistsError when a live session holds `newId`. */
  async regenerate(oldId: string, newId: string): Promise<SessionRecord | undefined> {
    const epoch = this.cache.epoch
    // Without a key the first try passes no sealed fields, and succeeds unless the record holds some.
    let resealed = this.seal === undefined ? [] : await this.#sealedFor(oldId, newId)
    let reply: unknown[]
    for (let attempt = 1; ; attempt++) {
      reply = await this.run('regenerate a session', SCRIPTS.regenerate, [oldId, newId, String(this.options.grace), this.origin, ...resealed])
      if (reply[0] !== 4) break
      if (attempt === REGENERATE_ATTEMPTS) {
        throw new RedisUnavailableError('regenerate a session', { cause: new Error(`its sealed values changed during each of ${attempt} attempts`) })
      }
      resealed = await this.#sealedFor(oldId, newId)
    }
    this.cache.delete(oldId)
    if (reply[0] === 0) return undefined
    if (reply[0] === 3) throw new SessionExistsError(newId)
    await this.settle(Number(reply[2]))
    if (Array.isArray(reply[4])) this.emitClose(newId, reply[4] as Flat, 'expired')
    this.#moveObjects(oldId, newId)
    const record = this.parse(newId, reply[3] as Flat)
    this.cache.offer(newId, record, Number(reply[2]), epoch, performance.now())
    return record
  }

  /** The sealed fields of `oldId` as they are now, each with its value sealed again for `newId`. */
  async #sealedFor(oldId: string, newId: string): Promise<string[]> {
    const reply = await this.command('regenerate a session', ['HGETALL', `${this.options.prefix}s:${oldId}`])
    // A RESP3 client answers HGETALL with a map rather than a flat list.
    const flat = (Array.isArray(reply) ? reply : reply instanceof Map ? [...reply].flat() : Object.entries(reply ?? {}).flat()) as Flat
    const triples: string[] = []
    for (let at = 0; at + 1 < flat.length; at += 2) {
      const field = flat[at]
      if (field !== 'U' && field !== 'R' && !field.startsWith(SEALED_DATA_PREFIX)) continue
      // Without a key, a record sealed since this process loaded it cannot be moved.
      if (this.seal === undefined) throw new RedisKeyError(oldId, field, 'no-key')
      triples.push(field, flat[at + 1], this.seal.seal(newId, field, this.seal.open(oldId, field, flat[at + 1])))
    }
    return triples
  }

  /** One sweep: closes (as 'expired') what is due, if this process holds the lease. Returns how many. */
  async sweep(): Promise<number> {
    let closed = 0
    for (let call = 0; call < SWEEP_CALLS_PER_TICK; call++) {
      const reply = await this.run('sweep expired sessions', SCRIPTS.sweep, [
        this.origin, String(this.options.lease), String(SWEEP_BATCH), this.origin, String(this.options.grace),
      ])
      if (reply[0] !== 1) return closed
      for (let index = 3; index + 1 < reply.length; index += 2) {
        this.emitClose(reply[index] as string, reply[index + 1] as Flat, 'expired')
        closed++
      }
      if (reply[2] !== 1) return closed
    }
    return closed
  }

  async sweepInBackground(): Promise<void> {
    if (this.#sweeping || this.closed) return
    this.#sweeping = true
    try {
      await this.sweep()
    } catch {
      this.counts.sweepErrors++
    } finally {
      this.#sweeping = false
    }
  }

  /** Emits 'close' for a record this process removed, then disposes the session's objects here. */
  emitClose(id: string, flat: Flat, reason: CloseReason): void {
    this.cache.delete(id)
    this.counts.closed[reason]++
    if (this.listeners.count('close') > 0) {
      let record: SessionRecord
      try {
        record = this.parse(id, flat)
      } catch (error) {
        this.reportError(error)
        record = parseRecord(id, [])
      }
      this.listeners.emit('close', [new RedisSession(this, id, record, reason), reason], this.reportError)
    }
    this.disposeObjects(id)
  }

  randomId(): string {
    return randomBytes(this.options.idBytes).toString(this.options.idEncoding)
  }

  objectHandle(id: string, create: boolean): number | undefined {
    let handle = this.#objectHandles.get(id)
    if (handle === undefined && create) {
      handle = this.#nextHandle++
      this.#objectHandles.set(id, handle)
    }
    return handle
  }

  putObject(id: string, key: string, value: unknown, dispose: Disposer | undefined): void {
    this.objects.put(this.objectHandle(id, true) as number, key, value, dispose, this.reportError)
  }

  removeObject(id: string, key: string): boolean {
    const handle = this.#objectHandles.get(id)
    if (handle === undefined) return false
    const removed = this.objects.remove(handle, key, this.reportError)
    if (this.objects.keys(handle).length === 0) this.#objectHandles.delete(id)
    return removed
  }

  disposeObjects(id: string): void {
    const handle = this.#objectHandles.get(id)
    if (handle === undefined) return
    this.#objectHandles.delete(id)
    this.objects.disposeAll(handle, this.reportError)
  }

  #moveObjects(oldId: string, newId: string): void {
    const handle = this.#objectHandles.get(oldId)
    if (handle === undefined) return
    this.#objectHandles.delete(oldId)
    this.#objectHandles.set(newId, handle)
  }

  reportError = (error: unknown): void => {
    this.counts.listenerErrors++
    if (this.listeners.count('error') > 0) {
      this.listeners.emit('error', [error], (failure) => process.emitWarning(String(failure), 'SessionkeeperListenerError'))
    } else {
      process.emitWarning(error instanceof Error ? error.message : String(error), 'SessionkeeperListenerError')
    }
  }

  /** Stops the sweeper, gives up the lease and the subscription; the client stays the caller's. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const set = siblings.get(this.channel)
    if (set !== undefined && set.delete(this) && set.size === 0) siblings.delete(this.channel)
    clearInterval(this.#timer)
    this.cache.subscribed = false
    this.cache.flush()
    const subscriber = this.#subscriber
    if (subscriber !== undefined) {
      subscriber.off('error', this.#subscriptionLost)
      subscriber.off('reconnecting', this.#subscriptionLost)
      subscriber.off('end', this.#subscriptionLost)
      subscriber.off('ready', this.#subscriptionRestored)
      subscriber.on('error', () => {})
      if (subscriber.isReady) {
        await Promise.resolve(subscriber.close?.() ?? subscriber.quit?.()).catch(() => subscriber.destroy?.())
      } else {
        subscriber.destroy?.()
      }
    }
    if (this.options.client.isReady) {
      await this.connection.run('release the sweep lease', SCRIPTS.release, [this.options.prefix, this.origin]).catch(() => {})
    }
    this.options.client.off('error', this.#clientError)
  }
}
