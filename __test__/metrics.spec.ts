import test from 'ava'
import { Counter, Registry } from 'prom-client'
import { EXPIRY_LAG_BOUNDS } from '../ts/engine'
import { SessionLimitError, UserSessionLimitError } from '../ts/errors'
import { recordRejectedCookie } from '../ts/internal'
import { SessionManager } from '../ts/index'
import { MetricsRegisteredError, registerSessionMetrics } from '../ts/metrics'
import { TestClock } from '../ts/testing'
import { ENGINES, forEachEngine } from './helpers'
import { type Exposition, parseExposition, samplesOf, valueOf } from './prometheus-text'

const T0 = 1_000_000

async function scrape(registry: Registry): Promise<Exposition> {
  return parseExposition(await registry.metrics())
}

/** Cumulative bucket counts (le in seconds) of `lags` (ms), as a Prometheus histogram has them. */
function expectedBuckets(lags: number[]): Record<string, number> {
  const buckets: Record<string, number> = {}
  for (const bound of EXPIRY_LAG_BOUNDS) buckets[String(bound / 1000)] = lags.filter((lag) => lag <= bound).length
  buckets['+Inf'] = lags.length
  return buckets
}

function bucketsOf(exposition: Exposition, manager: string): Record<string, number> {
  const buckets: Record<string, number> = {}
  for (const sample of samplesOf(exposition, 'sessionkeeper_expiry_lag_seconds_bucket', { manager })) buckets[sample.labels.le] = sample.value
  return buckets
}

forEachEngine(test, 'a scrape shows every metric with its type and the values of a known sequence', async (t, engine) => {
  const clock = new TestClock(T0)
  let badReading = false
  const manager = new SessionManager({
    engine, clock: () => (badReading ? NaN : clock.now()), idleTimeout: 1000, resolution: 1, maxSessions: 3, whenFull: 'reject',
  })
  const registry = new Registry()
  registerSessionMetrics(manager, { registry, name: 'web' })
  manager.on('error', () => {})
  let failNext = true
  manager.on('create', () => {
    if (failNext) {
      failNext = false
      throw new Error('a listener that fails once')
    }
  })
  // Synchronous from here to the scrape: the background timer cannot sweep in between.
  const a = manager.create()
  manager.create()
  manager.create({ idleTimeout: 5000 })
  t.throws(() => manager.create(), { instanceOf: SessionLimitError })
  a.close()
  clock.advance(1007)
  t.is(manager.sweep(), 1, 'the 1 s session, 7 ms late')
  clock.advance(4293)
  t.is(manager.sweep(), 1, 'the 5 s session, 300 ms late')
  const late = manager.create()
  clock.advance(2500)
  t.false(late.close(), 'closed as expired, 1500 ms late, outside a sweep')
  manager[recordRejectedCookie]()
  manager[recordRejectedCookie]()
  badReading = true
  manager.has('x')
  badReading = false
  manager.create()

  const first = await scrape(registry)
  const types = Object.fromEntries([...first.types].filter(([name]) => name.startsWith('sessionkeeper_')))
  t.deepEqual(types, {
    sessionkeeper_sessions_created_total: 'counter',
    sessionkeeper_sessions_closed_total: 'counter',
    sessionkeeper_rejected_cookies_total: 'counter',
    sessionkeeper_listener_errors_total: 'counter',
    sessionkeeper_user_limit_evicted_total: 'counter',
    sessionkeeper_user_limit_rejected_total: 'counter',
    sessionkeeper_sessions_live: 'gauge',
    sessionkeeper_sessions_rejected_total: 'counter',
    sessionkeeper_clock_errors_total: 'counter',
    sessionkeeper_engine_memory_bytes: 'gauge',
    sessionkeeper_sweep_slice_longest_seconds: 'gauge',
    sessionkeeper_expiry_lag_seconds: 'histogram',
    sessionkeeper_near_cache_hits_total: 'counter',
    sessionkeeper_near_cache_misses_total: 'counter',
    sessionkeeper_near_cache_hit_ratio: 'gauge',
    sessionkeeper_near_cache_entries: 'gauge',
    sessionkeeper_redis_round_trips_total: 'counter',
    sessionkeeper_redis_unavailable_total: 'counter',
    sessionkeeper_redis_sweep_errors_total: 'counter',
    sessionkeeper_redis_sessions_live: 'gauge',
  })
  for (const name of Object.keys(types)) t.truthy(first.help.get(name), `${name} has help text`)
  const web = { manager: 'web' }
  t.is(valueOf(first, 'sessionkeeper_sessions_created_total', web), 5)
  t.is(valueOf(first, 'sessionkeeper_sessions_closed_total', { ...web, reason: 'destroyed' }), 1)
  t.is(valueOf(first, 'sessionkeeper_sessions_closed_total', { ...web, reason: 'expired' }), 3)
  t.is(valueOf(first, 'sessionkeeper_sessions_closed_total', { ...web, reason: 'evicted' }), 0)
  t.is(valueOf(first, 'sessionkeeper_sessions_closed_total', { ...web, reason: 'shutdown' }), 0)
  t.is(valueOf(first, 'sessionkeeper_sessions_rejected_total', web), 1)
  t.is(valueOf(first, 'sessionkeeper_listener_errors_total', web), 1)
  t.is(valueOf(first, 'sessionkeeper_rejected_cookies_total', web), 2)
  t.is(valueOf(first, 'sessionkeeper_clock_errors_total', web), 1)
  t.is(valueOf(first, 'sessionkeeper_user_limit_evicted_total', web), 0)
  t.is(valueOf(first, 'sessionkeeper_user_limit_rejected_total', web), 0)
  t.is(valueOf(first, 'sessionkeeper_sessions_live', web), 1)
  t.true(valueOf(first, 'sessionkeeper_engine_memory_bytes', { ...web, engine }) > 0)
  t.true(valueOf(first, 'sessionkeeper_sweep_slice_longest_seconds', web) >= 0)
  t.deepEqual(bucketsOf(first, 'web'), expectedBuckets([7, 300, 1500]))
  t.is(valueOf(first, 'sessionkeeper_expiry_lag_seconds_count', web), 3)
  t.is(valueOf(first, 'sessionkeeper_expiry_lag_seconds_sum', web), 1.807)
  t.is(samplesOf(first, 'sessionkeeper_near_cache_hits_total', {}).length, 0, 'no Redis series for a SessionManager')

  manager.close()
  const second = await scrape(registry)
  t.is(valueOf(second, 'sessionkeeper_sessions_closed_total', { ...web, reason: 'shutdown' }), 1)
  t.is(valueOf(second, 'sessionkeeper_sessions_live', web), 0)
  t.is(valueOf(second, 'sessionkeeper_sessions_created_total', web), 5, 'a closed manager still reports')
})

