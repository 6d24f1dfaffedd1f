import {
  REKEY_EXISTS, REKEY_NOT_ATTACHED, SET_OK, SET_TOO_LARGE, STATE_ATTACHED, STATE_DETACHED,
} from './engine'
import { decodeValue, encodeDataValue, type JsonFields, type JsonValue } from './data-codec'
import { SessionExistsError } from './errors'
import { observeSession, type SessionObserver } from './internal'
import { type Disposer, OwnedObjects } from './owned-objects'
import type { CloseReason, Registry } from './registry'
import { checkKey, checkRoles, checkString, checkTimeout } from './validate'

/**
 * A handle on one session. Handles are light and made on demand (every `get` returns a new
 * one); all state lives in the engine, so any handle on a session sees the same data.
 *
 * `Data` types the session's data per key (see `SessionManager<Data>`): `get('visits')` is
 * `Data['visits'] | undefined`, and `set` takes only `Data['visits']`. Values are JSON values,
 * stored as copies: an array or object `get` returns is the caller's own.
 *
 * A closed session is inert: it never makes a caller fail for being closed, and nothing revives
 * it. Reads return what an empty session returns (`get` undefined, `user` undefined, `roles`
 * [], `keys()` [], `getObject` undefined); `set`, `delete`, `putObject`, `removeObject` and
 * `touch` return false and change nothing (`putObject` disposes the value it was given at once);
 * `regenerate()` returns undefined; property setters are ignored. `closed` and `closeReason`
 * say what happened. While the session's close listeners run it is still readable. Arguments
 * are still validated: a wrong type or value is a TypeError or RangeError, closed or not.
 */
