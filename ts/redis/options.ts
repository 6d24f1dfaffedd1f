import type { RedisClientLike } from './connection'
import { checkKeys } from '../options'
import { checkChoice, checkInteger, checkKnownKeys, checkPlainObject, checkString, checkTimeout } from '../validate'

/** Options of `new RedisSessionManager(options)`; only `client` is required. */
export interface RedisSessionManagerOptions {
  /** A node-redis v5 client (`createClient({ url })`); connected by the manager if it is not yet. Yours to close. */
  client: unknown
  /**
   * Prefix of every key and of the invalidation channel; default `'sk:'`. Give each application
   * sharing a Redis its own. In Redis Cluster, put a hash tag in it (`'{sk}:'`): the scripts
   * touch a session's record, the deadline index and the user sets at once, so they must share a slot.
   */
  prefix?: string
  /** Idle timeout in ms (0: none); default 30 minutes. */
  idleTimeout?: number
  /** Absolute timeout in ms (0, default: none). */
  absoluteTimeout?: number
  /**
   * A `get` renews a session in Redis at most once per this many ms (across all processes), and
   * a near-cache copy is served at most this long after its last renewal. Default: a tenth of
   * `idleTimeout`, at most one minute (1 s when there is no idle timeout). Below `idleTimeout`.
   */
  touchInterval?: number
  /** Random bytes per id, 16 (default) to 64. */
  idBytes?: number
  /** `'base64url'` (default) or `'hex'`. */
  idEncoding?: 'base64url' | 'hex'
  /** `'random'` (default): the manager issues ids. `'caller'`: sessions are keyed by the caller's strings. */
  keys?: 'random' | 'caller'
  /** How often (ms) this process tries to sweep expired sessions; default 1000. */
  resolution?: number
  /** Most records kept in this process's near cache (0 turns it off); default 10000. */
  nearCache?: number
  /** A call rejects with RedisUnavailableError when Redis has not answered within this many ms; default 2000. */
  commandTimeout?: number
  /**
   * Encrypts users, roles and data values in Redis (AES-256-GCM, each bound to its session id
   * and field): a key of 32 bytes (a Uint8Array, 64 hex digits or 43 base64url characters), as
   * `persist.key`, or a list of them to rotate: the first seals, every one opens, and a record
   * read from Redis is sealed again under the first. Without it values are stored in the clear.
   */
  key?: Uint8Array | string | readonly (Uint8Array | string)[]
  /**
   * Most live sessions of one user at once, across every process, an integer from 1, or Infinity
   * (default). Checked in the same atomic step as the create or `setUser` it applies to.
   */
  maxSessionsPerUser?: number
  /** At maxSessionsPerUser: `'evict-oldest'` (default) closes the user's session created first; `'reject'` throws UserSessionLimitError. */
  whenUserFull?: 'evict-oldest' | 'reject'
}

export interface ResolvedRedisOptions {
  client: RedisClientLike
  prefix: string
  idleTimeout: number
  absoluteTimeout: number
  touchInterval: number
  idBytes: number
  idEncoding: 'base64url' | 'hex'
  keys: 'random' | 'caller'
  resolution: number
  nearCache: number
  commandTimeout: number
  /** Encryption keys, the first seals; undefined: values in the clear. */
  key: Uint8Array[] | undefined
  maxSessionsPerUser: number
  whenUserFull: 'evict-oldest' | 'reject'
  /** How long the sweep lease lasts without renewal (ms). */
  lease: number
  /** How long a key outlives its deadline in Redis (ms): time for the sweep to close it first. */
  grace: number
}

const KNOWN = [
  'client', 'prefix', 'idleTimeout', 'absoluteTimeout', 'touchInterval', 'idBytes', 'idEncoding', 'keys',
  'resolution', 'nearCache', 'commandTimeout', 'key', 'maxSessionsPerUser', 'whenUserFull',
] as const

export function resolveRedisOptions(input: unknown): ResolvedRedisOptions {
  const given = checkPlainObject('options', input)
  checkKnownKeys('options', given, KNOWN)
  const client = given.client as RedisClientLike
  if (typeof client !== 'object' || client === null || typeof client.sendCommand !== 'function' || typeof client.duplicate !== 'function') {
    throw new TypeError('options.client must be a node-redis v5 client (createClient() from the redis package)')
  }
  const pick = <T>(name: (typeof KNOWN)[number], fallback: T, check: (name: string, value: unknown) => T): T =>
    given[name] === undefined ? fallback : check(`options.${name}`, given[name])
  const idleTimeout = pick('idleTimeout', 30 * 60_000, checkTimeout)
  const defaultInterval = idleTimeout > 0 ? Math.max(1, Math.min(60_000, Math.floor(idleTimeout / 10))) : 1000
  const touchInterval = pick('touchInterval', defaultInterval, (name, value) => checkInteger(name, value, 0, 2 ** 31 - 1))
  if (idleTimeout > 0 && touchInterval >= idleTimeout) {
    throw new RangeError(`options.touchInterval (${touchInterval}) must be below options.idleTimeout (${idleTimeout})`)
  }
  const resolution = pick('resolution', 1000, (name, value) => checkInteger(name, value, 1, 2 ** 31 - 1))
  const prefix = pick('prefix', 'sk:', checkString)
  const lease = Math.max(5000, 3 * resolution)
  return {
    client,
    prefix: `${prefix}1:`,
    idleTimeout,
    absoluteTimeout: pick('absoluteTimeout', 0, checkTimeout),
    touchInterval,
    idBytes: pick('idBytes', 16, (name, value) => checkInteger(name, value, 16, 64)),
    idEncoding: pick('idEncoding', 'base64url' as const, (name, value) => checkChoice(name, value, ['base64url', 'hex'] as const)),
    keys: pick('keys', 'random' as const, (name, value) => checkChoice(name, value, ['random', 'caller'] as const)),
    resolution,
    nearCache: pick('nearCache', 10_000, (name, value) => checkInteger(name, value, 0, 2 ** 24)),
    commandTimeout: pick('commandTimeout', 2000, (name, value) => checkInteger(name, value, 1, 2 ** 31 - 1)),
    key: pick('key', undefined as Uint8Array[] | undefined, checkKeys),
    maxSessionsPerUser: pick('maxSessionsPerUser', Infinity, (name, value) => checkInteger(name, value, 1, 2 ** 31 - 1, true)),
    whenUserFull: pick('whenUserFull', 'evict-oldest' as const, (name, value) => checkChoice(name, value, ['evict-oldest', 'reject'] as const)),
    lease,
    grace: 60_000 + lease,
  }
}
