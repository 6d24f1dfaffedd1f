/** express-session's own MemoryStore: JSON strings in an object keyed by session id. */
import session from 'express-session'
import { drivenAsExpressSession } from './express-session-store'
import type { SessionStore } from './store'

export function openExpressSessionMemory(): SessionStore {
  const store = new session.MemoryStore()
  // The store keeps its sessions in a plain object, the only way to count them synchronously.
  const sessions = () => (store as unknown as { sessions: Record<string, string> }).sessions
  return drivenAsExpressSession({
    kind: 'express-session-memory',
    notes: [
      "new (require('express-session').MemoryStore)(); ids: randomBytes(16).toString('base64url'); sessions stored as JSON strings, parsed on get and on touch",
      'expiry is checked only when a session is read: all() (or get of each id) is the only way to remove expired sessions',
    ],
    store,
    size: () => Object.keys(sessions()).length,
    expiryMechanism: 'no background expiry: one all() call, which parses every session and deletes the expired ones',
    startExpiry(): void {
      store.all(() => {})
    },
    close(): void {
      store.clear()
    },
  })
}
