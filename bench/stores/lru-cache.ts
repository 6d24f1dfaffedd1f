/** lru-cache as a session store: ttl with updateAgeOnGet, bounded by the session count. */
import { randomBytes } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { sessionData } from '../workload'
import { type Done, SESSION_TTL_MS, type SessionStore, type StoreSetup } from './store'

export function openLruCache({ capacity }: StoreSetup): SessionStore {
  const cache = new LRUCache<string, Record<string, string>>({ max: capacity, ttl: SESSION_TTL_MS, updateAgeOnGet: true })
  return {
    kind: 'lru-cache',
    notes: [
      `new LRUCache({ max: ${capacity}, ttl: ${SESSION_TTL_MS}, updateAgeOnGet: true }); ids: randomBytes(16).toString('base64url')`,
      'lru-cache reads performance.now() at most once per ttlResolution (1 ms, reset by a timer), so a synchronous run of gets reads the clock once',
      'ttlAutopurge (one setTimeout per entry) left off: its docs warn it may significantly degrade performance with many items; stale entries go on get or purgeStale()',
    ],
    create(index: number, done: Done): string {
      const id = randomBytes(16).toString('base64url')
      cache.set(id, sessionData(index))
      done(true)
      return id
    },
    getAndRenew(id: string, done: Done): void {
      done(cache.get(id) !== undefined)
    },
    destroy(id: string, done: Done): void {
      done(cache.delete(id))
    },
    get size() {
      return cache.size
    },
    expiryMechanism: 'no background expiry: one purgeStale() call',
    beforeExpiryJump(): void {},
    startExpiry(): void {
      cache.purgeStale()
    },
    close(): void {
      cache.clear()
    },
  }
}
