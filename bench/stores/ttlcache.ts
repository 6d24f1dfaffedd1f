/** @isaacs/ttlcache as a session store: one timer for the earliest expiry, updateAgeOnGet. */
import { TTLCache } from '@isaacs/ttlcache'
import { SESSION_TTL_MS, type SessionStore, type StoreSetup } from './store'
import { ID_RECIPE, drivenSynchronously } from './sync-cache'

export function openTtlCache({ capacity }: StoreSetup): SessionStore {
  const cache = new TTLCache<string, Record<string, string>>({ max: capacity, ttl: SESSION_TTL_MS, updateAgeOnGet: true })
  return drivenSynchronously({
    set: (id, data) => cache.set(id, data),
    getAndRenew: (id) => cache.get(id) !== undefined,
    delete: (id) => cache.delete(id),
    size: () => cache.size,
  }, {
    kind: 'ttlcache',
    notes: [
      `new TTLCache({ max: ${capacity}, ttl: ${SESSION_TTL_MS}, updateAgeOnGet: true }); ids: ${ID_RECIPE}`,
      'a renew removes the key from its expiry bucket (all keys due in the same ms) by filtering that array, so its cost grows with the create/renew rate',
    ],
    expiryMechanism: 'its own timer (purgeStale() of every due bucket in one call), re-armed by cancelTimer() and one extra key with a 1 ms ttl',
    startExpiry(): void {
      // Its timer waits in real time for the earliest deadline, a session ttl away, and a key due
      // later by its (jumped) clock does not re-arm it; once cancelled, the next key arms it afresh.
      cache.cancelTimer()
      cache.set('expiry-trigger', {}, { ttl: 1 })
    },
    close(): void {
      cache.cancelTimer()
    },
  })
}
