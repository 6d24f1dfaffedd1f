import { Buffer } from 'node:buffer'

const utf8 = (text: string): number => Buffer.byteLength(text, 'utf8')

/** Entries a session keeps side by side in one array before it moves them to a Map. */
const FLAT_ENTRIES = 16
/** Roles of a session that has none: shared, and frozen so that no caller can fill it by mistake. */
const NO_ROLES: string[] = Object.freeze([]) as unknown as string[]

/**
 * A session's string data, user and roles; made on first write, so bare sessions cost nothing.
 *
 * Up to FLAT_ENTRIES entries live in one array, key, value, key...: a Map and its hash table
 * were ~310 of the ~520 bytes of JS heap a session of five entries held at 10^6 sessions, and on
 * Node 20 and 22 a scavenge takes longer the larger the old generation is (1.9 ms against 0.5 ms
 * for the native engine's heap while serving, bench/results 2026-12-04), whatever it holds. A
 * lookup compares at most FLAT_ENTRIES keys: by identity where both are internalized (keys from
 * `Object.keys` and from literals), by content otherwise (keys decoded from a persistence file).
 * A session given more entries moves them to a Map for good, so no lookup walks more than
 * FLAT_ENTRIES keys.
 */
export class SessionData {
  /** Key, value, key... in insertion order while the session has at most FLAT_ENTRIES; then unused. */
  private flat: string[] = []
  /** The entries once they outgrew `flat`, in insertion order (Map order). */
  private map: Map<string, string> | undefined = undefined
  dataBytes = 0
  user: string | undefined = undefined
  roles: string[] = NO_ROLES

  /** UTF-8 bytes of one entry. */
  static entryBytes(key: string, value: string): number {
    return utf8(key) + utf8(value)
  }

  /**
   * A create's data as the engine keeps it while nothing else is set: `entries` (key, value,
   * key...) copied to an array of their exact size, or undefined when they cannot be kept so
   * (more than FLAT_ENTRIES, a key given twice, or more than `maxBytes` UTF-8 bytes in all: set
   * them one by one then, as setData would). Read with the bare* functions; `ofBare` makes the
   * record for a change.
   */
  static bareEntries(entries: string[], maxBytes: number): string[] | undefined {
    if (entries.length > FLAT_ENTRIES * 2 || (entries.length & 1) !== 0) return undefined
    for (let at = 2; at < entries.length; at += 2) {
      for (let earlier = 0; earlier < at; earlier += 2) if (entries[earlier] === entries[at]) return undefined
    }
    // Without a cap nothing needs the byte count now: bareDataBytes counts it when asked.
    if (maxBytes !== Infinity && SessionData.bareDataBytes(entries) > maxBytes) return undefined
    return entries.slice()
  }

  /** The value of `key` in a bare array. */
  static bareGet(bare: string[], key: string): string | undefined {
    for (let at = 0; at < bare.length; at += 2) if (bare[at] === key) return bare[at + 1]
    return undefined
  }

  /** The keys of a bare array, as a new array. */
  static bareKeys(bare: string[]): string[] {
    const keys = new Array<string>(bare.length >> 1)
    for (let at = 0; at < keys.length; at++) keys[at] = bare[at * 2]
    return keys
  }

  /** UTF-8 bytes of a bare array's strings. */
  static bareDataBytes(bare: string[]): number {
    let bytes = 0
    for (let at = 0; at < bare.length; at++) bytes += utf8(bare[at])
    return bytes
  }

  /** The data bytes of a bare array after storing `value` under `key`, as bytesAfterSet counts. */
  static bareBytesAfterSet(bare: string[], key: string, value: string): number {
    return bytesAfter(SessionData.bareDataBytes(bare), SessionData.bareGet(bare, key), key, value)
  }

  /**
   * What memoryBytes counts for a bare array: as approximateBytes would for its record, with
   * UTF-16 lengths standing for UTF-8 bytes (no pass of Buffer.byteLength on every release).
   */
  static bareBytes(bare: string[]): number {
    let bytes = 64 + (bare.length >> 1) * 64
    for (let at = 0; at < bare.length; at++) bytes += bare[at].length
    return bytes
  }

  /** The record of a bare array, which it takes (no copy). */
  static ofBare(bare: string[]): SessionData {
    const record = new SessionData()
    record.flat = bare
    record.dataBytes = SessionData.bareDataBytes(bare)
    return record
  }

  /** Takes `roles` as the session's roles (the shared empty list when there are none). */
  setRoles(roles: string[]): void {
    this.roles = roles.length === 0 ? NO_ROLES : roles
  }

  /** Entries held. */
  get size(): number {
    return this.map === undefined ? this.flat.length >> 1 : this.map.size
  }

  get(key: string): string | undefined {
    return this.map !== undefined ? this.map.get(key) : SessionData.bareGet(this.flat, key)
  }

  /** The data bytes after storing `value` under `key` (what maxDataBytes is checked against). */
  bytesAfterSet(key: string, value: string): number {
    return bytesAfter(this.dataBytes, this.get(key), key, value)
  }

  /** Stores `value` under `key`: a replaced key keeps its place, a new one goes last. */
  set(key: string, value: string, bytesAfter: number): void {
    this.dataBytes = bytesAfter
    if (this.map !== undefined) {
      this.map.set(key, value)
      return
    }
    const flat = this.flat
    for (let at = 0; at < flat.length; at += 2) {
      if (flat[at] === key) {
        flat[at + 1] = value
        return
      }
    }
    if (flat.length < FLAT_ENTRIES * 2) {
      flat.push(key, value)
      return
    }
    const map = new Map<string, string>()
    for (let at = 0; at < flat.length; at += 2) map.set(flat[at], flat[at + 1])
    map.set(key, value)
    this.map = map
    this.flat = []
  }

  delete(key: string): boolean {
    if (this.map !== undefined) {
      const old = this.map.get(key)
      if (old === undefined) return false
      this.map.delete(key)
      this.dataBytes -= utf8(key) + utf8(old)
      return true
    }
    const flat = this.flat
    for (let at = 0; at < flat.length; at += 2) {
      if (flat[at] !== key) continue
      this.dataBytes -= utf8(key) + utf8(flat[at + 1])
      // The rest keep their order.
      flat.splice(at, 2)
      return true
    }
    return false
  }

  /** Forgets every entry. */
  clear(): void {
    this.flat = []
    this.map = undefined
    this.dataBytes = 0
  }

  /** The keys in insertion order, as a new array. */
  keys(): string[] {
    return this.map !== undefined ? Array.from(this.map.keys()) : SessionData.bareKeys(this.flat)
  }

  /** Calls `visit` with each value and key in insertion order (Map.forEach's order of arguments). */
  forEach(visit: (value: string, key: string) => void): void {
    if (this.map !== undefined) {
      this.map.forEach(visit)
      return
    }
    const flat = this.flat
    for (let at = 0; at < flat.length; at += 2) visit(flat[at + 1], flat[at])
  }

  /** Rough bytes held, for memoryBytes(). */
  approximateBytes(): number {
    let bytes = 64 + this.dataBytes + this.size * 64
    if (this.user !== undefined) bytes += 16 + this.user.length
    for (let index = 0; index < this.roles.length; index++) bytes += 16 + this.roles[index].length
    return bytes
  }
}

/** Data bytes after `key` is set to `value`, from `bytes` with `old` its value now (if any). */
function bytesAfter(bytes: number, old: string | undefined, key: string, value: string): number {
  // A replaced entry keeps its key, so only the value's bytes change.
  return old === undefined ? bytes + utf8(key) + utf8(value) : bytes - utf8(old) + utf8(value)
}
