// `sessionkeeper/metrics`: Prometheus metrics of SessionManagers and RedisSessionManagers for
// prom-client. Nothing is counted here: every value is read from the managers' own counters
// (stats(), memoryBytes()) when the registry is scraped, so a request costs nothing more.
//
// prom-client is an optional peer dependency, loaded on the first registerSessionMetrics call
// and described here by the little of it this module uses: this entry loads, and the package
// builds and type-checks, without it.
import { EXPIRY_LAG_BOUNDS } from './engine'
import { SessionManager } from './manager'
import { RedisSessionManager } from './redis/manager'
import type { SessionStats } from './registry'
import type { RedisSessionStats } from './redis/core'
import { checkKnownKeys, checkPlainObject, checkString, describe } from './validate'

/**
 * What sessionkeeper/metrics uses of a prom-client registry (prom-client 15 or later, either
 * exposition format), such as prom-client's global `register` or one made for the purpose.
 */
export interface MetricsRegistry {
  registerMetric(metric: never): void
  getSingleMetric(name: string): unknown
  removeSingleMetric(name: string): void
}

type Labels = Record<string, string | number>
interface MetricConfig<M> {
  name: string
  help: string
  labelNames: string[]
  registers: MetricsRegistry[]
  collect?: (this: M) => void | Promise<void>
  buckets?: readonly number[]
  /** How prom-client's cluster registry combines the workers' values (default 'sum'). */
  aggregator?: 'sum' | 'max' | 'average'
}
interface CounterLike { reset(): void; inc(labels: Labels, value: number): void }
interface GaugeLike { reset(): void; set(labels: Labels, value: number): void }
interface PromClientLike {
  register: MetricsRegistry
  Counter: new (config: MetricConfig<CounterLike>) => CounterLike
  Gauge: new (config: MetricConfig<GaugeLike>) => GaugeLike
  Histogram: new (config: MetricConfig<object>) => object
}
/** What a registry reads of a metric on a scrape (prom-client's MetricObjectWithValues). */
interface Scraped {
  name: string
  help: string
  type: string
  aggregator: string
  values: { metricName: string; labels: Labels; value: number }[]
}

let loaded: { prom: PromClientLike; ExpiryLagHistogram: LagHistogramClass } | undefined

/** prom-client, on first use: an Error saying what to install when it is missing. */
function promClient(): { prom: PromClientLike; ExpiryLagHistogram: LagHistogramClass } {
  if (loaded !== undefined) return loaded
  let prom: PromClientLike
  try {
    prom = require('prom-client') as PromClientLike
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === 'MODULE_NOT_FOUND' && /prom-client/.test(String((error as Error).message))) {
      throw new Error('sessionkeeper/metrics needs prom-client, an optional peer dependency: npm install prom-client', { cause: error })
    }
    throw error
  }
  loaded = { prom, ExpiryLagHistogram: defineLagHistogram(prom) }
  return loaded
}

/** A manager whose metrics can be collected: either kind, any data type. */
export type MeteredManager = SessionManager<any> | RedisSessionManager<any>

/** What `registerSessionMetrics(manager, options)` accepts. */
export interface SessionMetricsOptions {
  /** The prom-client registry to register on; default prom-client's global `register`. */
  registry?: MetricsRegistry
  /**
   * The `manager` label of this manager's series (default `'default'`): managers sharing a
   * registry need distinct names.
   */
  name?: string
}

/** What `registerSessionMetrics` returns. */
export interface SessionMetrics {
  /** The `manager` label of this manager's series. */
  readonly name: string
  /**
   * Stops reporting this manager (its series leave the next scrape); the metrics leave the
   * registry with the last manager. Idempotent.
   */
  unregister(): void
}

/**
 * Thrown by `registerSessionMetrics` when the registry already reports this manager, or another
 * manager under the same name, or holds a metric of the same name that is not sessionkeeper's.
 */
export class MetricsRegisteredError extends Error {
  readonly code = 'ERR_METRICS_REGISTERED'
  constructor(message: string) {
    super(message)
    this.name = 'MetricsRegisteredError'
  }
}

