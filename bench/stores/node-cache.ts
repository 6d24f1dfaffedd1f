/** node-cache as a session store: stdTTL with a periodic check, renewed with ttl(key). */
import { randomBytes } from 'node:crypto'
import NodeCache from 'node-cache'
import { sessionData } from '../workload'
import { type Done, SESSION_TTL_MS, type SessionStore } from './store'

const TTL_SECONDS = SESSION_TTL_MS / 1000

export function openNodeCache(): SessionStore {
  const cache = new NodeCache({ stdTTL: TTL_SECONDS, checkperiod: 1, useClones: false })
  return {
    kind: 'node-cache',
    notes: [
      `new NodeCache({ stdTTL: ${TTL_SECONDS}, checkperiod: 1, useClones: false }); ids: randomBytes(16).toString('base64url')`,
      'useClones: false (default true deep-clones every value on set and get): the faster choice',
      `get-and-renew = get(key) then ttl(key, ${TTL_SECONDS}); the check walks every key once per second: its cost shows while serving, as the synchronous timed runs give its timer no turn`,
    ],
    create(index: number, done: Done): string {
      const id = randomBytes(16).toString('base64url')
      cache.set(id, sessionData(index))
      done(true)
      return id
    },
    getAndRenew(id: string, done: Done): void {
      done(cache.get(id) !== undefined && cache.ttl(id, TTL_SECONDS))
    },
    destroy(id: string, done: Done): void {
      done(cache.del(id) === 1)
    },
    get size() {
      return cache.getStats().keys
    },
    expiryMechanism: 'its checkperiod check (every 1 s, walking every key in one call)',
    beforeExpiryJump(): void {},
    startExpiry(): void {},
    close(): void {
      cache.close()
    },
  }
}
