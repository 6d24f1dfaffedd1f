/**
 * How much each `npm run bench*` measures. `full` gives the committed figures; `quick` is a
 * look in under two minutes; `smoke` only proves the harness runs (CI).
 */
import type { BenchResults } from './results-schema'

export type ProfileName = BenchResults['profile']

export interface Profile {
  /** Live sessions at which every store is measured. */
  sizes: number[]
  /** Extra sizes for this package's own engines only. */
  ownStoreSizes: number[]
  /** The size at which serving and mass expiry are measured (one of `sizes`). */
  servingSize: number
  servingDurationMs: number
  http: { sessions: number; durationSeconds: number; connections: number }
  /** The deadline wheel: sessions expired with distinct or shared timeouts, and live during the setter timing. */
  wheel: { expirySessions: number; setterSessions: number }
  /** Persistence (bench/persist.ts): sessions created, compacted, saved and loaded per engine. */
  persist: { sessions: number }
  /**
   * Growth and memory (issue 15): sessions filled one create at a time, sessions expired (RSS
   * after), managers of `droppedSessions` dropped without close(), and sessions made while
   * counting mark-compacts.
   */
  growth: { fillSessions: number; fillUsersSessions: number; expireSessions: number; droppedManagers: number; droppedSessions: number; externalGcSessions: number }
}

export const PROFILES: Record<ProfileName, Profile> = {
  full: {
    sizes: [100_000, 1_000_000],
    ownStoreSizes: [10_000_000],
    servingSize: 1_000_000,
    servingDurationMs: 5000,
    http: { sessions: 100_000, durationSeconds: 10, connections: 50 },
    wheel: { expirySessions: 100_000, setterSessions: 1_000_000 },
    persist: { sessions: 1_000_000 },
    growth: { fillSessions: 10_000_000, fillUsersSessions: 4_200_000, expireSessions: 4_000_000, droppedManagers: 3000, droppedSessions: 1000, externalGcSessions: 4_000_000 },
  },
  quick: {
    sizes: [100_000],
    ownStoreSizes: [],
    servingSize: 100_000,
    servingDurationMs: 2000,
    http: { sessions: 10_000, durationSeconds: 3, connections: 50 },
    wheel: { expirySessions: 100_000, setterSessions: 100_000 },
    persist: { sessions: 100_000 },
    growth: { fillSessions: 1_000_000, fillUsersSessions: 1_000_000, expireSessions: 400_000, droppedManagers: 300, droppedSessions: 1000, externalGcSessions: 400_000 },
  },
  smoke: {
    sizes: [2000],
    ownStoreSizes: [],
    servingSize: 2000,
    servingDurationMs: 300,
    http: { sessions: 200, durationSeconds: 1, connections: 10 },
    wheel: { expirySessions: 2000, setterSessions: 2000 },
    persist: { sessions: 2000 },
    growth: { fillSessions: 2000, fillUsersSessions: 2000, expireSessions: 2000, droppedManagers: 10, droppedSessions: 100, externalGcSessions: 2000 },
  },
}

export function profileNamed(name: string | undefined): ProfileName {
  if (name === undefined || name === '') return 'full'
  if (name in PROFILES) return name as ProfileName
  throw new Error(`unknown bench profile ${JSON.stringify(name)}: expected ${Object.keys(PROFILES).join(', ')}`)
}
