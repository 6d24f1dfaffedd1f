import { RedisSchemaError } from './errors'

// A session record in Redis is a hash, one field per fact, so that concurrent writes to
// different data keys never overwrite each other (each HSETs its own field):
//   v   version of the record format its writer used (this release writes 1)
//   m   lowest reader version that can read it: a release whose version is below refuses the
//       record (RedisSchemaError) rather than misread it; readers ignore fields they do not know
//       and writes never remove them, so a later release may add fields under the same m
//   c   created at, a   last renewed at (ms, Redis clock)
//   i   idle timeout, x   absolute timeout (ms, 0 for none)
//   u   user (absent: none), r   roles as a JSON array of strings (absent: none)
//   d:<key>   a data value in the stored form of data-codec.ts (type tags byte for byte)

/** The record format this release writes and reads. */
export const RECORD_VERSION = 1
/** The lowest reader version that can read what this release writes. */
export const RECORD_MIN_READER = 1
export const DATA_PREFIX = 'd:'

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
}

/** Parses HGETALL's flat [field, value, ...] list; a record this release cannot read throws. */
export function parseRecord(id: string, flat: readonly string[]): SessionRecord {
  const record: SessionRecord = {
    createdAt: NaN, lastActivity: NaN, idleTimeout: 0, absoluteTimeout: 0, user: undefined, roles: [], data: new Map(),
  }
  let minimumReader = 1
  for (let index = 0; index + 1 < flat.length; index += 2) {
    const field = flat[index]
    const value = flat[index + 1]
    if (field.startsWith(DATA_PREFIX)) {
      record.data.set(field.slice(DATA_PREFIX.length), value)
      continue
    }
    switch (field) {
      case 'm': minimumReader = Number(value); break
      case 'c': record.createdAt = Number(value); break
      case 'a': record.lastActivity = Number(value); break
      case 'i': record.idleTimeout = Number(value); break
      case 'x': record.absoluteTimeout = Number(value); break
      case 'u': record.user = value; break
      case 'r': record.roles = parseRoles(value); break
      default: break
    }
  }
  if (!(minimumReader <= RECORD_VERSION)) throw new RedisSchemaError(id, minimumReader, RECORD_VERSION)
  return record
}

/** The earlier of the idle and absolute deadlines; Infinity when neither applies. */
export function expiresAtOf(record: SessionRecord): number {
  const idle = record.idleTimeout > 0 ? record.lastActivity + record.idleTimeout : Infinity
  const absolute = record.absoluteTimeout > 0 ? record.createdAt + record.absoluteTimeout : Infinity
  return Math.min(idle, absolute)
}

/** Field/value pairs of a new record (the script sets c and a from Redis's clock). */
export function newRecordFields(
  idleTimeout: number, absoluteTimeout: number, user: string | undefined, roles: string[] | undefined, data: readonly string[],
): string[] {
  const fields = ['v', String(RECORD_VERSION), 'm', String(RECORD_MIN_READER), 'i', String(idleTimeout), 'x', String(absoluteTimeout)]
  if (user !== undefined) fields.push('u', user)
  if (roles !== undefined && roles.length > 0) fields.push('r', JSON.stringify(roles))
  for (let index = 0; index + 1 < data.length; index += 2) fields.push(DATA_PREFIX + data[index], data[index + 1])
  return fields
}

function parseRoles(text: string): string[] {
  try {
    const roles: unknown = JSON.parse(text)
    return Array.isArray(roles) ? roles.filter((role): role is string => typeof role === 'string') : []
  } catch {
    return []
  }
}
