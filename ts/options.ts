import {
  checkChoice, checkFunction, checkInteger, checkKnownKeys, checkPlainObject, checkString, checkTimeout,
} from './validate'
import { SLOT_SPACE } from './engine'
import type { PersistOptions } from './persist/persistence'

/** `options.persist`: sessions saved to a file, so that they survive restarts and crashes. */
export interface SessionPersistOptions {
  /** The session file (created when missing; its directory must exist). One manager at a time may open it. */
  path: string
  /**
   * When a change is on disk. `'everysec'` (default): written off the JS thread and fsync'd
   * about once a second (a crash loses at most the last second or so). `'always'`: fsync'd
   * before the call that made it returns (slower: each change waits for the disk). `'never'`:
   * written off the JS thread, fsync'd only by `flush()` and `close()`.
   */
  fsync?: 'always' | 'everysec' | 'never'
  /**
   * A file that cannot be loaded (not a session file, an unknown version, a bad checksum before
   * its end): `'fail'` (default) throws SessionFileError; `'rename'` moves it aside (kept as
   * `<path>.corrupt-<time>`) with a warning and starts with no sessions. A file written with
   * other settings or sealed under a key not given is never moved aside: it always throws.
   */
  onCorrupt?: 'fail' | 'rename'
  /**
   * Encrypts the file's records (AES-256-GCM): a key of 32 bytes (a Uint8Array, or a string of
   * 64 hex digits or 43 base64url characters), or several: the first encrypts, every one
   * decrypts, so a key rotates by putting the new one first. Default: none (records in the clear).
   */
  key?: string | Uint8Array | ReadonlyArray<string | Uint8Array>
}

/** Options of `new SessionManager(options)`. Every field is optional. */
export interface SessionManagerOptions {
  /** Idle timeout in ms: a session expires this long after its last use. 0 for none. Default 30 minutes. */
  idleTimeout?: number
  /** Absolute timeout in ms: a session expires this long after its creation, used or not. 0 (default) for none. */
  absoluteTimeout?: number
  /**
   * Most live sessions at once, an integer from 1, or Infinity (default). A finite one above 2^16
   * also sizes the JsEngine's per-slot arrays at once (address space the OS backs as slots are
   * used), so that no create below it copies them.
   */
  maxSessions?: number
  /**
   * At maxSessions: `'evict'` (default) closes expired sessions, then evicts sessions without a user before any
   * with one, the closest to expiry first (to within one wheel slot; with one shared idle timeout that is the
   * least recently used); `'reject'` throws SessionLimitError.
   */
  whenFull?: 'evict' | 'reject'
  /**
   * Most live sessions of one user (`session.user`) at once, an integer from 1, or Infinity
   * (default). Applied on create, on login (`startSession`), on `session.user = ...` and on load
   * from the persistence file; see `whenUserFull`.
   */
  maxSessionsPerUser?: number
  /**
   * At maxSessionsPerUser: `'evict-oldest'` (default) closes the user's session created first
   * (reason `'evicted'`) to make room; `'reject'` throws UserSessionLimitError and changes nothing.
   */
  whenUserFull?: 'evict-oldest' | 'reject'
  /** Cap on one session's data: UTF-8 bytes of its keys and of its values' stored forms (docs/data-format.md); Infinity (default) for none. */
  maxDataBytes?: number
  /** Random bytes per id, 16 (default) to 64. */
  idBytes?: number
  /** How ids are written: `'base64url'` (default; 22 characters for 16 bytes) or `'hex'` (32). */
  idEncoding?: 'base64url' | 'hex'
  /** `'random'` (default): the manager issues ids. `'caller'`: sessions are keyed by the caller's strings. */
  keys?: 'random' | 'caller'
  /** `'auto'` (default): native, falling back to the JS engine with a warning; `'native'`; `'js'`. */
  engine?: 'auto' | 'native' | 'js'
  /** Background expiry runs at most this many ms after a deadline, and never more often. Default 1000, at least 1. */
  resolution?: number
  /** The time in ms, read on every operation. Default `Date.now`; tests pass a fake clock. */
  clock?: () => number
  /** Save sessions to a file and load them on construction (default: none, sessions live in memory only). */
  persist?: SessionPersistOptions
}

export interface ResolvedOptions {
  idleTimeout: number
  absoluteTimeout: number
  maxSessions: number
  whenFull: 'evict' | 'reject'
  maxSessionsPerUser: number
  whenUserFull: 'evict-oldest' | 'reject'
  maxDataBytes: number
  idBytes: number
  idEncoding: 'base64url' | 'hex'
  keys: 'random' | 'caller'
  engine: 'auto' | 'native' | 'js'
  resolution: number
  clock: () => number
  persist: PersistOptions | undefined
}