forEachEngine(test, 'maxSessionsPerUser evictions and refusals are counted', async (t, engine) => {
  const registry = new Registry()
  const evicting = new SessionManager({ engine, maxSessionsPerUser: 1, whenUserFull: 'evict-oldest' })
  const refusing = new SessionManager({ engine, maxSessionsPerUser: 1, whenUserFull: 'reject' })
  registerSessionMetrics(evicting, { registry, name: 'evicting' })
  registerSessionMetrics(refusing, { registry, name: 'refusing' })
  evicting.create({ user: 'ada' })
  evicting.create({ user: 'ada' })
  evicting.create({ user: 'ada' })
  refusing.create({ user: 'ada' })
  t.throws(() => refusing.create({ user: 'ada' }), { instanceOf: UserSessionLimitError })
  const other = refusing.create({ user: 'bob' })
  t.throws(() => { other.user = 'ada' }, { instanceOf: UserSessionLimitError })
  const exposition = await scrape(registry)
  t.is(valueOf(exposition, 'sessionkeeper_user_limit_evicted_total', { manager: 'evicting' }), 2)
  t.is(valueOf(exposition, 'sessionkeeper_sessions_closed_total', { manager: 'evicting', reason: 'evicted' }), 2)
  t.is(valueOf(exposition, 'sessionkeeper_user_limit_rejected_total', { manager: 'evicting' }), 0)
  t.is(valueOf(exposition, 'sessionkeeper_user_limit_rejected_total', { manager: 'refusing' }), 2)
  t.is(valueOf(exposition, 'sessionkeeper_sessions_rejected_total', { manager: 'refusing' }), 0, 'maxSessions refused nothing')
  evicting.close()
  refusing.close()
})

