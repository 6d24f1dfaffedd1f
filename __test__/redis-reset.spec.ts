/**
 * Redis wiped under running processes (FLUSHDB, FLUSHALL, or the invalidation counter's key
 * deleted) without any connection dropping: the counter starts again from 1.
 */
import { redisSpec, until } from './redis-spec'

const { test, group, managersOn } = redisSpec()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test.serial('after a FLUSHDB no process serves a wiped session from its near cache, and the caches work again', async (t) => {
  const { managers: [a, b] } = await group(t.context.server, 2)
  for (let index = 0; index < 5; index++) await (await a.create()).set('n', index) // the counter well above 1
  const wiped = await a.create({ data: { v: 1 } })
  t.is((await b.get(wiped.id))?.get('v'), 1)
  t.is((await b.get(wiped.id))?.get('v'), 1, 'served from b’s copy')
  const flushes = b.stats().nearCache.flushes
  await t.context.admin.flushDb()
  const after = await a.create()
  t.true(await after.set('n', 1), 'a change numbered from 1 again')
  await until('b sees the counter went back', () => b.stats().nearCache.flushes > flushes)
  t.is(await b.get(wiped.id), undefined, 'the wiped session is not served')
  t.is(await b.peek(wiped.id), undefined)
  await b.get(after.id)
  const hits = b.stats().nearCache.hits
  t.is((await b.get(after.id))?.get('n'), 1)
  t.is(b.stats().nearCache.hits, hits + 1, 'b keeps copies again')
  t.true(await after.set('n', 2))
  await until('the next change seen in b', async () => (await b.get(after.id))?.get('n') === 2)
})

test.serial('nor does a process that has received no invalidation since it started', async (t) => {
  const { managers: [a], prefix } = await group(t.context.server, 1)
  for (let index = 0; index < 5; index++) await (await a.create()).set('n', index) // the counter at 5
  const { managers: [b] } = await managersOn(t.context.server, [{}], prefix.slice(0, -2)) // started now
  const wiped = await a.create({ data: { v: 1 } }) // a create publishes nothing
  await b.get(wiped.id)
  const hits = b.stats().nearCache.hits
  t.is((await b.get(wiped.id))?.get('v'), 1)
  t.is(b.stats().nearCache.hits, hits + 1, 'served from b’s copy')
  await t.context.admin.flushDb()
  t.true(await (await a.create()).set('n', 1))
  await until('b drops its copies', async () => (await b.peek(wiped.id)) === undefined)
  t.is(await b.get(wiped.id), undefined)
})

test.serial('nor does one whose near cache was flushed since its last invalidation (a lost subscription)', async (t) => {
  const { managers: [a, b] } = await group(t.context.server, 2)
  for (let index = 0; index < 5; index++) await (await a.create()).set('n', index)
  await sleep(100) // b has a last sequence number
  const flushes = b.stats().nearCache.flushes
  await t.context.admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub'])
  await until('the flush and the subscription back', async () => {
    if (b.stats().nearCache.flushes === flushes) return false
    const probe = await a.create()
    await b.get(probe.id)
    return (await b.get(probe.id)) !== undefined && b.stats().nearCache.size > 0
  })
  const wiped = await a.create({ data: { v: 1 } })
  await b.get(wiped.id)
  const hits = b.stats().nearCache.hits
  t.is((await b.get(wiped.id))?.get('v'), 1)
  t.is(b.stats().nearCache.hits, hits + 1)
  await t.context.admin.flushDb()
  t.true(await (await a.create()).set('n', 1))
  await until('b drops its copies', async () => (await b.peek(wiped.id)) === undefined)
  t.is(await b.get(wiped.id), undefined)
})
