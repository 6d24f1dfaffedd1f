/** @isaacs/ttlcache as a session store: one timer for the earliest expiry, updateAgeOnGet. */
import { randomBytes } from 'node:crypto'
import { TTLCache } from '@isaacs/ttlcache'
import { sessionData } from '../workload'
import { type Done, SESSION_TTL_MS, type SessionStore, type StoreSetup } from './store'

export function openTtlCache({ capacity }: StoreSetup): SessionStore {
  const cache = new TTLCache<string, Record<string, string>>({ max: capacity, ttl: SESSION_TTL_MS, updateAgeOnGet: true })
  return {
    kind: 'ttlcache',
    notes: [
      `new TTLCache({ max: ${capacity}, ttl: ${SESSION_TTL_MS}, updateAgeOnGet: true }); ids: randomBytes(16).toString('base64url')`,
      'a renew removes the key from its expiry bucket (all keys due in the same ms) by filtering that array, so its cost grows with the create/renew rate',
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
    expiryMechanism: 'its own timer (purgeStale() of every due bucket in one call), re-armed by cancelTimer() and one extra key with a 1 ms ttl',
    beforeExpiryJump(): void {},
    startExpiry(): void {
      // Its timer waits in real time for the earliest deadline, a session ttl away, and a key due later
      // by its (jumped) clock does not re-arm it; once cancelled, the next key arms it afresh.
      cache.cancelTimer()
      cache.set('expiry-trigger', {}, { ttl: 1 })
    },
    close(): void {
      cache.cancelTimer()
    },
  }
}