test('both engines put every lag in the same bucket, on each bound and just past it, through both sweeps', (t) => {
  const lags = [0, ...EXPIRY_LAG_BOUNDS.flatMap((bound) => [bound, bound + 1]), 3_600_000]
  const horizon = 10_000_000
  const results = []
  for (const engine of ENGINES) {
    for (const listening of [false, true]) {
      const clock = new TestClock(T0)
      const manager = new SessionManager({ engine, clock: clock.now, resolution: 1 })
      // A close listener makes the sweep hand each session back; without one the engine frees them itself.
      if (listening) manager.on('close', () => {})
      for (const lag of lags) manager.create({ idleTimeout: horizon - lag })
      clock.advance(horizon)
      t.is(manager.sweep(), lags.length)
      const { expiryLag, closed } = manager.stats()
      t.is(expiryLag.counts.reduce((sum, count) => sum + count, 0), closed.expired)
      results.push(expiryLag)
      manager.close()
    }
  }
  const counts = Array.from({ length: EXPIRY_LAG_BOUNDS.length + 1 }, () => 0)
  for (const lag of lags) {
    const bucket = EXPIRY_LAG_BOUNDS.findIndex((bound) => lag <= bound)
    counts[bucket < 0 ? EXPIRY_LAG_BOUNDS.length : bucket]++
  }
  const expected = { bounds: EXPIRY_LAG_BOUNDS, counts, sum: lags.reduce((sum, lag) => sum + lag, 0) }
  for (const result of results) t.deepEqual(result, expected)
})

forEachEngine(test, 'every session closed as expired is counted once in the lag, whichever way it closed', (t, engine) => {
  const clock = new TestClock(T0)
  const manager = new SessionManager({ engine, clock: clock.now, keys: 'caller', idleTimeout: 1000, resolution: 1 })
  manager.on('close', () => {})
  manager.create({ key: 'swept' })
  const closedByHand = manager.create({ key: 'closed' })
  manager.create({ key: 'reclaimed' })
  const regenerated = manager.create({ key: 'mover', idleTimeout: 10_000 })
  manager.create({ key: 'taken' })
  manager.create({ key: 'at-shutdown', idleTimeout: 1500 })
  manager.create({ key: 'logged-out', user: 'ada' })
  clock.advance(1200)
  t.is(manager.closeUser('ada'), 0, 'closed as expired, 200 ms late, not counted as logged out')
  t.false(closedByHand.close())                                  // 200 ms late
  manager.create({ key: 'reclaimed' })                            // the expired holder closes, 200 ms late
  t.is(regenerated.regenerate('taken'), 'taken')                  // so does this one
  t.is(manager.sweep(), 1)                                        // 'swept', 200 ms late
  clock.advance(2000)
  // Still attached at shutdown ('at-shutdown', due at +1500, and 'reclaimed', due at +2200): both expired.
  manager.close()
  const { closed, expiryLag } = manager.stats()
  t.is(closed.expired, 7)
  t.is(expiryLag.counts.reduce((sum, count) => sum + count, 0), 7)
  t.is(expiryLag.sum, 200 * 5 + 1700 + 1000)
})

test('registering twice, or two managers under one name, is a MetricsRegisteredError; unregister frees both', async (t) => {
  const registry = new Registry()
  const first = new SessionManager({ engine: 'js' })
  const second = new SessionManager({ engine: 'native' })
  const registration = registerSessionMetrics(first, { registry })
  t.is(registration.name, 'default')
  const twice = t.throws(() => registerSessionMetrics(first, { registry, name: 'other' }), { instanceOf: MetricsRegisteredError })
  t.is(twice.code, 'ERR_METRICS_REGISTERED')
  t.regex(twice.message, /already registered on this registry, as manager="default"/)
  t.throws(() => registerSessionMetrics(second, { registry }), { instanceOf: MetricsRegisteredError, message: /manager="default"/ })
  registerSessionMetrics(second, { registry, name: 'api' })
  first.create()
  second.create()
  second.create()
  let exposition = await scrape(registry)
  t.is(valueOf(exposition, 'sessionkeeper_sessions_live', { manager: 'default' }), 1)
  t.is(valueOf(exposition, 'sessionkeeper_sessions_live', { manager: 'api' }), 2)
  t.is(valueOf(exposition, 'sessionkeeper_engine_memory_bytes', { manager: 'api', engine: 'native' }) > 0, true)

  registration.unregister()
  registration.unregister()
  exposition = await scrape(registry)
  t.deepEqual(samplesOf(exposition, 'sessionkeeper_sessions_live', {}).map((s) => s.labels.manager), ['api'])
  const again = registerSessionMetrics(first, { registry })
  t.is(valueOf(await scrape(registry), 'sessionkeeper_sessions_created_total', { manager: 'default' }), 1, 'counters read the manager, not the registration')
  again.unregister()
  // Another registry is independent: the same manager may be reported there too.
  const other = new Registry()
  const elsewhere = registerSessionMetrics(second, { registry: other, name: 'api' })
  t.is(valueOf(await scrape(other), 'sessionkeeper_sessions_live', { manager: 'api' }), 2)
  elsewhere.unregister()
  first.close()
  second.close()
})