const OPTION_KEYS = ['registry', 'name'] as const
const REASONS = ['destroyed', 'expired', 'evicted', 'shutdown'] as const

interface Member {
  name: string
  manager: MeteredManager
}

/**
 * The managers a registry reports, and the metrics reporting them (registered while there is
 * one), by the names they were registered under: an OpenMetrics scrape renames counters in place.
 */
class RegistryMembers {
  readonly members = new Map<string, Member>()
  readonly metrics = new Map<string, object>()

  /** False once `registry.clear()` (or removeSingleMetric) took our metrics away. */
  heldBy(registry: MetricsRegistry): boolean {
    if (this.metrics.size === 0) return false
    for (const [name, metric] of this.metrics) if (registry.getSingleMetric(name) !== metric) return false
    return true
  }

  /** Takes our metrics off `registry`, leaving any that someone else registered since. */
  removeFrom(registry: MetricsRegistry): void {
    for (const [name, metric] of this.metrics) if (registry.getSingleMetric(name) === metric) registry.removeSingleMetric(name)
    this.metrics.clear()
  }
}

const registries = new WeakMap<MetricsRegistry, RegistryMembers>()

/**
 * Reports `manager` on a prom-client registry, under the label `manager="<name>"`. Values are
 * read from the manager when the registry is scraped. Throws MetricsRegisteredError when the
 * registry already reports this manager or another one with the same name.
 *
 * ```ts
 * import { register } from 'prom-client'
 * import { registerSessionMetrics } from 'sessionkeeper/metrics'
 * registerSessionMetrics(manager)                 // on prom-client's global registry
 * app.get('/metrics', async (req, res) => { res.type(register.contentType).send(await register.metrics()) })
 * ```
 */
export function registerSessionMetrics(manager: MeteredManager, options?: SessionMetricsOptions): SessionMetrics {
  if (!(manager instanceof SessionManager) && !(manager instanceof RedisSessionManager)) {
    throw new TypeError(`registerSessionMetrics(manager): manager must be a SessionManager or a RedisSessionManager, received ${describe(manager)}`)
  }
  const given = checkPlainObject('options', options === undefined ? {} : options)
  checkKnownKeys('options', given, OPTION_KEYS)
  const { prom, ExpiryLagHistogram } = promClient()
  const registry = given.registry === undefined ? prom.register : given.registry
  if (!isRegistry(registry)) {
    throw new TypeError(`options.registry must be a prom-client Registry, received ${describe(registry)}`)
  }
  const name = given.name === undefined ? 'default' : checkString('options.name', given.name)
  if (name === '') throw new RangeError('options.name must not be empty')

  let state = registries.get(registry)
  // A registry cleared since reports none of its old members: start over.
  if (state !== undefined && !state.heldBy(registry)) state = undefined
  for (const member of state?.members.values() ?? []) {
    if (member.manager === manager) {
      throw new MetricsRegisteredError(`this manager is already registered on this registry, as manager="${member.name}"; unregister() it first`)
    }
  }
  if (state?.members.has(name)) {
    throw new MetricsRegisteredError(`another manager is already registered on this registry as manager="${name}": give each manager its own options.name`)
  }
  if (state === undefined) {
    state = new RegistryMembers()
    try {
      defineMetrics(prom, ExpiryLagHistogram, registry, state)
    } catch (error) {
      state.removeFrom(registry)
      throw error
    }
    registries.set(registry, state)
  }
  const member: Member = { name, manager }
  state.members.set(name, member)
  const owner = state
  return {
    name,
    unregister(): void {
      if (owner.members.get(name) !== member) return
      owner.members.delete(name)
      if (owner.members.size > 0) return
      owner.removeFrom(registry)
      if (registries.get(registry) === owner) registries.delete(registry)
    },
  }
}

/** Duck-typed: the registry may come from the application's own copy of prom-client. */
function isRegistry(value: unknown): value is MetricsRegistry {
  const candidate = value as { [K in keyof MetricsRegistry]?: unknown } | null
  return typeof candidate === 'object' && candidate !== null &&
    typeof candidate.registerMetric === 'function' && typeof candidate.getSingleMetric === 'function' &&
    typeof candidate.removeSingleMetric === 'function'
}

