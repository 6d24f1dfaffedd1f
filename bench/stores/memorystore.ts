/** memorystore: an express-session store over lru-cache 4 with a periodic prune. */
import session from 'express-session'
import createMemoryStore from 'memorystore'
import { drivenAsExpressSession } from './express-session-store'
import { SESSION_TTL_MS, type SessionStore } from './store'

const CHECK_PERIOD_MS = 1000

export function openMemorystore(): SessionStore {
  const MemoryStore = createMemoryStore(session)
  const store = new MemoryStore({ checkPeriod: CHECK_PERIOD_MS, ttl: SESSION_TTL_MS })
  // Pruning 10^6 sessions takes longer than the period, so with the interval running memorystore
  // spends nearly all its time pruning (a first full run's gets at 10^6 did not finish in 7
  // minutes). Its interval runs only for the mass-expiry phase, as if the period were long.
  store.stopInterval()
  // lru-cache 4 inside counts its entries; memorystore only offers that through a callback.
  const cache = (store as unknown as { store: { itemCount: number } }).store
  return drivenAsExpressSession({
    kind: 'memorystore',
    notes: [
      `new (require('memorystore')(session))({ checkPeriod: 1000, ttl: ${SESSION_TTL_MS} }); ids: randomBytes(16).toString('base64url'); sessions stored as JSON strings`,
      'the prune walks every session in one call; its interval is stopped while the other figures are timed and started for mass expiry (pruning 10^6 sessions takes longer than a 1 s period)',
    ],
    store,
    size: () => cache.itemCount,
    expiryMechanism: `its checkPeriod prune (every ${CHECK_PERIOD_MS} ms, walking every session in one call)`,
    startExpiry(): void {
      store.startInterval()
    },
    close(): void {
      store.stopInterval()
    },
  })
}
