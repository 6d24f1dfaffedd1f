import type { SessionRecord } from './record'

/**
 * Rejects a RedisSessionManager call when Redis cannot answer it: the client is not connected
 * (down, reconnecting, closed) or gave no reply within `commandTimeout`, or the command failed.
 * A write that rejects with it may or may not have been applied (one Redis refused for memory,
 * `cause` its OOM error, was not); one that resolved was. `cause` holds the client's own error,
 * when there was one.
 */
export class RedisUnavailableError extends Error {
  readonly code = 'ERR_REDIS_UNAVAILABLE'
  constructor(action: string, options?: { cause?: unknown }) {
    super(`cannot ${action}: Redis is unavailable${describeCause(options?.cause)}`, options)
    this.name = 'RedisUnavailableError'
  }
}

/**
 * A session record in Redis was written by a release that this one cannot read (its minimum
 * reader version is above {@link RECORD_VERSION}): the record is left untouched.
 */
export class RedisSchemaError extends Error {
  readonly code = 'ERR_SESSION_SCHEMA'
  constructor(readonly sessionId: string, readonly minimumReader: number, readonly readerVersion: number) {
    super(`session ${JSON.stringify(sessionId)} is stored in record version ${minimumReader} or later; this release reads version ${readerVersion}: upgrade it`)
    this.name = 'RedisSchemaError'
  }
}

/**
 * A sealed value of a session record (see `key` of RedisSessionManager) cannot be opened:
 * `reason` `'no-key'` (the manager was given no `key`), `'unknown-key'` (sealed under a key not
 * in `key`; `keyId` names it, as the persistence file does), or `'not-authentic'` (a wrong key,
 * an altered value, or a value moved from another session or field). The record is left
 * untouched.
 */
export class RedisKeyError extends Error {
  readonly code = 'ERR_SESSION_KEY'
  /** The sealing key's id (8 hex digits), when the value names one. */
  readonly keyId: string | undefined
  constructor(readonly sessionId: string, readonly field: string, readonly reason: 'no-key' | 'unknown-key' | 'not-authentic', keyId?: number) {
    const kid = keyId === undefined ? undefined : keyId.toString(16).padStart(8, '0')
    const why = reason === 'no-key' ? 'is sealed, and no options.key was given'
      : reason === 'unknown-key' ? `is sealed under a key not given in options.key (key id ${kid})`
        : 'fails authentication (a wrong key, an altered value, or a value moved from another session or field)'
    // The id stays out of the message: ids are bearer secrets, and messages end up in logs.
    super(`field ${JSON.stringify(field)} of a session record ${why}`)
    this.name = 'RedisKeyError'
    this.keyId = kid
  }
}

function describeCause(cause: unknown): string {
  if (cause === undefined) return ''
  return ` (${cause instanceof Error ? cause.message : String(cause)})`
}

/**
 * @internal A write that expected a data version (a change merged against a copy of that
 * version) found the record's data changed since: nothing was written. `record` is the record
 * as Redis holds it, to merge against anew. SessionkeeperStore's; never reaches its callers.
 */
export class DataChangedError extends Error {
  constructor(readonly id: string, readonly record: SessionRecord) {
    super('the session\'s data changed since the copy this write was merged against')
    this.name = 'DataChangedError'
  }
}