type Local = { name: string; stats: SessionStats; manager: SessionManager<any> }
type Remote = { name: string; stats: RedisSessionStats }

/** Each registered SessionManager with its stats, read once per metric of a scrape. */
function* locals(state: RegistryMembers): Generator<Local> {
  for (const { name, manager } of state.members.values()) {
    if (manager instanceof SessionManager) yield { name, stats: manager.stats(), manager }
  }
}

function* remotes(state: RegistryMembers): Generator<Remote> {
  for (const { name, manager } of state.members.values()) {
    if (manager instanceof RedisSessionManager) yield { name, stats: manager.stats() }
  }
}

function* redisManagers(state: RegistryMembers): Generator<{ name: string; manager: RedisSessionManager<any> }> {
  for (const { name, manager } of state.members.values()) {
    if (manager instanceof RedisSessionManager) yield { name, manager }
  }
}

function* everyManager(state: RegistryMembers): Generator<{ name: string; stats: SessionStats | RedisSessionStats }> {
  for (const { name, manager } of state.members.values()) yield { name, stats: manager.stats() }
}

/**
 * Creates the metrics on `registry`. A name already taken there (by an application's own
 * metric) is a MetricsRegisteredError, and none of ours stays behind.
 */
function defineMetrics(prom: PromClientLike, ExpiryLagHistogram: LagHistogramClass, registry: MetricsRegistry, state: RegistryMembers): void {
  const taken = METRIC_NAMES.filter((name) => registry.getSingleMetric(name) !== undefined)
  if (taken.length > 0) {
    throw new MetricsRegisteredError(`the registry already has a metric named ${taken.join(', ')} that sessionkeeper/metrics did not register`)
  }
  const registers = [registry]
  // Counters too are filled with the manager's totals on each scrape: reset, then one inc each.
  const counter = (name: string, help: string, labelNames: string[], fill: (metric: CounterLike) => void): void => {
    state.metrics.set(name, new prom.Counter({
      name, help, labelNames, registers,
      collect(this: CounterLike) {
        this.reset()
        fill(this)
      },
    }))
  }
  const gauge = (
    name: string, help: string, labelNames: string[], fill: (metric: GaugeLike) => void, aggregator: 'sum' | 'max' | 'average' = 'sum',
  ): void => {
    state.metrics.set(name, new prom.Gauge({
      name, help, labelNames, registers, aggregator,
      collect(this: GaugeLike) {
        this.reset()
        fill(this)
      },
    }))
  }

  // Both kinds of manager.
  counter('sessionkeeper_sessions_created_total', 'Sessions created (by this process, for a RedisSessionManager).', ['manager'], (metric) => {
    for (const { name, stats } of everyManager(state)) metric.inc({ manager: name }, stats.created)
  })
  counter('sessionkeeper_sessions_closed_total', 'Sessions closed, by reason: destroyed, expired, evicted, shutdown.', ['manager', 'reason'], (metric) => {
    for (const { name, stats } of everyManager(state)) {
      for (const reason of REASONS) metric.inc({ manager: name, reason }, stats.closed[reason])
    }
  })
  counter('sessionkeeper_rejected_cookies_total', 'Session cookies the HTTP integrations treated as no session (malformed, badly signed, unknown).', ['manager'], (metric) => {
    for (const { name, stats } of everyManager(state)) metric.inc({ manager: name }, stats.rejectedCookies)
  })
  counter('sessionkeeper_listener_errors_total', 'Listeners and disposers that threw or rejected.', ['manager'], (metric) => {
    for (const { name, stats } of everyManager(state)) metric.inc({ manager: name }, stats.listenerErrors)
  })
  counter('sessionkeeper_user_limit_evicted_total', 'Sessions maxSessionsPerUser evicted (also counted as closed, reason evicted).', ['manager'], (metric) => {
    for (const { name, stats } of everyManager(state)) metric.inc({ manager: name }, stats.userLimit.evicted)
  })
  counter('sessionkeeper_user_limit_rejected_total', 'Creates and user assignments maxSessionsPerUser refused with UserSessionLimitError.', ['manager'], (metric) => {
    for (const { name, stats } of everyManager(state)) metric.inc({ manager: name }, stats.userLimit.rejected)
  })

  // SessionManager.
  gauge('sessionkeeper_sessions_live', 'Sessions created and not yet closed (an expired one counts until the sweep closes it).', ['manager'], (metric) => {
    for (const { name, stats } of locals(state)) metric.set({ manager: name }, stats.live)
  })
  counter('sessionkeeper_sessions_rejected_total', 'Creates refused with SessionLimitError.', ['manager'], (metric) => {
    for (const { name, stats } of locals(state)) metric.inc({ manager: name }, stats.rejected)
  })
  counter('sessionkeeper_clock_errors_total', 'Clock readings that were not a finite safe number, or threw, replaced by the latest good one.', ['manager'], (metric) => {
    for (const { name, stats } of locals(state)) metric.inc({ manager: name }, stats.clockErrors)
  })
  gauge('sessionkeeper_engine_memory_bytes', 'Approximate bytes the engine holds for its sessions (native: off the JS heap).', ['manager', 'engine'], (metric) => {
    for (const { name, manager } of locals(state)) metric.set({ manager: name, engine: manager.engine }, manager.memoryBytes())
  })
  gauge('sessionkeeper_sweep_slice_longest_seconds', 'The longest slice of background expiry so far, close listeners included, as is a turn giving freed memory back to the OS: how long expiry held the event loop at once.', ['manager'], (metric) => {
    for (const { name, stats } of locals(state)) metric.set({ manager: name }, stats.longestSweepSliceMs / 1000)
  }, 'max')
  state.metrics.set(LAG_NAME, new ExpiryLagHistogram(registry, () => locals(state)))

  // RedisSessionManager.
  counter('sessionkeeper_near_cache_hits_total', 'Lookups answered from the near cache, without a round trip.', ['manager'], (metric) => {
    for (const { name, stats } of remotes(state)) metric.inc({ manager: name }, stats.nearCache.hits)
  })
  counter('sessionkeeper_near_cache_misses_total', 'Lookups that went to Redis.', ['manager'], (metric) => {
    for (const { name, stats } of remotes(state)) metric.inc({ manager: name }, stats.nearCache.misses)
  })
  gauge('sessionkeeper_near_cache_hit_ratio', 'Near-cache hits over lookups since the manager was made (NaN before the first lookup).', ['manager'], (metric) => {
    for (const { name, stats } of remotes(state)) {
      const lookups = stats.nearCache.hits + stats.nearCache.misses
      metric.set({ manager: name }, lookups === 0 ? NaN : stats.nearCache.hits / lookups)
    }
  }, 'average')
  gauge('sessionkeeper_near_cache_entries', 'Records held in the near cache.', ['manager'], (metric) => {
    for (const { name, stats } of remotes(state)) metric.set({ manager: name }, stats.nearCache.size)
  })
  counter('sessionkeeper_redis_round_trips_total', 'Commands sent to Redis by this process (scripts and plain commands, the sweep included).', ['manager'], (metric) => {
    for (const { name, stats } of remotes(state)) metric.inc({ manager: name }, stats.roundTrips)
  })
  counter('sessionkeeper_redis_unavailable_total', 'Calls that failed with RedisUnavailableError.', ['manager'], (metric) => {
    for (const { name, stats } of remotes(state)) metric.inc({ manager: name }, stats.unavailable)
  })
  counter('sessionkeeper_redis_sweep_errors_total', 'Background sweeps that failed (Redis unreachable); the next one retries.', ['manager'], (metric) => {
    for (const { name, stats } of remotes(state)) metric.inc({ manager: name }, stats.sweepErrors)
  })
  // Last, so the round trips it makes are not in this scrape's other figures. One number for all
  // processes: count() asks Redis on each scrape (no per-request cost), and
  // prom-client's cluster registry keeps one worker's value ('max') instead of adding them up.
  // An unreachable Redis leaves the sample out rather than failing the whole scrape.
  state.metrics.set('sessionkeeper_redis_sessions_live', new prom.Gauge({
    name: 'sessionkeeper_redis_sessions_live',
    help: 'Sessions live in Redis under the manager\'s prefix, in every process together (count(), read on each scrape).',
    labelNames: ['manager'], registers, aggregator: 'max',
    async collect(this: GaugeLike) {
      this.reset()
      for (const { name, manager } of redisManagers(state)) {
        try {
          this.set({ manager: name }, await manager.count())
        } catch {
          // Redis unreachable: no sample this scrape; sessionkeeper_redis_unavailable_total counts it.
        }
      }
    },
  }))
}

