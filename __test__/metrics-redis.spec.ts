import anyTest, { type TestFn } from 'ava'
import { randomBytes, randomUUID } from 'node:crypto'
import { Registry } from 'prom-client'
import { SessionManager } from '../ts/index'
import { registerSessionMetrics } from '../ts/metrics'
import { RedisSessionManager } from '../ts/redis/index'
import { parseExposition, samplesOf, valueOf } from './prometheus-text'
import { RedisServer } from './redis-fixtures'

const test = anyTest as TestFn<{ server: RedisServer }>

test.before(async (t) => {
  t.context.server = await RedisServer.start()
})

test.after.always(async (t) => {
  await t.context.server?.stop()
})

test('a RedisSessionManager reports its sessions, near cache and round trips beside a SessionManager', async (t) => {
  // The background sweep would add round trips of its own while the test counts them.
  const manager = new RedisSessionManager({ client: t.context.server.client(), prefix: `t-${randomUUID()}:`, resolution: 2 ** 31 - 1 })
  const local = new SessionManager({ engine: 'js' })
  await manager.ready()
  const registry = new Registry()
  registerSessionMetrics(manager, { registry, name: 'shared' })
  registerSessionMetrics(local, { registry, name: 'local' })
  const redis = { manager: 'shared' }

  let exposition = parseExposition(await registry.metrics())
  t.true(Number.isNaN(valueOf(exposition, 'sessionkeeper_near_cache_hit_ratio', redis)), 'no lookups yet: NaN, not a ratio of 0')

  const session = await manager.create({ user: 'ada' })
  let lookups = 0
  for (let index = 0; index < 3; index++) {
    t.truthy(await manager.get(session.id))
    lookups++
  }
  // Ids no session has: each one a lookup that has to ask Redis.
  const unknown = () => randomBytes(16).toString('base64url')
  t.is(await manager.peek(unknown()), undefined)
  lookups++
  const before = manager.stats().roundTrips
  for (let index = 0; index < 5; index++) t.is(await manager.peek(unknown()), undefined)
  lookups += 5
  t.is(manager.stats().roundTrips - before, 5, 'one round trip per lookup that misses, once the script is loaded')
  t.true(await manager.destroy(session.id))

  const stats = manager.stats()
  exposition = parseExposition(await registry.metrics())
  t.is(stats.nearCache.hits + stats.nearCache.misses, lookups)
  t.true(stats.nearCache.hits >= 1, 'repeated gets of a fresh session are served from the near cache')
  t.is(valueOf(exposition, 'sessionkeeper_near_cache_hits_total', redis), stats.nearCache.hits)
  t.is(valueOf(exposition, 'sessionkeeper_near_cache_misses_total', redis), stats.nearCache.misses)
  t.is(valueOf(exposition, 'sessionkeeper_near_cache_hit_ratio', redis), stats.nearCache.hits / lookups)
  t.is(valueOf(exposition, 'sessionkeeper_near_cache_entries', redis), stats.nearCache.size)
  t.is(valueOf(exposition, 'sessionkeeper_redis_round_trips_total', redis), stats.roundTrips)
  t.true(stats.roundTrips >= 1 + 6 + 1, 'the create, the peeks and the destroy each went to Redis')
  t.is(valueOf(exposition, 'sessionkeeper_redis_unavailable_total', redis), 0)
  t.is(valueOf(exposition, 'sessionkeeper_redis_sweep_errors_total', redis), 0)
  t.is(valueOf(exposition, 'sessionkeeper_sessions_created_total', redis), 1)
  t.is(valueOf(exposition, 'sessionkeeper_sessions_closed_total', { ...redis, reason: 'destroyed' }), 1)
  t.is(valueOf(exposition, 'sessionkeeper_listener_errors_total', redis), 0)
  t.is(valueOf(exposition, 'sessionkeeper_rejected_cookies_total', redis), 0)
  // What only an in-process manager has: its own series, none for the Redis one.
  t.deepEqual(samplesOf(exposition, 'sessionkeeper_sessions_live', {}).map((sample) => sample.labels.manager), ['local'])
  t.is(valueOf(exposition, 'sessionkeeper_redis_sessions_live', redis), 0, 'the destroyed session is gone from Redis')
  const live = [await manager.create(), await manager.create()]
  exposition = parseExposition(await registry.metrics())
  t.is(valueOf(exposition, 'sessionkeeper_redis_sessions_live', redis), 2, 'live in Redis, counted on scrape')
  t.is(valueOf(exposition, 'sessionkeeper_redis_sessions_live', redis), await manager.count())
  await Promise.all(live.map((session) => session.close()))
  t.deepEqual(samplesOf(exposition, 'sessionkeeper_expiry_lag_seconds_count', {}).map((sample) => sample.labels.manager), ['local'])
  t.deepEqual(samplesOf(exposition, 'sessionkeeper_near_cache_hits_total', {}).map((sample) => sample.labels.manager), ['shared'])

  await manager.close()
  local.close()
})
