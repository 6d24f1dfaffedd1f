import { performance } from 'node:perf_hooks'
import { SessionExistsError } from '../errors'
import { dataVersion, redisCommand, redisNow, writeAndRenew } from '../internal'
import { type RedisClientLike, refusedForMemory } from './connection'
import { DataChangedError, RedisUnavailableError } from './errors'
import { RedisSessionManager } from './manager'
import type { RedisSessionManagerOptions } from './options'
import type { RedisSession } from './session'

/** The data key under which express-session's serialized session lives (as in the in-process store). */
export const STORE_RECORD = 'express-session'

/**
 * How long (ms) a save or touch keeps trying when other processes' saves of the session keep
 * going in first: the store's manager's commandTimeout (its default), the longest any one of its
 * calls waits for Redis. Each refusal is another save that went in, and carries the record it
 * found, so a retry is one round trip, as the other process's saves are.
 */
const CONTENDED_MS = 2000

/** connect-redis's defaults: the key prefix, and JSON as the serializer. */
export const CONNECT_REDIS_PREFIX = 'sess:'

export interface RedisStoreOptions {
  client: RedisClientLike
  prefix: string | undefined
  /** The connect-redis prefix to migrate from, or undefined for no migration. */
  migrateFrom: string | undefined
  touchInterval: number | undefined
  /** Encryption keys as RedisSessionManager's `key` takes them (checked there), or undefined. */
  key: unknown
}

/**
 * SessionkeeperStore's Redis mode: express-session records kept as one data value of a
 * RedisSessionManager session keyed by the framework's sid. Reads go through the near cache,
 * touches renew in Redis at most once per touchInterval, and a connect-redis record found under
 * `migrateFrom` is moved over on its first read.
 */
export class RedisStoreBackend {
  readonly manager: RedisSessionManager
  readonly #migrateFrom: string | undefined
  readonly #touchInterval: number
  /** The last save of each sid in progress here (SessionkeeperStore's loaded sessions'). */
  readonly #turns = new Map<string, Promise<unknown>>()

  constructor(options: RedisStoreOptions, ttl: number) {
    this.#migrateFrom = options.migrateFrom
    this.manager = new RedisSessionManager({
      client: options.client,
      keys: 'caller',
      idleTimeout: ttl,
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      ...(options.touchInterval === undefined ? {} : { touchInterval: options.touchInterval }),
      ...(options.key === undefined ? {} : { key: options.key as RedisSessionManagerOptions['key'] }),
    })
    this.#touchInterval = Math.min(Math.max(1, Math.floor(ttl / 10)), options.touchInterval ?? 60_000)
  }