const METRIC_NAMES = [
  'sessionkeeper_sessions_created_total', 'sessionkeeper_sessions_closed_total', 'sessionkeeper_rejected_cookies_total',
  'sessionkeeper_listener_errors_total', 'sessionkeeper_user_limit_evicted_total', 'sessionkeeper_user_limit_rejected_total',
  'sessionkeeper_sessions_live', 'sessionkeeper_sessions_rejected_total',
  'sessionkeeper_clock_errors_total', 'sessionkeeper_engine_memory_bytes', 'sessionkeeper_sweep_slice_longest_seconds',
  'sessionkeeper_expiry_lag_seconds', 'sessionkeeper_near_cache_hits_total', 'sessionkeeper_near_cache_misses_total',
  'sessionkeeper_near_cache_hit_ratio', 'sessionkeeper_near_cache_entries', 'sessionkeeper_redis_round_trips_total',
  'sessionkeeper_redis_unavailable_total', 'sessionkeeper_redis_sweep_errors_total', 'sessionkeeper_redis_sessions_live',
]

const LAG_NAME = 'sessionkeeper_expiry_lag_seconds'
const LAG_HELP = 'How late after its deadline each session closed as expired was closed.'
/** The `le` labels: the engines' bounds in seconds, as Prometheus measures time. */
const LAG_BUCKETS = EXPIRY_LAG_BOUNDS.map((bound) => bound / 1000)

