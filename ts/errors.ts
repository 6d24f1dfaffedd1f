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
