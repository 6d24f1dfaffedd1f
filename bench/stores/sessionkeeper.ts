/** This package's SessionManager, on either engine: the stores the others are compared with. */
import { SessionManager } from '../../ts/index'
import { sessionData } from '../workload'
import { type Done, SESSION_TTL_MS, type SessionStore } from './store'

export function openSessionkeeper(engine: 'native' | 'js'): SessionStore {
  const manager = new SessionManager({ engine, idleTimeout: SESSION_TTL_MS })
  return {
    kind: engine,
    notes: [`SessionManager({ engine: '${engine}', idleTimeout: ${SESSION_TTL_MS} }), default resolution (1000 ms); ids from the engine`],
    create(index: number, done: Done): string {
      const id = manager.create({ data: sessionData(index) }).id
      done(true)
      return id
    },
    getAndRenew(id: string, done: Done): void {
      done(manager.get(id) !== undefined)
    },
    destroy(id: string, done: Done): void {
      done(manager.destroy(id))
    },
    get size() {
      return manager.size
    },
    expiryMechanism: 'background timer, sweeping in 1 ms slices of up to 256 sessions between event-loop turns',
    beforeExpiryJump(): void {
      // The timer sleeps until the earliest deadline it knows, a session ttl away in real time. Cutting
      // one live session's idle timeout through the public setter re-arms it to wake now.
      const first = manager[Symbol.iterator]().next().value
      if (first === undefined) throw new Error('no live session left to re-arm the expiry timer with')
      first.idleTimeout = 1
    },
    startExpiry(): void {},
    close(): void {
      manager.close()
    },
  }
}