type LagHistogramClass = new (registry: MetricsRegistry, managers: () => Iterable<Local>) => object

/**
 * The expiry-lag histogram. The engines count it already bucketed (a sweep cannot afford to hand
 * each lag to JavaScript), and prom-client's Histogram only observes single values, so this one
 * serves the managers' counts as they are: both of the methods a registry reads a histogram
 * through (`getForPromString` for the text format, `get` for JSON and cluster aggregation)
 * report them on each scrape. A prom-client Histogram still, so the registry treats it as one.
 */
function defineLagHistogram(prom: PromClientLike): LagHistogramClass {
  return class ExpiryLagHistogram extends prom.Histogram {
    readonly #managers: () => Iterable<Local>

    constructor(registry: MetricsRegistry, managers: () => Iterable<Local>) {
      super({ name: LAG_NAME, help: LAG_HELP, labelNames: ['manager'], buckets: LAG_BUCKETS, registers: [registry] })
      this.#managers = managers
    }

    async get(): Promise<Scraped> {
      return this.getForPromString()
    }

    async getForPromString(): Promise<Scraped> {
      const values: Scraped['values'] = []
      for (const { name, stats } of this.#managers()) {
        const { counts, sum } = stats.expiryLag
        let cumulative = 0
        for (let index = 0; index < counts.length; index++) {
          cumulative += counts[index]
          const le = index < LAG_BUCKETS.length ? LAG_BUCKETS[index] : '+Inf'
          values.push({ metricName: `${LAG_NAME}_bucket`, labels: { manager: name, le }, value: cumulative })
        }
        values.push({ metricName: `${LAG_NAME}_sum`, labels: { manager: name }, value: sum / 1000 })
        values.push({ metricName: `${LAG_NAME}_count`, labels: { manager: name }, value: cumulative })
      }
      return { name: LAG_NAME, help: LAG_HELP, type: 'histogram', values, aggregator: 'sum' }
    }
  }
}
