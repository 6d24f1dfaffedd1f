/**
 * Hooks the package's own integrations use on a SessionManager; not exported from the package
 * entry, so they are not part of the public API.
 */
export const recordRejectedCookie = Symbol('sessionkeeper.recordRejectedCookie')
