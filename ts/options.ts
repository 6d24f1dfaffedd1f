import {
  checkChoice, checkFunction, checkInteger, checkKnownKeys, checkPlainObject, checkTimeout,
} from './validate'
import { SLOT_SPACE } from './engine'

/** Options of `new SessionManager(options)`. Every field is optional. */
export interface SessionManagerOptions {
  /** Idle timeout in ms: a session expires this long after its last use. 0 for none. Default 30 minutes. */
  idleTimeout?: number
  /** Absolute timeout in ms: a session expires this long after its creation, used or not. 0 (default) for none. */
  absoluteTimeout?: number
  /** Most live sessions at once, an integer from 1, or Infinity (default). */
  maxSessions?: number
  /** At maxSessions: `'evict'` (default) closes expired sessions, then the least recently used; `'reject'` throws SessionLimitError. */
  whenFull?: 'evict' | 'reject'
  /** Cap on one session's string data (UTF-8 bytes of keys and values); Infinity (default) for none. */
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
}

export interface ResolvedOptions {
  idleTimeout: number
  absoluteTimeout: number
  maxSessions: number
  whenFull: 'evict' | 'reject'
  maxDataBytes: number
  idBytes: number
  idEncoding: 'base64url' | 'hex'
  keys: 'random' | 'caller'
  engine: 'auto' | 'native' | 'js'
  resolution: number
  clock: () => number
}

const KNOWN = [
  'idleTimeout', 'absoluteTimeout', 'maxSessions', 'whenFull', 'maxDataBytes', 'idBytes',
  'idEncoding', 'keys', 'engine', 'resolution', 'clock',
] as const

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
    maxDataBytes: pick('maxDataBytes', Infinity, (name, value) => checkInteger(name, value, 0, Number.MAX_SAFE_INTEGER, true)),
    idBytes: pick('idBytes', 16, (name, value) => checkInteger(name, value, 16, 64)),
    idEncoding: pick('idEncoding', 'base64url' as const, (name, value) => checkChoice(name, value, ['base64url', 'hex'] as const)),
    keys: pick('keys', 'random' as const, (name, value) => checkChoice(name, value, ['random', 'caller'] as const)),
    engine: pick('engine', 'auto' as const, (name, value) => checkChoice(name, value, ['auto', 'native', 'js'] as const)),
    resolution: pick('resolution', 1000, (name, value) => checkInteger(name, value, 1, MAX_RESOLUTION)),
    clock: pick('clock', Date.now, (name, value) => checkFunction(name, value) as () => number),
  }
}
