/**
 * The driver shared by the synchronous caches (lru-cache, @isaacs/ttlcache, node-cache): each
 * stores a session's data object under an id drawn as their users draw it, and answers at once.
 */
import { randomBytes } from 'node:crypto'
import { sessionData } from '../workload'
import type { Done, SessionStore } from './store'

/** How the ids of these stores' users are usually made: 16 CSPRNG bytes, base64url. */
export const ID_RECIPE = "randomBytes(16).toString('base64url')"

/** One library's cache, reduced to what a session store does with it. */
export interface SyncCache {
  set(id: string, data: Record<string, string>): void
  /** Finds the session and renews its deadline the way that library renews. */
  getAndRenew(id: string): boolean
  delete(id: string): boolean
  size(): number
}

export type SyncCacheParts = Pick<SessionStore, 'kind' | 'notes' | 'expiryMechanism' | 'startExpiry' | 'close'>

export function drivenSynchronously(cache: SyncCache, parts: SyncCacheParts): SessionStore {
  return {
    ...parts,
    create(index: number, done: Done): string {
      const id = randomBytes(16).toString('base64url')
      cache.set(id, sessionData(index))
      done(true)
      return id
    },
    getAndRenew(id: string, done: Done): void {
      done(cache.getAndRenew(id))
    },
    destroy(id: string, done: Done): void {
      done(cache.delete(id))
    },
    get size() {
      return cache.size()
    },
    beforeExpiryJump(): void {},
  }
}
