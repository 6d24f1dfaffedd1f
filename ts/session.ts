import {
  REKEY_EXISTS, REKEY_NOT_ATTACHED, SET_TOO_LARGE, STATE_ATTACHED, STATE_STALE,
} from './engine'
import { SessionClosedError, SessionExistsError } from './errors'
import type { Disposer } from './owned-objects'
import type { Registry } from './registry'
import { checkKey, checkRoles, checkString, checkTimeout } from './validate'

/**
 * A handle on one session. Handles are light and made on demand (every `get` returns a new
 * one); all state lives in the engine, so any handle on a session sees the same data. After the
 * session is closed every member throws SessionClosedError except `id` and `closed`.
 */
export class Session {
  readonly #registry: Registry
  readonly #handle: number
  #id: string
  #idEpoch: number

  /** @internal Sessions come from a SessionManager; do not construct them. */
  constructor(registry: Registry, handle: number, id: string) {
    this.#registry = registry
    this.#handle = handle
    this.#id = id
    this.#idEpoch = registry.idEpoch
  }

  /** The session id (or caller key). Follows `regenerate()`; stays readable after close. */
  get id(): string {
    if (this.#idEpoch !== this.#registry.idEpoch) {
      this.#idEpoch = this.#registry.idEpoch
      this.#id = this.#registry.engine.id(this.#handle) ?? this.#id
    }
    return this.#id
  }

  /**
   * True once the session is past its deadline or the manager has closed (or is closing) it. An
   * expired session is closed for every call at once; its 'close' event (reason 'expired')
   * follows when the background sweep reaches it.
   */
  get closed(): boolean {
    return !this.#registry.engine.isAlive(this.#handle, this.#registry.now())
  }

  /** Creation time, by the manager's clock (ms). */
  get createdAt(): number {
    return this.#readable('read createdAt').createdAt(this.#handle)
  }

  /** Time of the last use (`get`, `touch`, `getOrCreate`, `regenerate`, `create`). */
  get lastActivity(): number {
    return this.#readable('read lastActivity').lastActivity(this.#handle)
  }

  /** When the session expires: the earlier of its idle and absolute deadlines; Infinity if neither. */
  get expiresAt(): number {
    return this.#readable('read expiresAt').expiresAt(this.#handle)
  }

  /** This session's idle timeout in ms (0: none). Setting it moves the idle deadline. */
  get idleTimeout(): number {
    return this.#readable('read idleTimeout').idleTimeout(this.#handle)
  }

  set idleTimeout(timeout: number) {
    checkTimeout('idleTimeout', timeout)
    this.#attached('set idleTimeout').setIdleTimeout(this.#handle, timeout)
    this.#registry.timer.note(this.#registry.engine.expiresAt(this.#handle))
  }

  /** This session's absolute timeout in ms (0: none), counted from `createdAt`. */
  get absoluteTimeout(): number {
    return this.#readable('read absoluteTimeout').absoluteTimeout(this.#handle)
  }

  set absoluteTimeout(timeout: number) {
    checkTimeout('absoluteTimeout', timeout)
    this.#attached('set absoluteTimeout').setAbsoluteTimeout(this.#handle, timeout)
    this.#registry.timer.note(this.#registry.engine.expiresAt(this.#handle))
  }

  /** The user name, or undefined. */
  get user(): string | undefined {
    return this.#readable('read user').user(this.#handle)
  }

  set user(user: string | undefined) {
    const value = user === undefined ? undefined : checkString('user', user)
    this.#attached('set user').setUser(this.#handle, value)
  }

  /** The user's roles (a copy; assign a new array to change them). */
  get roles(): string[] {
    return this.#readable('read roles').roles(this.#handle)
  }

  set roles(roles: string[]) {
    const value = checkRoles('roles', roles)
    this.#attached('set roles').setRoles(this.#handle, value)
  }

  /** True when the session holds `role`. */
  hasRole(role: string): boolean {
    return this.roles.includes(role)
  }

  /** A string data value, or undefined. Does not renew the session. */
  get(key: string): string | undefined {
    const safeKey = checkString('key', key)
    return this.#readable('read data').getData(this.#handle, safeKey)
  }

