// `sessionkeeper/testing`: helpers for an application's own tests.
import type { SessionManager } from './manager'

/** What {@link TestClock.track} accepts: a SessionManager of any data type. */
type Tracked = Pick<SessionManager, 'sweep' | 'stats'> & Iterable<{ readonly expiresAt: number }>

/**
 * A clock that moves only when told to, for a SessionManager's `clock` option, so an app's
 * tests expire sessions without sleeping:
 *
 * ```ts
 * import { SessionManager } from 'sessionkeeper'
 * import { TestClock } from 'sessionkeeper/testing'
 *
 * const clock = new TestClock()
 * const manager = clock.track(new SessionManager({ clock: clock.now, idleTimeout: 60_000 }))
 * const session = manager.create()
 * clock.advance(60_000)        // the sweep that came due ran: 'close' fired with reason 'expired'
 * session.closeReason          // 'expired'
 * ```
 *
 * `advance(ms)` moves time forward in steps, stopping at each tracked session's deadline on the
 * way and sweeping there, so close listeners run at the time the session expired (`clock.now()`
 * reads its deadline), in deadline order, as the background expiry would deliver them; each
 * step costs one pass over the tracked managers' live sessions. Untracked managers still see the
 * time move and close expired sessions on their own timer or on `sweep()`. A manager's
 * background timer keeps running on real time: it finds nothing more to do.
 */
export class TestClock {
  #now: number
  readonly #tracked = new Set<Tracked>()

  /** `start`: the first reading, ms (default `Date.now()` at construction, so cookie dates look real). */
  constructor(start: number = Date.now()) {
    if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`TestClock(start): start must be a non-negative safe integer of ms, received ${String(start)}`)
    this.#now = start
  }

  /** The current time in ms; pass it as the manager's `clock` (it is bound to this clock). */
  readonly now = (): number => this.#now

  /** Sweeps `manager` at every deadline `advance` passes; returns it. A closed manager is dropped. */
  track<M extends Tracked>(manager: M): M {
    if (typeof manager?.sweep !== 'function' || typeof manager[Symbol.iterator] !== 'function') {
      throw new TypeError('TestClock.track(manager): manager must be a SessionManager')
    }
    this.#tracked.add(manager)
    return manager
  }

  /** Stops sweeping `manager` on `advance`. */
  untrack(manager: Tracked): void {
    this.#tracked.delete(manager)
  }

  /**
   * Moves the clock `ms` forward (a non-negative safe integer), stopping at each tracked
   * session deadline on the way to sweep; returns how many sessions the sweeps closed.
   */
  advance(ms: number): number {
    if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`TestClock.advance(ms): ms must be a non-negative safe integer, received ${String(ms)}`)
    const target = this.#now + ms
    let closed = 0
    for (;;) {
      const next = Math.min(target, this.#nextDeadline())
      this.#now = Math.max(this.#now, next)
      closed += this.#sweep()
      if (this.#now >= target) return closed
    }
  }

  /** Sets the time to `ms` (not earlier than now), sweeping as `advance` does. */
  set(ms: number): number {
    if (!Number.isSafeInteger(ms) || ms < this.#now) throw new RangeError(`TestClock.set(ms): ms must be a safe integer not before now (${this.#now}), received ${String(ms)}`)
    return this.advance(ms - this.#now)
  }

  #nextDeadline(): number {
    let next = Infinity
    // A closed manager iterates nothing.
    for (const manager of this.#tracked) {
      for (const session of manager) if (session.expiresAt < next) next = session.expiresAt
    }
    return next
  }

  #sweep(): number {
    let closed = 0
    for (const manager of this.#tracked) {
      try {
        closed += manager.sweep()
      } catch (error) {
        if ((error as { code?: unknown } | null)?.code !== 'ERR_MANAGER_CLOSED') throw error
        this.#tracked.delete(manager)
      }
    }
    return closed
  }
}
