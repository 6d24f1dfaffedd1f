import { decodeValue, encodeDataValue, type JsonFields, type JsonValue } from '../data-codec'
import { OwnedObjects, type Disposer } from '../owned-objects'
import type { CloseReason } from '../registry'
import { checkKey, checkRoles, checkString, checkTimeout } from '../validate'
import type { RedisCore } from './core'
import { DataChangedError } from './errors'
import { closedByCreate, dataVersion, observeSession, type SessionObserver, writeAndRenew } from '../internal'
import { DATA_PREFIX, dataFields, expiresAtOf, rolesFields, SEALED_DATA_PREFIX, type SessionRecord, twinsOf, userFields } from './record'

/**
 * A session of a RedisSessionManager: a copy of its record as `get`, `peek` or `create` loaded
 * it, read synchronously (`user`, `roles`, `get(key)`, `keys()`, timestamps), plus the calls that
 * change it in Redis, each returning a Promise (`set`, `delete`, `setUser`, `setRoles`,
 * `setIdleTimeout`, `setAbsoluteTimeout`, `touch`, `regenerate`, `close`). A change resolves
 * once Redis has applied it; the copy then shows the record as Redis returned it (with other
 * processes' changes to other keys). Another process's change shows in a copy loaded after it.
 *
 * Closed sessions are inert, as with SessionManager: changes resolve false (regenerate
 * undefined) and change nothing. `closed` is true once this copy knows the session is gone:
 * closed through it, found gone by one of its calls, or past its deadline by Redis's clock. The
 * copy stays readable after close (it is what was loaded; a 'close' listener reads it).
 *
 * Owned objects (`putObject`) live in this process only, keyed by the session id; they are
 * disposed when the session closes, in whichever process closes it (every process receives the
 * close) and follow `regenerate`.
 */
export class RedisSession<Data extends JsonFields<Data> = Record<string, JsonValue>> {
  readonly #core: RedisCore
  #id: string
  #record: SessionRecord
  #closeReason: CloseReason | undefined
  #observer: SessionObserver | undefined

  /** @internal Sessions come from a RedisSessionManager; do not construct them. */
  constructor(core: RedisCore, id: string, record: SessionRecord, closeReason?: CloseReason) {
    this.#core = core
    this.#id = id
    this.#record = record
    this.#closeReason = closeReason
  }

  /** The session id (or caller key); follows `regenerate()`. */
  get id(): string {
    return this.#id
  }

  /** True once closed through this copy, or past its deadline (Redis's clock, as this process estimates it). */
  get closed(): boolean {
    return this.closeReason !== undefined
  }

