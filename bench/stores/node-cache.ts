/** node-cache as a session store: stdTTL with a periodic check, renewed with ttl(key). */
import NodeCache from 'node-cache'
import { SESSION_TTL_MS, type SessionStore } from './store'
import { ID_RECIPE, drivenSynchronously } from './sync-cache'

const TTL_SECONDS = SESSION_TTL_MS / 1000

export function openNodeCache(): SessionStore {
  const cache = new NodeCache({ stdTTL: TTL_SECONDS, checkperiod: 1, useClones: false })
  return drivenSynchronously({
    set: (id, data) => cache.set(id, data),
    getAndRenew: (id) => cache.get(id) !== undefined && cache.ttl(id, TTL_SECONDS),
    delete: (id) => cache.del(id) === 1,
    size: () => cache.getStats().keys,
  }, {
    kind: 'node-cache',
    notes: [
      `new NodeCache({ stdTTL: ${TTL_SECONDS}, checkperiod: 1, useClones: false }); ids: ${ID_RECIPE}`,
      'useClones: false (default true deep-clones every value on set and get): the faster choice',
      `get-and-renew = get(key) then ttl(key, ${TTL_SECONDS}); the check walks every key once per second: its cost shows while serving, as the synchronous timed runs give its timer no turn`,
    ],
    expiryMechanism: 'its checkperiod check (every 1 s, walking every key in one call)',
    startExpiry(): void {},
    close(): void {
      cache.close()
    },
  })
}