export class Session<Data extends JsonFields<Data> = Record<string, JsonValue>> {
  readonly #registry: Registry
  readonly #handle: number
  #id: string
  #idEpoch: number
  /** Cached once known: a closed session stays closed, and its slot may be reused later. */
  #closeReason: CloseReason | undefined
  /** The HTTP request that holds this handle, told of its regenerate and close. */
  #observer: SessionObserver | undefined

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
    return this.#closeReason !== undefined || !this.#open()
  }

  /**
   * Why the session closed: undefined while it is open, else `'destroyed'`, `'expired'`,
   * `'evicted'` or `'shutdown'`, the reason its 'close' event carries (or will carry). A session
   * past its deadline reads `'expired'` at once, before the sweep delivers that event.
   */
  get closeReason(): CloseReason | undefined {
    if (this.#closeReason === undefined && !this.#open()) {
      this.#closeReason = this.#registry.closeRecords.reasonOf(this.#handle) ?? 'expired'
    }
    return this.#closeReason
  }

  /**
   * Creation time, by the manager's clock (ms). Timestamps and timeouts stay readable while the
   * engine holds the session (past its deadline, and during its close listeners); once it is
   * gone they are NaN.
   */
  get createdAt(): number {
    return this.#registry.engine.createdAt(this.#handle)
  }

  /** Time of the last use (`get`, `touch`, `getOrCreate`, `regenerate`, `create`); NaN once gone. */
  get lastActivity(): number {
    return this.#registry.engine.lastActivity(this.#handle)
  }

  /**
   * When the session expires: the earlier of its idle and absolute deadlines; Infinity if
   * neither; NaN once gone.
   */
  get expiresAt(): number {
    return this.#registry.engine.expiresAt(this.#handle)
  }

  /**
   * This session's idle timeout in ms (0: none); NaN once gone. Setting it moves the idle
   * deadline; on a closed session the assignment is ignored (it cannot revive it).
   */
  get idleTimeout(): number {
    return this.#registry.engine.idleTimeout(this.#handle)
  }

  set idleTimeout(timeout: number) {
    checkTimeout('idleTimeout', timeout)
    if (!this.#open()) return
    this.#registry.engine.setIdleTimeout(this.#handle, timeout)
    this.#registry.timer.note(this.#registry.engine.expiresAt(this.#handle))
  }

  /**
   * This session's absolute timeout in ms (0: none), counted from `createdAt`; NaN once gone.
   * Ignored when assigned on a closed session.
   */
  get absoluteTimeout(): number {
    return this.#registry.engine.absoluteTimeout(this.#handle)
  }

  set absoluteTimeout(timeout: number) {
    checkTimeout('absoluteTimeout', timeout)
    if (!this.#open()) return
    this.#registry.engine.setAbsoluteTimeout(this.#handle, timeout)
    this.#registry.timer.note(this.#registry.engine.expiresAt(this.#handle))
  }

  /** The user name, or undefined (always undefined once closed). Ignored when assigned on a closed session. */
  get user(): string | undefined {
    const registry = this.#registry
    const engine = registry.engine
    // One engine call where the engine offers it (a request handler's usual read).
    if (engine.readableUser !== undefined) return engine.readableUser(this.#handle, registry.now())
    return this.#readable() ? engine.user(this.#handle) : undefined
  }

  /**
   * Assigning a user another than the session's own counts against `maxSessionsPerUser`: that
   * user's oldest other session is evicted to make room, or (`whenUserFull: 'reject'`)
   * UserSessionLimitError is thrown and nothing changes.
   */
  set user(user: string | undefined) {
    const value = user === undefined ? undefined : checkString('user', user)
    if (!this.#open()) return
    const registry = this.#registry
    const handle = this.#handle
    if (value !== undefined && registry.users.userOf(handle) !== value) {
      registry.admitUser(value, handle)
      // An eviction's close listener may have closed this session, or given it a user meanwhile.
      if (!this.#open()) return
    }
    if (registry.engine.setUser(handle, value)) registry.users.set(handle, value)
  }

  /**
   * The user's roles (a copy; assign a new array to change them); [] once closed. Ignored when
   * assigned on a closed session.
   */
  get roles(): string[] {
    return this.#readable() ? this.#registry.engine.roles(this.#handle) : []
  }

  set roles(roles: string[]) {
    const value = checkRoles('roles', roles)
    if (this.#open()) this.#registry.engine.setRoles(this.#handle, value)
  }

  /** True when the session holds `role` (false once closed). */
  hasRole(role: string): boolean {
    return this.roles.includes(role)
  }

  /**
   * The value stored under `key`, or undefined (always undefined once closed). A fresh copy on
   * every call: changing an array or object it returns changes nothing stored until it is
   * `set` again. Does not renew the session.
   */
  get<K extends keyof Data & string>(key: K): Data[K] | undefined {
    const safeKey = checkString('key', key)
    return this.#readable() ? decodeValue(this.#registry.engine.getData(this.#handle, safeKey)) as Data[K] | undefined : undefined
  }

  /**
   * Stores a copy of a JSON value (a string, finite number, boolean, null, or an array or plain
   * object of those) and returns true; false when the session is closed (nothing is stored).
   * Anything else is a TypeError naming the key and where in the value it is (undefined, a
   * function, a Date, a Map, NaN, a cycle, a sparse array...); a string with a lone surrogate
   * or nesting deeper than 128 levels is a RangeError. RangeError when the session's data would
   * exceed `maxDataBytes` (counted on the stored form; nothing changes). `value` is typed
   * without `undefined`, which an optional key's type includes but no key may hold (`delete`
   * removes a key).
   */
  set<K extends keyof Data & string>(key: K, value: Exclude<Data[K], undefined>): boolean {
    const safeKey = checkString('key', key)
    const stored = encodeDataValue(safeKey, value)
    if (!this.#open()) return false
    const result = this.#registry.engine.setData(this.#handle, safeKey, stored)
    if (result === SET_TOO_LARGE) {
      throw new RangeError(
        `setting ${JSON.stringify(safeKey)} would make the session's data exceed maxDataBytes (${this.#registry.options.maxDataBytes})`,
      )
    }
    return result === SET_OK
  }

  /** Removes a data value; true when it was present, false when absent or the session is closed. */
  delete(key: keyof Data & string): boolean {
    const safeKey = checkString('key', key)
    return this.#open() && this.#registry.engine.deleteData(this.#handle, safeKey)
  }

  /** Data keys in insertion order; [] once closed. */
  keys(): string[] {
    return this.#readable() ? this.#registry.engine.dataKeys(this.#handle) : []
  }

  /**
   * Stores a live JS value owned by the session and returns true. It is disposed (with
   * `dispose`, else its `Symbol.dispose` or `Symbol.asyncDispose`) when replaced, removed, or
   * after the session's close listeners have run. On a closed session nothing is stored, the
   * value is disposed at once (so nothing leaks), and false is returned.
   */
  putObject<T>(key: string, value: T, dispose?: Disposer<T>): boolean {
    checkString('key', key)
    if (dispose !== undefined && typeof dispose !== 'function') {
      throw new TypeError(`dispose must be a function, received ${typeof dispose}`)
    }
    const registry = this.#registry
    if (this.#open()) {
      registry.objects.put(this.#handle, key, value, dispose as Disposer | undefined, registry.reportError)
      return true
    }
    // Disposed exactly as a replaced or removed object is, by the same code, without touching
    // the objects this session (closing, or long gone) may still hold.
    const unowned = new OwnedObjects()
    unowned.put(this.#handle, key, value, dispose as Disposer | undefined, registry.reportError)
    unowned.remove(this.#handle, key, registry.reportError)
    return false
  }

  /** An owned object, or undefined (always undefined once closed). */
  getObject<T = unknown>(key: string): T | undefined {
    checkString('key', key)
    return this.#readable() ? (this.#registry.objects.get(this.#handle, key) as T | undefined) : undefined
  }

  /**
   * Removes and disposes an owned object; true when there was one, false when there was none or
   * the session is closed (its objects are disposed after its close listeners).
   */
  removeObject(key: string): boolean {
    checkString('key', key)
    return this.#open() && this.#registry.objects.remove(this.#handle, key, this.#registry.reportError)
  }

  /** Renews the idle deadline and returns true; false when the session is closed (it is not revived). */
  touch(): boolean {
    return this.#registry.engine.touch(this.#handle, this.#registry.now())
  }

  /**
   * Gives the session a new id (session-fixation defence) and renews it; the old id stops
   * working at once. With `keys: 'caller'`, pass the new key. Returns the new id, or undefined
   * when the session is closed (nothing changes, no 'regenerate' event).
   */
  regenerate(newKey?: string): string | undefined {
    const registry = this.#registry
    this.#observer?.beforeRegenerate(this, newKey)
    const oldId = this.id
    let newId: string | undefined
    if (registry.options.keys === 'caller') {
      const key = checkKey('newKey', newKey)
      // Checked before anything else: a closed session must not close another key's holder.
      if (!this.#open()) return undefined
      const { claimedKeys } = registry
      if (claimedKeys.has(key)) throw new SessionExistsError(key)
      const now = registry.now()
      const expiredHolder = registry.engine.detachIfExpired(key, now)
      if (expiredHolder >= 0) {
        // The key is this regenerate's while the holder's close listeners run.
        claimedKeys.add(key)
        try {
          registry.finishExpired(expiredHolder, now)
        } finally {
          claimedKeys.delete(key)
        }
      }
      const result = registry.engine.rekey(this.#handle, key, now)
      if (result === REKEY_EXISTS) throw new SessionExistsError(key)
      if (result !== REKEY_NOT_ATTACHED) newId = key
    } else {
      if (newKey !== undefined) {
        throw new TypeError("regenerate() takes no key with keys: 'random'; the manager issues the new id")
      }
      newId = registry.engine.regenerate(this.#handle, registry.now())
    }
    if (newId === undefined) return undefined
    registry.idEpoch++
    this.#id = newId
    this.#idEpoch = registry.idEpoch
    registry.listeners.emit('regenerate', [this, oldId], registry.reportError)
    this.#observer?.regenerated(this, newId)
    return newId
  }

  /**
   * Closes the session (reason `'destroyed'`). False when it was already closed; a session past
   * its deadline is closed now with reason `'expired'`, and false is returned, as `destroy` does.
   */
  close(): boolean {
    const registry = this.#registry
    const now = registry.now()
    if (registry.engine.isAlive(this.#handle, now)) {
      registry.close(this.#handle, 'destroyed')
      this.#observer?.closed(this)
      return true
    }
    if (registry.engine.state(this.#handle) === STATE_ATTACHED) registry.closeExpired(this.#handle, now)
    return false
  }

  /** @internal Whether this is a session of the manager that shares `registry`. */
  belongsTo(registry: Registry): boolean {
    return this.#registry === registry
  }

  /** @internal For the HTTP integrations: the request holding this handle, told of its regenerate and close. */
  [observeSession](observer: SessionObserver): void {
    this.#observer = observer
  }

  /** @internal The engine handle (slot and generation). */
  get handle(): number {
    return this.#handle
  }

  /** Attached and alive: writes, setters and renewals need that. */
  #open(): boolean {
    return this.#registry.engine.isAlive(this.#handle, this.#registry.now())
  }

  /** Open, or closing (detached while its close listeners run): reads see its state. */
  #readable(): boolean {
    return this.#open() || this.#registry.engine.state(this.#handle) === STATE_DETACHED
  }
}
