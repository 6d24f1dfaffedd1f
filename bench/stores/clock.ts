/**
 * Makes the process clock jumpable so a mass expiry can make every session due at once. Every
 * store reads time through `Date.now()` or `performance.now()` at call time (lru-cache and
 * ttlcache keep a reference to the `performance` object, not to its `now`), so this module must
 * be loaded before any store and then shifts all of them alike. Until `jumpClock` is called the
 * offset is 0: timed operations pay for reading the real clock.
 */
import { performance } from 'node:perf_hooks'

let offsetMs = 0
const realDateNow = Date.now
const realPerformanceNow = performance.now.bind(performance)

Date.now = () => realDateNow() + offsetMs
performance.now = () => realPerformanceNow() + offsetMs

/** Moves every store's clock forward by `ms`, as if that much time had passed at once. */
export function jumpClock(ms: number): void {
  offsetMs += ms
}