const KNOWN = [
  'idleTimeout', 'absoluteTimeout', 'maxSessions', 'whenFull', 'maxSessionsPerUser', 'whenUserFull', 'maxDataBytes', 'idBytes',
  'idEncoding', 'keys', 'engine', 'resolution', 'clock', 'persist',
] as const

const PERSIST_KNOWN = ['path', 'fsync', 'onCorrupt', 'key'] as const

function checkPersist(name: string, value: unknown): PersistOptions {
  const given = checkPlainObject(name, value)
  checkKnownKeys(name, given, PERSIST_KNOWN)
  const path = checkString(`${name}.path`, given.path)
  if (path.length === 0 || path.includes('\0')) throw new RangeError(`${name}.path must be a non-empty file path without NUL, received ${JSON.stringify(path)}`)
  return {
    path,
    fsync: given.fsync === undefined ? 'everysec' : checkChoice(`${name}.fsync`, given.fsync, ['always', 'everysec', 'never'] as const),
    onCorrupt: given.onCorrupt === undefined ? 'fail' : checkChoice(`${name}.onCorrupt`, given.onCorrupt, ['fail', 'rename'] as const),
    encryptionKeys: given.key === undefined ? undefined : checkKeys(`${name}.key`, given.key),
  }
}

/** Encryption keys as `persist.key` (and RedisSessionManager's `key`) take them: one or a list, 32 bytes each. */
export function checkKeys(name: string, value: unknown): Uint8Array[] {
  const list = Array.isArray(value) ? value : [value]
  if (list.length === 0) throw new RangeError(`${name} must hold at least one key`)
  return list.map((key: unknown, index) => {
    const label = Array.isArray(value) ? `${name}[${index}]` : name
    let bytes: Uint8Array | undefined
    if (key instanceof Uint8Array) bytes = Uint8Array.from(key)
    else if (typeof key === 'string' && /^[0-9a-fA-F]{64}$/.test(key)) bytes = Uint8Array.from(Buffer.from(key, 'hex'))
    else if (typeof key === 'string' && /^[A-Za-z0-9_-]{43}$/.test(key)) bytes = Uint8Array.from(Buffer.from(key, 'base64url'))
    else if (typeof key !== 'string') throw new TypeError(`${label} must be a Uint8Array or a string, received ${typeof key}`)
    if (bytes === undefined || bytes.length !== 32) {
      throw new RangeError(`${label} must be 32 bytes (a Uint8Array, 64 hex digits or 43 base64url characters)`)
    }
    return bytes
  })
}

/** Longest timer delay Node accepts; longer waits are re-armed. */
const MAX_RESOLUTION = 2 ** 31 - 1

export function resolveOptions(input: unknown): ResolvedOptions {
  const given = input === undefined ? {} : checkPlainObject('options', input)
  checkKnownKeys('options', given, KNOWN)
  const pick = <T>(name: (typeof KNOWN)[number], fallback: T, check: (name: string, value: unknown) => T): T =>
    given[name] === undefined ? fallback : check(`options.${name}`, given[name])
  return {
    idleTimeout: pick('idleTimeout', 30 * 60_000, checkTimeout),
    absoluteTimeout: pick('absoluteTimeout', 0, checkTimeout),
    maxSessions: pick('maxSessions', Infinity, (name, value) => checkInteger(name, value, 1, SLOT_SPACE, true)),
    whenFull: pick('whenFull', 'evict' as const, (name, value) => checkChoice(name, value, ['evict', 'reject'] as const)),
    maxSessionsPerUser: pick('maxSessionsPerUser', Infinity, (name, value) => checkInteger(name, value, 1, SLOT_SPACE, true)),
    whenUserFull: pick('whenUserFull', 'evict-oldest' as const, (name, value) => checkChoice(name, value, ['evict-oldest', 'reject'] as const)),
    maxDataBytes: pick('maxDataBytes', Infinity, (name, value) => checkInteger(name, value, 0, Number.MAX_SAFE_INTEGER, true)),
    idBytes: pick('idBytes', 16, (name, value) => checkInteger(name, value, 16, 64)),
    idEncoding: pick('idEncoding', 'base64url' as const, (name, value) => checkChoice(name, value, ['base64url', 'hex'] as const)),
    keys: pick('keys', 'random' as const, (name, value) => checkChoice(name, value, ['random', 'caller'] as const)),
    engine: pick('engine', 'auto' as const, (name, value) => checkChoice(name, value, ['auto', 'native', 'js'] as const)),
    resolution: pick('resolution', 1000, (name, value) => checkInteger(name, value, 1, MAX_RESOLUTION)),
    clock: pick('clock', Date.now, (name, value) => checkFunction(name, value) as () => number),
    persist: pick('persist', undefined, checkPersist),
  }
}