test('the metrics leave the registry with the last manager, and a name taken by another metric is refused whole', async (t) => {
  const registry = new Registry()
  const manager = new SessionManager({ engine: 'js' })
  registerSessionMetrics(manager, { registry }).unregister()
  t.deepEqual(registry.getMetricsAsArray(), [], 'nothing of ours is left')
  new Counter({ name: 'sessionkeeper_sessions_live', help: "the application's own", registers: [registry] })
  const error = t.throws(() => registerSessionMetrics(manager, { registry }), { instanceOf: MetricsRegisteredError })
  t.regex(error.message, /sessionkeeper_sessions_live/)
  t.deepEqual(registry.getMetricsAsArray().map((metric) => metric.name), ['sessionkeeper_sessions_live'], 'none of ours was left behind')
  manager.close()
})

test('after registry.clear() the managers register again, and a stale registration cannot remove the new metrics', async (t) => {
  const registry = new Registry()
  const before = new SessionManager({ engine: 'js' })
  const after = new SessionManager({ engine: 'js' })
  const stale = registerSessionMetrics(before, { registry, name: 'web' })
  registry.clear()
  registerSessionMetrics(after, { registry, name: 'web' })
  after.create()
  stale.unregister()
  t.is(valueOf(await scrape(registry), 'sessionkeeper_sessions_live', { manager: 'web' }), 1)
  before.close()
  after.close()
})

test('bad arguments are a TypeError or RangeError naming the option', (t) => {
  const manager = new SessionManager({ engine: 'js' })
  const registry = new Registry()
  t.throws(() => registerSessionMetrics({} as SessionManager), { instanceOf: TypeError, message: /manager must be a SessionManager or a RedisSessionManager/ })
  t.throws(() => registerSessionMetrics(manager, { registry: {} as Registry }), { instanceOf: TypeError, message: /options\.registry/ })
  t.throws(() => registerSessionMetrics(manager, { registry, name: 7 as unknown as string }), { instanceOf: TypeError, message: /options\.name/ })
  t.throws(() => registerSessionMetrics(manager, { registry, name: '' }), { instanceOf: RangeError, message: /options\.name/ })
  t.throws(() => registerSessionMetrics(manager, { registry, name: '\uD800' }), { instanceOf: RangeError, message: /options\.name/ })
  t.throws(() => registerSessionMetrics(manager, { registry, label: 'x' } as never), { instanceOf: TypeError, message: /unknown option "label"/ })
  t.throws(() => registerSessionMetrics(manager, new Map() as never), { instanceOf: TypeError, message: /options must be a plain object/ })
  t.is(registry.getMetricsAsArray().length, 0)
  manager.close()
})

test('label values are escaped, and an OpenMetrics registry serves the same metrics', async (t) => {
  const manager = new SessionManager({ engine: 'js' })
  const name = 'a "quoted" \\ back\nslashed'
  const registry = new Registry()
  const registration = registerSessionMetrics(manager, { registry, name })
  manager.create()
  t.is(valueOf(await scrape(registry), 'sessionkeeper_sessions_live', { manager: name }), 1)
  registration.unregister()

  // prom-client's declarations omit the constructor's content type parameter.
  const open = new (Registry as unknown as new (contentType: string) => Registry)(Registry.OPENMETRICS_CONTENT_TYPE)
  const again = registerSessionMetrics(manager, { registry: open, name: 'om' })
  const text = await open.metrics()
  t.regex(text, /^sessionkeeper_sessions_created_total\{manager="om"\} 1$/m)
  t.regex(text, /^sessionkeeper_expiry_lag_seconds_bucket\{manager="om",le="\+Inf"\} 0$/m)
  // An OpenMetrics scrape renames counters in place; unregistering still finds and removes them.
  again.unregister()
  t.deepEqual(open.getMetricsAsArray(), [])
  t.notThrows(() => registerSessionMetrics(manager, { registry: open, name: 'om' }).unregister())
  manager.close()
})

forEachEngine(test, 'the longest background sweep slice is measured', async (t, engine) => {
  const clock = new TestClock(T0)
  const manager = new SessionManager({ engine, clock: clock.now, idleTimeout: 1, resolution: 1 })
  t.is(manager.stats().longestSweepSliceMs, 0)
  let closed = false
  manager.on('close', () => { closed = true })
  manager.create()
  clock.advance(5)
  // The background timer runs on real time: wait for its slice, however loaded the machine.
  while (!closed) await new Promise((resolve) => setTimeout(resolve, 5))
  t.true(manager.stats().longestSweepSliceMs > 0)
  manager.close()
})
