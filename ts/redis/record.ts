import { RedisKeyError, RedisSchemaError } from './errors'
import type { RecordSeal } from './seal'

// A session record in Redis is a hash, one field per fact, so that concurrent writes to
// different data keys never overwrite each other (each HSETs its own field):
//   v   version of the record format its writer used (this release writes 2)
//   m   lowest reader version that can read it: a release whose version is below refuses the
//       record (RedisSchemaError) rather than misread it; readers ignore fields they do not know
//       and writes never remove them, so a later release may add fields under the same m
//   c   created at, a   last renewed at (ms, Redis clock)
//   i   idle timeout, x   absolute timeout (ms, 0 for none)
//   u   user (absent: none), r   roles as a JSON array of strings (absent: none)
//   d:<key>   a data value in the stored form of data-codec.ts (type tags byte for byte)
// Version 2 adds sealed fields (a manager with `key`; seal.ts), which make m 2 so that a
// release reading version 1 refuses the record instead of serving ciphertext as data:
//   U   the user, sealed, R   the roles, sealed, e:<key>   a data value, sealed
//   h   the blind index of the user: its per-user set is uh:<h> instead of u:<user>
// Added under the same m (earlier readers ignore it):
//   w   data version: how many writes set or deleted a data value (absent: 0). A write merged
//       against a copy names that copy's version and is refused when the data changed since
//       (SessionkeeperStore's saves); writes of earlier releases leave it as it is
// Whether a field is sealed is told by its name, never guessed from its value, and a write
// of a sealed field deletes its plain twin (and the reverse), so old plain records and new
// sealed ones coexist and a record moves from one to the other field by field.

/** The record format this release writes and reads. */
export const RECORD_VERSION = 2
/** The lowest reader version that can read a record with no sealed field. */
export const RECORD_MIN_READER = 1
/** The lowest reader version that can read a record holding sealed fields. */
export const SEALED_MIN_READER = 2
export const DATA_PREFIX = 'd:'
export const SEALED_DATA_PREFIX = 'e:'

/** A record as read: plain values, data in stored form. */
export interface SessionRecord {
  createdAt: number
  lastActivity: number
  idleTimeout: number
  absoluteTimeout: number
  user: string | undefined
  roles: string[]
  /** Data key to stored form, in the order Redis returned the fields. */
  data: Map<string, string>
  /** How many writes set or deleted data values (field 'w'; 0 when absent): see the WRITE script. */
  dataVersion: number
}

/**
 * Fields to seal again, as [field, value as read, field to write, value to write] groups: with
 * a key, those sealed under an older key and the plain user, roles and data values (a record
 * written before the key was given); empty without a key or when all is sealed under the first.
 */
export type Reseal = string[]

/** Parses HGETALL's flat [field, value, ...] list; a record this release cannot read throws. */
export function parseRecord(id: string, flat: readonly string[], seal?: RecordSeal, reseal?: Reseal): SessionRecord {
  const record: SessionRecord = {
    createdAt: NaN, lastActivity: NaN, idleTimeout: 0, absoluteTimeout: 0, user: undefined, roles: [], data: new Map(), dataVersion: 0,
  }
  let minimumReader = 1
  let index: string | undefined
  // A sealed field wins over a plain twin (one a process without the key wrote meanwhile).
  let sealed: Set<string> | undefined
  for (let at = 0; at + 1 < flat.length; at += 2) {
    const field = flat[at]
    if (field === 'm') minimumReader = Number(flat[at + 1])
    else if (field === 'U' || field === 'R' || field.startsWith(SEALED_DATA_PREFIX)) (sealed ??= new Set()).add(field)
  }
  if (!(minimumReader <= RECORD_VERSION)) throw new RedisSchemaError(id, minimumReader, RECORD_VERSION)
  // Once a record is sealed (m 2), a plain user, roles or value in it was put there by someone
  // without the key: refused, rather than trusted beside the sealed ones.
  const plainRefused = seal !== undefined && minimumReader >= SEALED_MIN_READER
  for (let at = 0; at + 1 < flat.length; at += 2) {
    const field = flat[at]
    const value = flat[at + 1]
    if (field.startsWith(DATA_PREFIX)) {
      const key = field.slice(DATA_PREFIX.length)
      const twin = SEALED_DATA_PREFIX + key
      if (plainRefused) throw new RedisKeyError(id, field, 'not-authentic')
      if (sealed?.has(twin)) continue
      record.data.set(key, value)
      if (seal !== undefined) reseal?.push(field, value, twin, seal.seal(id, twin, value))
      continue
    }
    if (field.startsWith(SEALED_DATA_PREFIX)) {
      const plain = open(id, field, value, seal)
      record.data.set(field.slice(SEALED_DATA_PREFIX.length), plain)
      if (seal !== undefined && !seal.isCurrent(value)) reseal?.push(field, value, field, seal.seal(id, field, plain))
      continue
    }
    switch (field) {
      case 'c': record.createdAt = Number(value); break
      case 'a': record.lastActivity = Number(value); break
      case 'i': record.idleTimeout = Number(value); break
      case 'x': record.absoluteTimeout = Number(value); break
      case 'u':
        if (plainRefused) throw new RedisKeyError(id, field, 'not-authentic')
        if (sealed?.has('U')) break
        record.user = value
        if (seal !== undefined) reseal?.push('u', value, 'U', seal.seal(id, 'U', value))
        break
      case 'r':
        if (plainRefused) throw new RedisKeyError(id, field, 'not-authentic')
        if (sealed?.has('R')) break
        record.roles = parseRoles(value)
        if (seal !== undefined) reseal?.push('r', value, 'R', seal.seal(id, 'R', value))
        break
      case 'U':
        record.user = open(id, field, value, seal)
        if (seal !== undefined && !seal.isCurrent(value)) reseal?.push('U', value, 'U', seal.seal(id, 'U', record.user))
        break
      case 'R': {
        const text = open(id, field, value, seal)
        record.roles = parseRoles(text)
        if (seal !== undefined && !seal.isCurrent(value)) reseal?.push('R', value, 'R', seal.seal(id, 'R', text))
        break
      }
      case 'h': index = value; break
      case 'w': record.dataVersion = Number(value); break
      default: break
    }
  }
  // The per-user set follows the user sealed under the first key (the script moves the id).
  if (seal !== undefined && reseal !== undefined && reseal.length > 0 && record.user !== undefined) {
    const wanted = seal.userIndex(record.user)
    if (index !== wanted) reseal.push('h', index ?? '', 'h', wanted)
  }
  return record
}

