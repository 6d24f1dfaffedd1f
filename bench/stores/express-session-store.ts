/**
 * Drives an express-session store through its callback API the way express-session's
 * middleware does per request: `get(sid, cb)`, then (the session renewed by resetting its
 * cookie's expiry, as `req.session.touch()` does) `touch(sid, session, cb)`.
 */
import { randomBytes } from 'node:crypto'
import type { SessionData, Store } from 'express-session'
import { sessionData } from '../workload'
import { type Done, SESSION_TTL_MS, type SessionStore } from './store'

/** What differs between express-session stores: the instance, how to count, how it expires. */
export type ExpressStoreParts = Pick<SessionStore, 'kind' | 'notes' | 'expiryMechanism' | 'startExpiry' | 'close'> & {
  store: Store
  size(): number
}

/** The session express-session hands a store: its cookie as serialized, then the data. */
function newSession(index: number): SessionData {
  const cookie = { originalMaxAge: SESSION_TTL_MS, expires: new Date(Date.now() + SESSION_TTL_MS), httpOnly: true, path: '/' }
  return { cookie, ...sessionData(index) } as unknown as SessionData
}

export function drivenAsExpressSession(parts: ExpressStoreParts): SessionStore {
  const { store } = parts
  const touch = store.touch?.bind(store)
  if (touch === undefined) throw new Error(`${parts.kind} has no touch(): express-session would resave instead`)
  return {
    kind: parts.kind,
    notes: [...parts.notes, 'callback API: timed with 256 calls in flight, each completing through the setImmediate callbacks the store schedules'],
    create(index: number, done: Done): string {
      const id = randomBytes(16).toString('base64url')
      store.set(id, newSession(index), (error) => done(!error))
      return id
    },
    getAndRenew(id: string, done: Done): void {
      store.get(id, (error, session) => {
        if (error || !session) {
          done(false)
          return
        }
        ;(session.cookie as { expires: Date }).expires = new Date(Date.now() + SESSION_TTL_MS)
        touch(id, session, () => done(true))
      })
    },
    destroy(id: string, done: Done): void {
      store.destroy(id, (error) => done(!error))
    },
    get size() {
      return parts.size()
    },
    expiryMechanism: parts.expiryMechanism,
    beforeExpiryJump(): void {},
    startExpiry: parts.startExpiry,
    close: parts.close,
  }
}