  /** `'destroyed'` or `'expired'` once `closed`, else undefined. */
  get closeReason(): CloseReason | undefined {
    if (this.#closeReason === undefined && !(this.#core.now() < this.expiresAt)) this.#closeReason = 'expired'
    return this.#closeReason
  }

  /** Creation time (ms, Redis clock). */
  get createdAt(): number {
    return this.#record.createdAt
  }

  /** Last renewal in Redis (ms, Redis clock): uses within `touchInterval` of it are not recorded separately. */
  get lastActivity(): number {
    return this.#record.lastActivity
  }

  /** The earlier of the idle and absolute deadlines (ms, Redis clock); Infinity when neither applies. */
  get expiresAt(): number {
    return expiresAtOf(this.#record)
  }

  get idleTimeout(): number {
    return this.#record.idleTimeout
  }

  get absoluteTimeout(): number {
    return this.#record.absoluteTimeout
  }

  /** The user, or undefined. */
  get user(): string | undefined {
    return this.#record.user
  }

  /** The roles (a copy). */
  get roles(): string[] {
    return [...this.#record.roles]
  }

  hasRole(role: string): boolean {
    return this.roles.includes(role)
  }

  /** The value under `key` in this copy (a fresh copy of it), or undefined. */
  get<K extends keyof Data & string>(key: K): Data[K] | undefined {
    const safeKey = checkString('key', key)
    return decodeValue(this.#record.data.get(safeKey)) as Data[K] | undefined
  }

  /** Data keys of this copy. */
  keys(): string[] {
    return [...this.#record.data.keys()]
  }

  /**
   * Stores a copy of a JSON value under `key` (the rules of `Session.set`): resolves true once
   * Redis holds it, false when the session is closed. Writes to different keys, from any
   * process, never overwrite each other.
   */
  async set<K extends keyof Data & string>(key: K, value: Data[K]): Promise<boolean> {
    const safeKey = checkString('key', key)
    const stored = encodeDataValue(safeKey, value)
    return this.#write(dataFields(this.#id, this.#core.seal, safeKey, stored))
  }

  /** Removes a data value; resolves true when the session is live (whether or not the key was there). */
  async delete(key: keyof Data & string): Promise<boolean> {
    const safeKey = checkString('key', key)
    return this.#write([], [DATA_PREFIX + safeKey, SEALED_DATA_PREFIX + safeKey])
  }

  /** @internal Whether this is a session of the manager that shares `core`. */
  belongsTo(core: RedisCore): boolean {
    return this.#core === core
  }

  /**
   * Sets (or, with undefined, removes) the user; the per-user index follows in the same step,
   * and so does `maxSessionsPerUser` (the user's oldest other session is evicted, or, with
   * `whenUserFull: 'reject'`, UserSessionLimitError rejects and nothing changes).
   */
  async setUser(user: string | undefined): Promise<boolean> {
    if (user === undefined) return this.#write([], ['u', 'U', 'h'])
    const checked = checkString('user', user)
    return this.#write(userFields(this.#id, this.#core.seal, checked), undefined, checked)
  }

  async setRoles(roles: string[]): Promise<boolean> {
    const checked = checkRoles('roles', roles)
    return checked.length === 0 ? this.#write([], ['r', 'R']) : this.#write(rolesFields(this.#id, this.#core.seal, checked))
  }

  /** Changes this session's idle timeout (ms, 0: none); its deadline moves in Redis at once. */
  async setIdleTimeout(timeout: number): Promise<boolean> {
    return this.#write(['i', String(checkTimeout('idleTimeout', timeout))])
  }

  async setAbsoluteTimeout(timeout: number): Promise<boolean> {
    return this.#write(['x', String(checkTimeout('absoluteTimeout', timeout))])
  }

  /** Renews now in Redis (whatever `touchInterval` says); false when closed. */
  async touch(): Promise<boolean> {
    if (this.closed) return false
    const record = await this.#core.touch(this.#id)
    if (record === undefined) return this.#lost()
    this.#record = record
    return true
  }

  /**
   * A new id for the same session, in one atomic step: the old id is dead and the new one live,
   * data kept, renewed. With `keys: 'caller'`, pass the new key (SessionExistsError when a live
   * session holds it). Resolves the new id, or undefined when the session is closed.
   */
  async regenerate(newKey?: string): Promise<string | undefined> {
    this.#observer?.beforeRegenerate(this, newKey)
    const core = this.#core
    let newId: string
    if (core.options.keys === 'caller') {
      newId = checkKey('newKey', newKey)
    } else {
      if (newKey !== undefined) throw new TypeError("regenerate() takes no key with keys: 'random'; the manager issues the new id")
      newId = core.randomId()
    }
    if (this.closed) return undefined
    const oldId = this.#id
    const record = await core.regenerate(oldId, newId)
    if (record === undefined) {
      this.#lost()
      return undefined
    }
    this.#id = newId
    this.#record = record
    this.#observer?.regenerated(this, newId)
    core.listeners.emit('regenerate', [this, oldId], core.reportError)
    return newId
  }

  /**
   * Closes the session everywhere ('destroyed'; its 'close' event fires in this process). False
   * when it was already closed; a session past its deadline closes as 'expired' and false.
   */
  async close(): Promise<boolean> {
    if (this.#closeReason !== undefined) return false
    const reason = await this.#core.destroy(this.#id)
    this.#closeReason = reason ?? 'expired'
    if (reason === 'destroyed') this.#observer?.closed(this)
    return reason === 'destroyed'
  }

  /** @internal For the HTTP integrations: the request holding this handle, told of its regenerate and close. */
  [observeSession](observer: SessionObserver): void {
    this.#observer = observer
  }

  /** @internal A login's create closed this session in its own step ('destroyed'). */
  [closedByCreate](): void {
    if (this.#closeReason !== undefined) return
    this.#closeReason = 'destroyed'
    this.#observer?.closed(this)
  }

  /** Stores a live JS value owned by the session in this process (see the class note); false, and disposed at once, when closed. */
  putObject<T>(key: string, value: T, dispose?: Disposer<T>): boolean {
    checkString('key', key)
    if (dispose !== undefined && typeof dispose !== 'function') throw new TypeError(`dispose must be a function, received ${typeof dispose}`)
    if (!this.closed) {
      this.#core.putObject(this.#id, key, value, dispose as Disposer | undefined)
      return true
    }
    const unowned = new OwnedObjects()
    unowned.put(0, key, value, dispose as Disposer | undefined, this.#core.reportError)
    unowned.remove(0, key, this.#core.reportError)
    return false
  }

  getObject<T = unknown>(key: string): T | undefined {
    checkString('key', key)
    const handle = this.#core.objectHandle(this.#id, false)
    return handle === undefined || this.closed ? undefined : this.#core.objects.get(handle, key) as T | undefined
  }

  removeObject(key: string): boolean {
    checkString('key', key)
    return !this.closed && this.#core.removeObject(this.#id, key)
  }

  /**
   * @internal Sets data values (stored forms) and makes the deadline `idleTimeout` from now, in
   * one step. With `expected`, only while the record's data version is that one (the version of
   * the copy the values were merged against), else DataChangedError, nothing written, and this
   * copy then holds the record as Redis does (to merge against anew).
   */
  async [writeAndRenew](data: readonly string[], idleTimeout: number, expected?: number): Promise<boolean> {
    const set = ['a', '', 'i', String(idleTimeout)]
    for (let index = 0; index + 1 < data.length; index += 2) set.push(...dataFields(this.#id, this.#core.seal, data[index], data[index + 1]))
    return this.#write(set, twinsOf(set), undefined, expected)
  }

  /** @internal The data version of this copy's record (see writeAndRenew). */
  get [dataVersion](): number {
    return this.#record.dataVersion
  }

  /** Sets `set`'s pairs (deleting their plain or sealed twins) and deletes `remove`. */
  async #write(set: string[], remove: string[] = twinsOf(set), user?: string, expected?: number): Promise<boolean> {
    if (this.closed) return false
    let record: SessionRecord | undefined
    try {
      record = await this.#core.write(this.#id, set, remove, user, expected)
    } catch (error) {
      if (error instanceof DataChangedError) this.#record = error.record
      throw error
    }
    if (record === undefined) return this.#lost()
    this.#record = record
    return true
  }

  /** Redis no longer holds the session live: it was closed elsewhere or expired. */
  #lost(): false {
    this.#closeReason ??= this.#core.now() < this.expiresAt ? 'destroyed' : 'expired'
    return false
  }
}
