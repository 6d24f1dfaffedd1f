/**
 * Rejects a RedisSessionManager call when Redis cannot answer it: the client is not connected
 * (down, reconnecting, closed) or gave no reply within `commandTimeout`, or the command failed.
 * A write that rejects with it may or may not have been applied; one that resolved was.
 * `cause` holds the client's own error, when there was one.
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

function describeCause(cause: unknown): string {
  if (cause === undefined) return ''
  return ` (${cause instanceof Error ? cause.message : String(cause)})`
}
