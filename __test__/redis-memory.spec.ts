/**
 * A Redis at its memory limit: what still works under noeviction, and the warning for a policy
 * that may evict what the sessions need.
 */
import { RedisUnavailableError } from '../ts/redis/index'
import { redisSpec } from './redis-spec'

const { test, group } = redisSpec({ resolution: 50 })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function warningsOf(code: string): { list: Error[]; stop: () => void } {
  const list: Error[] = []
  const onWarning = (warning: Error & { code?: string }) => {
    if (warning.code === code) list.push(warning)
  }
  process.on('warning', onWarning)
  return { list, stop: () => process.off('warning', onWarning) }
}

test.serial('at maxmemory under noeviction a get serves a live session unrenewed, and renews it once Redis has room', async (t) => {
  const { managers: [a, b] } = await group(t.context.server, 2, { idleTimeout: 60_000, touchInterval: 10 })
  const session = await a.create({ user: 'alice', data: { cart: 3 } })
  const createdActivity = session.lastActivity
  await sleep(50) // a renewal is due
  await t.context.admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  try {
    const got = await b.get(session.id)
    t.truthy(got, 'the live session is found')
    t.is(got?.get('cart'), 3)
    t.is(got?.lastActivity, createdActivity, 'not renewed: Redis refused the write')
    await t.throwsAsync(got!.touch(), { instanceOf: RedisUnavailableError, message: /touch/ }, 'an explicit touch says it could not renew')
    t.truthy(await b.get(session.id), 'still found after the refusal')
  } finally {
    await t.context.admin.configSet({ maxmemory: '0' })
  }
  const renewed = await b.get(session.id)
  t.true(renewed !== undefined && renewed.lastActivity > createdActivity, 'renewed once Redis has room')
})

test.serial('at maxmemory under noeviction what grows memory is refused whole, and what frees it runs', async (t) => {
  const { managers: [a, b], prefix } = await group(t.context.server, 2, { idleTimeout: 60_000 })
  const admin = t.context.admin
  const closed: string[] = []
  for (const manager of [a, b]) manager.on('close', (session, reason) => closed.push(`${session.id}:${reason}`))
  const kept = await a.create({ user: 'alice', data: { cart: 3, note: 'x' } })
  const other = await a.create({ user: 'alice' })
  const third = await a.create({ user: 'bob' })
  const expiring = await a.create({ idleTimeout: 100 })
  const keysBefore = await admin.dbSize()
  await admin.configSet({ maxmemory: '1', 'maxmemory-policy': 'noeviction' })
  try {
    const oom = { instanceOf: RedisUnavailableError }
    await t.throwsAsync(a.create({ user: 'alice' }), oom, 'a create')
    await t.throwsAsync(kept.set('cart', 4), oom, 'a write')
    t.is(await admin.dbSize(), keysBefore, 'the refused calls left nothing behind')
    t.is((await b.peek(kept.id))?.get('cart'), 3)

    t.true(await kept.delete('note'), 'a write that only deletes runs')
    const oldId = kept.id
    t.truthy(await kept.regenerate(), 'a regenerate runs (it moves the record)')
    t.is(await b.peek(oldId), undefined)
    t.true(await third.close(), 'a destroy runs')
    await sleep(150)
    await a.sweep() // if the background sweep has not closed it already
    await b.sweep()
    t.is(await a.closeUser('alice', { except: kept }), 1, 'closeUser runs')
    t.deepEqual(closed.sort(), [`${third.id}:destroyed`, `${expiring.id}:expired`, `${other.id}:destroyed`].sort())
    t.is(await admin.exists(`${prefix}s:${expiring.id}`), 0)
  } finally {
    await admin.configSet({ maxmemory: '0' })
  }
  t.is((await b.get(kept.id))?.get('note'), undefined)
  await kept.set('cart', 4)
  t.is((await b.get(kept.id))?.get('cart'), 4, 'writes go through once Redis has room')
})

test.serial('a Redis that may evict keys at its memory limit is reported once per manager, with the policy named', async (t) => {
  const warnings = warningsOf('SESSIONKEEPER_REDIS_EVICTION_POLICY')
  try {
    await t.context.admin.configSet({ maxmemory: '1gb', 'maxmemory-policy': 'allkeys-lru' })
    const { managers: [a] } = await group(t.context.server, 1)
    await a.count() // replies come in order: the policy's has been read
    await sleep(0)
    t.is(warnings.list.length, 1)
    t.regex(warnings.list[0]!.message, /allkeys-lru/)
    t.is(warnings.list[0]!.name, 'SessionkeeperRedisWarning')

    await t.context.admin.configSet({ 'maxmemory-policy': 'noeviction' })
    const { managers: [b] } = await group(t.context.server, 1)
    await t.context.admin.configSet({ maxmemory: '0', 'maxmemory-policy': 'volatile-lru' })
    const { managers: [c] } = await group(t.context.server, 1)
    await b.count()
    await c.count()
    await sleep(0)
    t.is(warnings.list.length, 1, 'noeviction, or no memory limit, is not reported')
  } finally {
    warnings.stop()
    await t.context.admin.configSet({ maxmemory: '0', 'maxmemory-policy': 'noeviction' })
  }
})
