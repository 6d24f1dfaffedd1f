/** memorystore: an express-session store over lru-cache 4 with a periodic prune. */
import session from 'express-session'
import createMemoryStore from 'memorystore'
import { drivenAsExpressSession } from './express-session-store'
import { SESSION_TTL_MS, type SessionStore } from './store'

const CHECK_PERIOD_MS = 1000

export function openMemorystore(): SessionStore {
  const MemoryStore = createMemoryStore(session)
  const store = new MemoryStore({ checkPeriod: CHECK_PERIOD_MS, ttl: SESSION_TTL_MS })
  // lru-cache 4 inside counts its entries; memorystore only offers that through a callback.
  const cache = (store as unknown as { store: { itemCount: number } }).store
  return drivenAsExpressSession({
    kind: 'memorystore',
    notes: [
      `new (require('memorystore')(session))({ checkPeriod: 1000, ttl: ${SESSION_TTL_MS} }); ids: randomBytes(16).toString('base64url'); sessions stored as JSON strings`,
      'the prune walks every session once per checkPeriod, also while the other figures are timed',
    ],
    store,
    size: () => cache.itemCount,
    expiryMechanism: `its checkPeriod prune (every ${CHECK_PERIOD_MS} ms, walking every session in one call)`,
    startExpiry(): void {},
    close(): void {
      store.stopInterval()
    },
  })
}
