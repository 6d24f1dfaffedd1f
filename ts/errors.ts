/**
 * Thrown by `create` when no room can be made: `maxSessions` is reached with `whenFull: 'reject'`,
 * or the create comes from a listener of an eviction in progress (evicting for it in turn could
 * go on without end).
 */
export class SessionLimitError extends Error {
  readonly code = 'ERR_SESSION_LIMIT'
  constructor(readonly maxSessions: number, why = "whenFull: 'reject'") {
    super(`the session limit is reached (maxSessions: ${maxSessions}, ${why})`)
    this.name = 'SessionLimitError'
  }
}

/**
 * Thrown when `maxSessionsPerUser` is reached and no room is made for one more session of
 * `user`: with `whenUserFull: 'reject'`, by `create` (and a login) for that user and by an
 * assignment `session.user = user`; with `'evict-oldest'` only when a close listener of the
 * eviction adds sessions of the same user.
 */
export class UserSessionLimitError extends Error {
  readonly code = 'ERR_USER_SESSION_LIMIT'
  constructor(readonly user: string, readonly maxSessionsPerUser: number, why: string) {
    super(`the user ${JSON.stringify(user)} has reached maxSessionsPerUser (${maxSessionsPerUser}, ${why})`)
    this.name = 'UserSessionLimitError'
  }
}

/**
 * @deprecated Never thrown: closed sessions are inert (reads are empty, writes return false),
 * so a logout in one request cannot fail the concurrent requests of the same session. Still
 * exported so that code testing for it keeps compiling; it goes in the next major version.
 */
export class SessionClosedError extends Error {
  readonly code = 'ERR_SESSION_CLOSED'
  constructor(readonly sessionId: string, action: string) {
    super(`cannot ${action}: session ${sessionId} is closed`)
    this.name = 'SessionClosedError'
  }
}

/** Thrown when a SessionManager is used after `close()`. */
export class ManagerClosedError extends Error {
  readonly code = 'ERR_MANAGER_CLOSED'
  constructor(action: string) {
    super(`cannot ${action}: the SessionManager is closed`)
    this.name = 'ManagerClosedError'
  }
}

/** Thrown with `keys: 'caller'` when a live session already has the requested key. */
export class SessionExistsError extends Error {
  readonly code = 'ERR_SESSION_EXISTS'
  constructor(readonly key: string) {
    super(`a session with key ${JSON.stringify(key)} already exists`)
    this.name = 'SessionExistsError'
  }
}

/**
 * Thrown by `new SessionManager({ persist })` when another manager, in this process or another,
 * has the session file open: a file has one writer.
 */
export class SessionFileLockedError extends Error {
  readonly code = 'ERR_SESSION_FILE_LOCKED'
  constructor(readonly path: string, readonly pid: number | undefined, why: string) {
    super(`the session file ${path} is locked: ${why} (lock file ${path}.lock)`)
    this.name = 'SessionFileLockedError'
  }
}

/**
 * Thrown by `new SessionManager({ persist })` when the session file cannot be loaded: not a
 * sessionkeeper file, an unknown version, a bad checksum before its final record (`offset` says
 * where), or written by a manager with other `keys`, `idBytes` or `idEncoding`, or sealed under
 * a key not in `persist.key` (code `ERR_SESSION_FILE_MISMATCH`). The file is left as it is (with `onCorrupt: 'rename'`, damaged
 * files are moved aside instead).
 */
export class SessionFileError extends Error {
  constructor(
    readonly code: 'ERR_SESSION_FILE_CORRUPT' | 'ERR_SESSION_FILE_MISMATCH',
    readonly path: string,
    readonly offset: number | undefined,
    why: string,
  ) {
    super(`cannot load the session file ${path}${offset === undefined ? '' : ` at offset ${offset}`}: ${why}`)
    this.name = 'SessionFileError'
  }
}