function open(id: string, field: string, value: string, seal: RecordSeal | undefined): string {
  if (seal === undefined) throw new RedisKeyError(id, field, 'no-key')
  return seal.open(id, field, value)
}

/** The earlier of the idle and absolute deadlines; Infinity when neither applies. */
export function expiresAtOf(record: SessionRecord): number {
  const idle = record.idleTimeout > 0 ? record.lastActivity + record.idleTimeout : Infinity
  const absolute = record.absoluteTimeout > 0 ? record.createdAt + record.absoluteTimeout : Infinity
  return Math.min(idle, absolute)
}

/** Field/value pairs of a new record of `id` (the script sets c and a from Redis's clock); sealed with `seal`. */
export function newRecordFields(
  id: string, seal: RecordSeal | undefined,
  idleTimeout: number, absoluteTimeout: number, user: string | undefined, roles: string[] | undefined, data: readonly string[],
): string[] {
  const fields = [
    'v', String(RECORD_VERSION), 'm', String(seal === undefined ? RECORD_MIN_READER : SEALED_MIN_READER),
    'i', String(idleTimeout), 'x', String(absoluteTimeout),
  ]
  if (user !== undefined) fields.push(...userFields(id, seal, user))
  if (roles !== undefined && roles.length > 0) fields.push(...rolesFields(id, seal, roles))
  for (let at = 0; at + 1 < data.length; at += 2) fields.push(...dataFields(id, seal, data[at], data[at + 1]))
  return fields
}

/** The pairs that set the user, sealed with `seal` (with its blind index). */
export function userFields(id: string, seal: RecordSeal | undefined, user: string): string[] {
  return seal === undefined ? ['u', user] : ['U', seal.seal(id, 'U', user), 'h', seal.userIndex(user)]
}

/** The pairs that set non-empty roles. */
export function rolesFields(id: string, seal: RecordSeal | undefined, roles: readonly string[]): string[] {
  const text = JSON.stringify(roles)
  return seal === undefined ? ['r', text] : ['R', seal.seal(id, 'R', text)]
}

/** The pair that sets data key `key` to its stored form. */
export function dataFields(id: string, seal: RecordSeal | undefined, key: string, stored: string): string[] {
  if (seal === undefined) return [DATA_PREFIX + key, stored]
  const field = SEALED_DATA_PREFIX + key
  return [field, seal.seal(id, field, stored)]
}

/** The twin fields a write of these pairs must delete: the plain or sealed form it does not write. */
export function twinsOf(pairs: readonly string[]): string[] {
  const twins: string[] = []
  for (let at = 0; at < pairs.length; at += 2) {
    const field = pairs[at]
    if (field.startsWith(DATA_PREFIX)) twins.push(SEALED_DATA_PREFIX + field.slice(DATA_PREFIX.length))
    else if (field.startsWith(SEALED_DATA_PREFIX)) twins.push(DATA_PREFIX + field.slice(SEALED_DATA_PREFIX.length))
    else if (field === 'u') twins.push('U', 'h')
    else if (field === 'U') twins.push('u')
    else if (field === 'r') twins.push('R')
    else if (field === 'R') twins.push('r')
  }
  return twins
}

function parseRoles(text: string): string[] {
  try {
    const roles: unknown = JSON.parse(text)
    return Array.isArray(roles) ? roles.filter((role): role is string => typeof role === 'string') : []
  } catch {
    return []
  }
}