  /** The stored record of `sid` (JSON text), or undefined; migrates a connect-redis record on first read. */
  async get(sid: string): Promise<string | undefined> {
    const session = await this.manager.peek(sid)
    const record = recordOf(session)
    if (record !== undefined || this.#migrateFrom === undefined || session !== undefined) return record
    return this.#migrate(sid)
  }

  /**
   * Stores `record` under `sid`. With `change` (a session the request loaded: see
   * SessionkeeperStore.set), writes what `change` makes of the stored record, with its lifetime,
   * over a live session of the store, and does nothing when the session has ended; this
   * process's saves of one sid take turns, so that each changes what the one before it wrote,
   * and the write goes in only if no other process changed the record since the copy `change`
   * was given (else `change` is given the record Redis holds now). A session still unmoved
   * under `migrateFrom` (Redis was full when it was read) is saved whole, which moves it over.
   * Without `change`, writes `record`, making the session if needed.
   */
  async set(sid: string, record: string, ttl: number, change?: (stored: string) => { record: string; ttl: number }): Promise<void> {
    if (change !== undefined) {
      const moved = await this.#inTurn(sid, async () => {
        const existing = await this.manager.peek(sid)
        const started = performance.now()
        for (;;) {
          const stored = recordOf(existing)
          if (existing === undefined || stored === undefined) return !(await this.#unmoved(sid))
          const saved = change(stored)
          try {
            await this.#save(existing, saved.record, saved.ttl, existing[dataVersion])
            return true
          } catch (error) {
            // Another process saved since this copy was read (its invalidation had not arrived):
            // the copy now holds the record as Redis does, to merge against anew.
            contended(error, started, 'save a session')
          }
        }
      })
      if (moved) return
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await this.manager.peek(sid)
      if (existing !== undefined && await this.#save(existing, record, ttl)) return
      try {
        await this.manager.create({ key: sid, idleTimeout: ttl, data: { [STORE_RECORD]: record } })
        return
      } catch (error) {
        // Another process created it meanwhile: write over it.
        if (!(error instanceof SessionExistsError)) throw error
      }
    }
  }

  /** Whether connect-redis's record of `sid` is still where migration reads it from. */
  async #unmoved(sid: string): Promise<boolean> {
    if (this.#migrateFrom === undefined) return false
    return await this.manager[redisCommand]('read a connect-redis session', ['EXISTS', this.#migrateFrom + sid]) === 1
  }

  /** Runs `work` after every earlier one of `sid` has settled. */
  #inTurn<T>(sid: string, work: () => Promise<T>): Promise<T> {
    const turn = (this.#turns.get(sid) ?? Promise.resolve()).then(work)
    const settled = turn.catch(() => {})
    this.#turns.set(sid, settled)
    void settled.then(() => {
      if (this.#turns.get(sid) === settled) this.#turns.delete(sid)
    })
    return turn
  }

  /**
   * Writes `record` over the session's and renews it; false when the session is gone. A save
   * that changes nothing but the cookie's expiry (express-session's resave and @fastify/session's
   * rolling save every request with a new one; fastify's first such save also adds
   * `originalExpires`), refused because Redis is full, writes the stored record with the new
   * expiry instead, which is no longer and so goes in: the framework, which checks that expiry
   * on load, finds the session renewed. Any other change (the application's data, a cookie's
   * maxAge set for "remember me") fails with Redis's refusal. `expected`: see
   * RedisSession's writeAndRenew.
   */
  async #save(existing: RedisSession, record: string, ttl: number, expected?: number): Promise<boolean> {
    try {
      return await existing[writeAndRenew]([STORE_RECORD, record], ttl, expected)
    } catch (error) {
      const renewed = refusedForMemory(error) ? withExpiryOf(recordOf(existing), record) : undefined
      if (renewed === undefined) throw error
      return existing[writeAndRenew]([STORE_RECORD, renewed], ttl, expected)
    }
  }

  /**
   * Extends a live session to `ttlOf(its stored record)` from now: a no-op (no round trip with a
   * near-cache copy) while its deadline is within touchInterval of that, so Redis sees at most
   * one renewal per touchInterval. The record itself is not rewritten (as connect-redis's touch).
   */
  async touch(sid: string, ttlOf: (stored: string | undefined) => number): Promise<void> {
    const existing = await this.manager.peek(sid)
    if (existing === undefined && this.#migrateFrom !== undefined) {
      // Not moved over yet (Redis full when it was read): renewed where it is, as connect-redis does.
      const ttl = ttlOf(undefined)
      await this.manager[redisCommand]('renew a connect-redis session', ['PEXPIRE', this.#migrateFrom + sid, String(Math.max(1, Math.ceil(ttl)))])
      return
    }
    const started = performance.now()
    for (;;) {
      const stored = recordOf(existing)
      if (existing === undefined || stored === undefined) return
      const ttl = ttlOf(stored)
      // A cookie shorter than touchInterval (a maxAge of seconds) is renewed within a tenth of
      // its own lifetime, else an active user's session ended while their cookie was renewed.
      if (existing.expiresAt >= this.manager[redisNow]() + ttl - Math.min(this.#touchInterval, Math.floor(ttl / 10))) return
      try {
        // The lifetime comes from the stored cookie (a "remember me" another request saved), so
        // it is written only while the record is the one it was taken from.
        await existing[writeAndRenew]([], ttl, existing[dataVersion])
        return
      } catch (error) {
        contended(error, started, 'renew a session')
      }
    }
  }

  async destroy(sid: string): Promise<void> {
    await this.manager.destroy(sid)
    if (this.#migrateFrom !== undefined) await this.manager[redisCommand]('destroy a session', ['DEL', this.#migrateFrom + sid])
  }

  async own(): Promise<RedisSession[]> {
    const sessions: RedisSession[] = []
    for await (const session of this.manager) if (recordOf(session) !== undefined) sessions.push(session)
    return sessions
  }

  async close(): Promise<void> {
    await this.manager.close()
  }

  /**
   * Moves connect-redis's `<prefix><sid>` (JSON, with a TTL) into a session of its own, keeping
   * what is left of its TTL; the old key goes once the new session holds the record. A
   * concurrent migration in another process finds the session made by the first.
   */
  async #migrate(sid: string): Promise<string | undefined> {
    const key = (this.#migrateFrom as string) + sid
    const [text, ttl] = await Promise.all([
      this.manager[redisCommand]('read a connect-redis session', ['GET', key]) as Promise<string | null>,
      this.manager[redisCommand]('read a connect-redis session', ['PTTL', key]) as Promise<number>,
    ])
    if (typeof text !== 'string') return undefined
    try {
      JSON.parse(text)
    } catch {
      return undefined
    }
    const idleTimeout = typeof ttl === 'number' && ttl > 0 ? ttl : 0
    try {
      await this.manager.create({ key: sid, idleTimeout, data: { [STORE_RECORD]: text } })
    } catch (error) {
      // Redis full (maxmemory): the record is read where it is, and moved over on a later read.
      if (refusedForMemory(error)) return text
      if (!(error instanceof SessionExistsError)) throw error
      return recordOf(await this.manager.peek(sid))
    }
    await this.manager[redisCommand]('read a connect-redis session', ['DEL', key])
    return text
  }
}

/**
 * `stored` (a session record's JSON) with the cookie expiry of `record`, when the two differ in
 * nothing else (`originalExpires` aside) and the result is no longer than `stored`; else
 * undefined.
 */
function withExpiryOf(stored: string | undefined, record: string): string | undefined {
  if (stored === undefined) return undefined
  try {
    const before = JSON.parse(stored) as { cookie?: Record<string, unknown> }
    const after = JSON.parse(record) as { cookie?: Record<string, unknown> }
    const expires = after.cookie?.expires
    const bare = (session: { cookie?: Record<string, unknown> }) =>
      JSON.stringify({ ...session, cookie: { ...session.cookie, expires: undefined, originalExpires: undefined } })
    if (before.cookie === undefined || typeof expires !== 'string' || bare(before) !== bare(after)) return undefined
    const renewed = JSON.stringify({ ...before, cookie: { ...before.cookie, expires } })
    return renewed.length <= stored.length ? renewed : undefined
  } catch {
    return undefined
  }
}

/**
 * Returns when `error` is a write refused because another process changed the session's data
 * first (DataChangedError) and there is time to try again; throws otherwise.
 */
function contended(error: unknown, started: number, action: string): void {
  if (!(error instanceof DataChangedError)) throw error
  if (performance.now() - started > CONTENDED_MS) {
    throw new RedisUnavailableError(action, { cause: new Error(`other processes' saves of it went in first for ${CONTENDED_MS} ms`) })
  }
}

function recordOf(session: RedisSession | undefined): string | undefined {
  const record = session?.get(STORE_RECORD)
  return typeof record === 'string' ? record : undefined
}
