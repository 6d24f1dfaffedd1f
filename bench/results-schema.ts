/**
 * The shape of bench/results/<date>.json: what one `npm run bench` invocation measured. The
 * store workers, the HTTP runner and the report generator all agree on it, so a results file
 * from any run can be re-rendered into tables and charts.
 */

/** Every store the benchmark drives, in the order tables and charts list them. */
export const STORE_KINDS = [
  'native',
  'js',
  'lru-cache',
  'ttlcache',
  'express-session-memory',
  'memorystore',
  'node-cache',
] as const
export type StoreKind = (typeof STORE_KINDS)[number]

export const STORE_LABELS: Record<StoreKind, string> = {
  native: 'sessionkeeper (native)',
  js: 'sessionkeeper (JsEngine)',
  'lru-cache': 'lru-cache',
  ttlcache: '@isaacs/ttlcache',
  'express-session-memory': 'express-session MemoryStore',
  memorystore: 'memorystore',
  'node-cache': 'node-cache',
}

/** The two engines of this package: the only stores also measured at 10^7 sessions. */
export const OWN_STORES: readonly StoreKind[] = ['native', 'js']

/**
 * The cost of JSON session data (issue 12) for one engine: median ns per `get` and `set` of a
 * string value (stored as itself) and of an object of five fields (stored as JSON text) of about
 * the same size, on sessions holding ~200 bytes of string data each.
 */
/**
 * The per-user index (issue 18) for one engine, among `sessions` live sessions (a tenth of them
 * users' sessions, `perUser` each): `closeUser` of one user (median and p99 µs per call); a
 * `create({ user, data })` and its `close()` with the index and with its methods made no-ops, in
 * `abPairs` alternating pairs of runs (median ns per create and close; the share is
 * the median of the pairs' ratios, minus 1): closed at once, kept while the batch is made, and
 * kept with each session its user's only one (`fresh`); and
 * renewing `get`s of users' sessions against anonymous ones (median ns).
 */
export interface UserIndexFigures {
  store: 'native' | 'js'
  sessions: number
  perUser: number
  closeUserUs: number
  closeUserP99Us: number
  createWithUserNs: number
  createWithoutIndexNs: number
  indexShare: number
  keptWithUserNs: number
  keptWithoutIndexNs: number
  keptIndexShare: number
  freshWithUserNs: number
  freshWithoutIndexNs: number
  freshIndexShare: number
  abPairs: number
  /** What timed the A/B: the main thread's CPU time (Linux), else wall time. */
  abClock: 'main thread CPU' | 'wall'
  /** Results before the A/B: the index's own work per create and close, timed alone (it undercounted). */
  indexNs?: number
  getWithUserNs: number
  getAnonymousNs: number
}

/**
 * Persistence (issue 13, bench/persist.ts) on one engine: each figure with `persist` against the
 * same workload without it, in processes of their own.
 */
export interface PersistFigures {
  store: 'native' | 'js'
  sessions: number
  /** UTF-8 bytes of each session's data (keys and values), on average. */
  dataBytesPerSession: number
  createPerSecPlain: number
  createPerSecPersist: number
  getPerSecPlain: number
  getPerSecPersist: number
  /** One create under fsync 'always' (it waits for fdatasync). */
  alwaysCreateMs: number
  /** The file after close() (a compacted snapshot of every session), per session. */
  fileBytesPerSession: number
  /** The file right after a background compaction, per live session, the records of the
   *  destroys made during it included. */
  compactedBytesPerSession: number
  /** Loading the file at construction, wall and CPU time, and the sessions it held. */
  loadMs: number
  loadCpuMs: number
  loaded: number
  /** From the first of the destroys to the end of the compaction they set off; null when the
   *  file stayed under 1 MiB, which is never compacted (a smoke run). */
  compactionMs: number | null
  /** Longest event-loop block meanwhile, and during the same destroys without persistence. */
  compactionMaxBlockMs: number
  baselineMaxBlockMs: number
  /** The compaction's longest synchronous step (stats().persistence), real time; absent in
   *  results from before it was reported. */
  compactionLongestStepMs?: number
  /** The same for a later compaction in the same process (60% of the rest destroyed), which
   *  finds the compaction's code compiled; absent in results from before it was measured. */
  laterCompactionMs?: number | null
  laterCompactionMaxBlockMs?: number
  laterBaselineMaxBlockMs?: number
  /** Longest lag from a change to the fdatasync that made it durable under 'everysec'. */
  fsyncLagMaxMs: number
}

export interface JsonDataFigures {
  store: 'native' | 'js'
  /** Live sessions, each visited in a fixed random order. */
  sessions: number
  /** Calls per timed run (median of 5 runs). */
  calls: number
  /** Bytes of the object's JSON text; the string value has the same length. */
  valueBytes: number
  getStringNs: number
  getJsonNs: number
  setStringNs: number
  setJsonNs: number
}

export interface MassExpiry {
  /** Sessions due at once. */
  sessions: number
  /** From the moment everything is due until the store holds none of them; null if it never
   * frees them without being asked (then `mechanism` says what was measured instead). */
  allGoneMs: number | null
  /** The longest single event-loop block while that happens. */
  longestBlockMs: number
  /** How the store expires: its background timer, a periodic prune, or an explicit purge call. */
  mechanism: string
}

export interface Serving {
  /** Live sessions while serving. */
  sessions: number
  durationMs: number
  /** get-and-renew calls completed per second while serving in event-loop-friendly batches. */
  opsPerSec: number
  /** perf_hooks.monitorEventLoopDelay over the serving window. */
  eventLoopDelayP99Ms: number
  eventLoopDelayMaxMs: number
}

