/** lru-cache as a session store: ttl with updateAgeOnGet, bounded by the session count. */
import { LRUCache } from 'lru-cache'
import { SESSION_TTL_MS, type SessionStore, type StoreSetup } from './store'
import { ID_RECIPE, drivenSynchronously } from './sync-cache'

export function openLruCache({ capacity }: StoreSetup): SessionStore {
  const cache = new LRUCache<string, Record<string, string>>({ max: capacity, ttl: SESSION_TTL_MS, updateAgeOnGet: true })
  return drivenSynchronously({
    set: (id, data) => cache.set(id, data),
    getAndRenew: (id) => cache.get(id) !== undefined,
    delete: (id) => cache.delete(id),
    size: () => cache.size,
  }, {
    kind: 'lru-cache',
    notes: [
      `new LRUCache({ max: ${capacity}, ttl: ${SESSION_TTL_MS}, updateAgeOnGet: true }); ids: ${ID_RECIPE}`,
      'lru-cache reads performance.now() at most once per ttlResolution (1 ms, reset by a timer), so a synchronous run of gets reads the clock once',
      'ttlAutopurge (one setTimeout per entry) left off: its docs warn it may significantly degrade performance with many items; stale entries go on get or purgeStale()',
    ],
    expiryMechanism: 'no background expiry: one purgeStale() call',
    startExpiry(): void {
      cache.purgeStale()
    },
    close(): void {
      cache.clear()
    },
  })
}
