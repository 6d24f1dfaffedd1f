/**
 * The deadline wheel's figures for one engine (results-schema `WheelFigures`): expiring sessions
 * that each have their own idle timeout against sessions that share one, through the manager's
 * own background timer; and one timeout setter among many live sessions. Runs inside a store
 * worker (bench/store-worker.ts), after bench/stores/clock.ts made the clock jumpable.
 */
import { jumpClock } from './stores/clock'
import { SessionManager } from '../ts/index'
import type { MassExpiry, WheelFigures } from './results-schema'
import { SESSION_TTL_MS } from './stores/store'
import { fullGc, median, watchUntilEmpty } from './workload'

/** Spreads the distinct timeouts over about an hour per 10^5 sessions: many wheel slots, every level. */
const SPREAD_MS = 37
const EXPIRY_TIMEOUT_MS = 120_000
const RUNS = 5
const MAX_TIMED_SETTERS = 100_000

async function expireAll(engine: 'native' | 'js', sessions: number, distinct: boolean): Promise<MassExpiry> {
  const manager = new SessionManager({ engine, idleTimeout: SESSION_TTL_MS })
  let first: ReturnType<SessionManager['create']> | undefined
  for (let index = 0; index < sessions; index++) {
    const session = manager.create(distinct ? { idleTimeout: SESSION_TTL_MS + SPREAD_MS * index } : undefined)
    first ??= session
  }
  // The garbage of filling (a Session per create) is collected first, as before the store
  // workers' mass expiry: the figures are the sweep's own.
  fullGc()
  // One session's timeout cut through the public setter re-arms the timer (which otherwise
  // sleeps a session ttl in real time) for a millisecond from now; by then every deadline is past.
  first!.idleTimeout = 1
  jumpClock(SESSION_TTL_MS + SPREAD_MS * sessions + 1000)
  const watched = await watchUntilEmpty(() => {}, () => manager.size === 0, EXPIRY_TIMEOUT_MS)
  manager.close()
  return {
    sessions,
    allGoneMs: watched.emptyAfterMs,
    longestBlockMs: watched.longestBlockMs,
    mechanism: `background timer; ${distinct ? `${sessions.toLocaleString('en')} distinct idle timeouts, ${SPREAD_MS} ms apart` : 'one shared idle timeout'}`,
  }
}

function timeSetter(engine: 'native' | 'js', sessions: number): number {
  const manager = new SessionManager({ engine, idleTimeout: SESSION_TTL_MS })
  const every = Math.max(1, Math.floor(sessions / MAX_TIMED_SETTERS))
  const sample: ReturnType<SessionManager['create']>[] = []
  for (let index = 0; index < sessions; index++) {
    const session = manager.create()
    if (index % every === 0) sample.push(session)
  }
  const samples: number[] = []
  for (let run = 0; run < RUNS; run++) {
    // Each call changes the value, so each re-files its session.
    const timeout = SESSION_TTL_MS + 60_000 * (run + 1)
    const started = process.hrtime.bigint()
    for (const session of sample) session.idleTimeout = timeout
    samples.push(Number(process.hrtime.bigint() - started) / sample.length)
  }
  manager.close()
  return median(samples)
}

export async function wheelFigures(
  engine: 'native' | 'js', sizes: { expirySessions: number; setterSessions: number }, progress: (line: string) => void,
): Promise<WheelFigures> {
  // A first, smaller round compiles the sweep path, as in any process that has expired
  // sessions before: the figures are then the steady state's, not the JIT's first pass.
  await expireAll(engine, Math.min(sizes.expirySessions, 10_000), true)
  const distinct = await expireAll(engine, sizes.expirySessions, true)
  progress(`distinct timeouts: all gone after ${distinct.allGoneMs?.toFixed(0) ?? 'never'} ms, longest block ${distinct.longestBlockMs.toFixed(1)} ms`)
  const shared = await expireAll(engine, sizes.expirySessions, false)
  progress(`one timeout: all gone after ${shared.allGoneMs?.toFixed(0) ?? 'never'} ms, longest block ${shared.longestBlockMs.toFixed(1)} ms`)
  const setterNs = timeSetter(engine, sizes.setterSessions)
  progress(`timeout setter ${setterNs.toFixed(0)} ns at ${sizes.setterSessions.toLocaleString('en')} sessions`)
  return { store: engine, distinct, shared, setterSessions: sizes.setterSessions, setterNs }
}
