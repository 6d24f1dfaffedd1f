/**
 * Redis wiped under running processes (FLUSHDB, FLUSHALL, or the invalidation counter's key
 * deleted) without any connection dropping: the counter starts again from 1.
 */
import { redisSpec, until } from './redis-spec'

const { test, group } = redisSpec()

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
