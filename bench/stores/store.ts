/**
 * What the benchmark needs from a session store, whichever library it is. Every operation
 * reports through `done` so callback stores (the express-session API) and synchronous ones run
 * through the same driver; synchronous stores call `done` before returning.
 */
import type { StoreKind } from '../results-schema'

/** `ok`: the session was stored, found, or removed as asked. */
export type Done = (ok: boolean) => void

/**
 * Idle time after which every store expires a session, renewed on each get-and-renew: 30
 * minutes, a common session timeout, and longer than any phase of a run (filling 10^7 sessions
 * takes over a minute), so no session expires before the mass-expiry jump.
 */
export const SESSION_TTL_MS = 30 * 60_000

export interface SessionStore {
  readonly kind: StoreKind
  /** Options chosen and caveats, copied into the results. */
  readonly notes: readonly string[]
  /**
   * Stores a new session holding `sessionData(index)` under a fresh 128-bit random id, generated
   * the way that store's users generate it, and returns the id (22 base64url characters).
   */
  create(index: number, done: Done): string
  /** Looks the session up and renews its idle deadline, as one request carrying its cookie does. */
  getAndRenew(id: string, done: Done): void
  destroy(id: string, done: Done): void
  /** Sessions held, expired ones included until the store removes them. */
  readonly size: number
  /** How the store expires sessions, in words for the results (`MassExpiry.mechanism`). */
  readonly expiryMechanism: string
  /** Runs while the clock is still real, just before every session is made due. */
  beforeExpiryJump(): void
  /** Runs right after every session became due, at the start of the timed mass expiry. */
  startExpiry(): void
  close(): void
}

export interface StoreSetup {
  /** Most sessions the store will hold at once, for stores that take a capacity. */
  capacity: number
}
