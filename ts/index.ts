export { SessionManager, type CloseUserOptions, type PageOptions, type SessionInit, type SessionPage } from './manager'
export { Session } from './session'
export {
  SessionLimitError, UserSessionLimitError, SessionClosedError, ManagerClosedError, SessionExistsError, SessionFileLockedError, SessionFileError,
} from './errors'
export type { SessionManagerOptions, SessionPersistOptions } from './options'
export type { CloseReason, SessionManagerEvents, SessionStats } from './registry'
export type { Disposer } from './owned-objects'
export type { JsonCompatible, JsonFields, JsonValue } from './data-codec'