export interface StoreFigures {
  store: StoreKind
  /** Live sessions when measured. */
  size: number
  /** Median of `runs` timed runs each (create: the fill split into `runs` equal chunks). */
  runs: number
  createOpsPerSec: number
  getOpsPerSec: number
  destroyOpsPerSec: number
  /** After two full GCs, all sessions live, minus the same reading before the first create. */
  heapBytesPerSession: number
  rssBytesPerSession: number
  /** Shortest of three full-GC pauses with every session live. */
  fullGcMs: number
  /** Only at 10^6 (or the profile's serving size). */
  serving: Serving | null
  massExpiry: MassExpiry | null
  /** Anything the reader must know to read the figures right (options used, caveats). */
  notes: string[]
}

/** A bare binding call that copies a fresh id and returns a number: the native floor. */
export interface FloorFigures {
  size: number
  opsPerSec: number
}

export type HttpServerKind =
  | 'express-bare'
  | 'middleware-native'
  | 'middleware-js'
  | 'express-session-memory'
  | 'express-session-memorystore'
  | 'express-session-sessionkeeper'

export interface HttpFigures {
  server: HttpServerKind
  label: string
  /** Sessions created before the load starts. */
  sessions: number
  durationSeconds: number
  connections: number
  requestsPerSec: number
  latencyP50Ms: number
  latencyP99Ms: number
  errors: number
  non2xx: number
}

export interface Target {
  name: string
  /** What was compared, in words and numbers. */
  measured: string
  met: boolean
}

/**
 * The deadline wheel under per-session timeouts (issue 11), for one engine: every session with
 * its own idle timeout against all with one, expired at once through the background timer; and
 * the cost of a timeout setter among many sessions.
 */
export interface WheelFigures {
  store: 'native' | 'js'
  /** Sessions with distinct idle timeouts (SESSION_TTL_MS + 37 ms * index), all due at once. */
  distinct: MassExpiry
  /** The same number of sessions with one shared idle timeout, all due at once. */
  shared: MassExpiry
  /** Live sessions while the setter was timed. */
  setterSessions: number
  /** Median ns per `session.idleTimeout = value` (each call changes the value). */
  setterNs: number
}

/** bench/growth-stall.ts fill: one native manager filled one create at a time (issue 15). */
export interface GrowthFill {
  sessions: number
  /** The slowest single create, wall time. */
  slowestCreateMs: number
  /** Sessions the manager held before the slowest create (absent from older results). */
  slowestAt?: number
  /** Process CPU time (all threads) during the slowest create; absent when it took 1 ms or less (not read). */
  slowestCpuMs?: number
  /** The most CPU time one create took among those over 1 ms of wall time (0 when none was). */
  mostCpuCreateMs: number
  mostCpuAt?: number
  /**
   * The longest one create ran: the maximum over creates of the lesser of its wall time and the
   * process's CPU time meanwhile, which a descheduled call does not inflate (absent from older
   * results).
   */
  longestRunMs?: number
  longestRunAt?: number
  p9999Us: number
  medianUs: number
  /** Creates on a throwaway manager before the fill, timed apart (absent: none were made). */
  warmupCreates?: number
  /** The process's first create (the warm-up's first). */
  firstCreateMs?: number
  slowestWarmupCreateMs?: number
  /** The longest a warm-up create ran (the lesser of its wall and CPU time). */
  warmupLongestRunMs?: number
}

/** bench/growth-stall.ts expire: RSS before, full, and after every session expired (issue 15). */
export interface GrowthExpire {
  sessions: number
  rssBeforeMiB: number
  rssFullMiB: number
  rssAfterSweepMiB: number
  /** After the sweep and 0.5 s of a trickle of new sessions, all closed. */
  rssAfterMiB: number
  sweepMs: number
}

/** bench/dropped-managers.ts: managers dropped without close(), no gc() (issue 15). */
export interface DroppedManagers {
  managers: number
  sessions: number
  nativeFinalRssMiB: number
  nativePeakRssMiB: number
  jsFinalRssMiB: number
  jsPeakRssMiB: number
}

/** bench/external-gc.ts: mark-compacts while one native manager grows (issue 15). */
export interface ExternalGc {
  sessions: number
  markCompacts: number
  /** Those V8 started for external memory pressure: the engine's memory reports. */
  byMemoryReports: number
}

/** Growth, memory given back and memory reported to V8 (issue 15): each part null when it failed or was not run. */
export interface GrowthFigures {
  fill: GrowthFill | null
  /** The same fill, each session with a user of its own (absent from older results). */
  fillUsers?: GrowthFill | null
  expire: GrowthExpire | null
  dropped: DroppedManagers | null
  externalGc: ExternalGc | null
}

export interface BenchResults {
  schema: 1
  /** ISO timestamp of the start of the run. */
  date: string
  profile: 'full' | 'quick' | 'smoke'
  machine: { cpuModel: string; cores: number; memoryGiB: number; os: string; arch: string }
  node: string
  /** Versions of this package and of every store and server library measured. */
  packages: Record<string, string>
  stores: StoreFigures[]
  floor: FloorFigures[]
  http: HttpFigures[]
  /** Absent from results made before the deadline wheel. */
  wheel?: WheelFigures[]
  /** Absent from results made before session data held JSON values. */
  jsonData?: JsonDataFigures[]
  /** Absent from results made before the per-user index. */
  users?: UserIndexFigures[]
  /** Absent from results made before persistence was part of the run. */
  persist?: PersistFigures[]
  /** Absent from results made before growth and memory (issue 15) were part of the run. */
  growth?: GrowthFigures
  targets: Target[]
}