  /** Stores a string value. RangeError when the session's data would exceed `maxDataBytes`. */
  set(key: string, value: string): this {
    const safeKey = checkString('key', key)
    const safeValue = checkString('value', value)
    const result = this.#attached('set data').setData(this.#handle, safeKey, safeValue)
    if (result === SET_TOO_LARGE) {
      throw new RangeError(
        `setting ${JSON.stringify(safeKey)} would make the session's data exceed maxDataBytes (${this.#registry.options.maxDataBytes})`,
      )
    }
    return this
  }

  /** Removes a data value; true when it was present. */
  delete(key: string): boolean {
    const safeKey = checkString('key', key)
    return this.#attached('delete data').deleteData(this.#handle, safeKey)
  }

  /** Data keys in insertion order. */
  keys(): string[] {
    return this.#readable('list data keys').dataKeys(this.#handle)
  }

  /**
   * Stores a live JS value owned by the session. It is disposed (with `dispose`, else its
   * `Symbol.dispose` or `Symbol.asyncDispose`) when replaced, removed, or after the session's
   * close listeners have run.
   */
  putObject<T>(key: string, value: T, dispose?: Disposer<T>): this {
    checkString('key', key)
    if (dispose !== undefined && typeof dispose !== 'function') {
      throw new TypeError(`dispose must be a function, received ${typeof dispose}`)
    }
    this.#attached('put an object')
    this.#registry.objects.put(this.#handle, key, value, dispose as Disposer | undefined, this.#registry.reportError)
    return this
  }

  /** An owned object, or undefined. */
  getObject<T = unknown>(key: string): T | undefined {
    checkString('key', key)
    this.#readable('get an object')
    return this.#registry.objects.get(this.#handle, key) as T | undefined
  }

  /** Removes and disposes an owned object; true when there was one. */
  removeObject(key: string): boolean {
    checkString('key', key)
    this.#attached('remove an object')
    return this.#registry.objects.remove(this.#handle, key, this.#registry.reportError)
  }

  /** Renews the idle deadline. False when the session has already expired (it is not revived). */
  touch(): boolean {
    const engine = this.#registry.engine
    if (engine.touch(this.#handle, this.#registry.now())) return true
    if (engine.state(this.#handle) !== STATE_ATTACHED) throw new SessionClosedError(this.id, 'touch')
    return false
  }

  /**
   * Gives the session a new id (session-fixation defence) and renews it; the old id stops
   * working at once. With `keys: 'caller'`, pass the new key. Returns the new id.
   */
  regenerate(newKey?: string): string {
    const registry = this.#registry
    const oldId = this.id
    let newId: string | undefined
    if (registry.options.keys === 'caller') {
      const key = checkKey('newKey', newKey)
      this.#attached('regenerate')
      const now = registry.now()
      const expiredHolder = registry.engine.detachIfExpired(key, now)
      if (expiredHolder >= 0) registry.finishClose(expiredHolder, 'expired')
      const result = registry.engine.rekey(this.#handle, key, now)
      if (result === REKEY_EXISTS) throw new SessionExistsError(key)
      if (result !== REKEY_NOT_ATTACHED) newId = key
    } else {
      if (newKey !== undefined) {
        throw new TypeError("regenerate() takes no key with keys: 'random'; the manager issues the new id")
      }
      newId = registry.engine.regenerate(this.#handle, registry.now())
    }
    if (newId === undefined) throw new SessionClosedError(oldId, 'regenerate')
    registry.idEpoch++
    this.#id = newId
    this.#idEpoch = registry.idEpoch
    registry.listeners.emit('regenerate', [this, oldId], registry.reportError)
    return newId
  }

  /**
   * Closes the session (reason `'destroyed'`). False when it was already closed; a session past
   * its deadline is closed now with reason `'expired'`, and false is returned, as `destroy` does.
   */
  close(): boolean {
    const registry = this.#registry
    if (registry.engine.isAlive(this.#handle, registry.now())) {
      registry.close(this.#handle, 'destroyed')
      return true
    }
    if (registry.engine.state(this.#handle) === STATE_ATTACHED) registry.close(this.#handle, 'expired')
    return false
  }

  /** @internal */
  get handle(): number {
    return this.#handle
  }

  #readable(action: string) {
    const engine = this.#registry.engine
    if (engine.state(this.#handle) === STATE_STALE) throw new SessionClosedError(this.id, action)
    return engine
  }

  /** The engine, if the session is still open and alive; changes need that. */
  #attached(action: string) {
    const engine = this.#registry.engine
    if (!engine.isAlive(this.#handle, this.#registry.now())) throw new SessionClosedError(this.id, action)
    return engine
  }
}
