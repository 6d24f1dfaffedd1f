/**
 * Changes a manager gave up on (commandTimeout) that Redis ran later. The change's invalidation
 * carries the sender's origin, which its near cache ignores, as it ignores its own applied
 * changes: the sender must still never serve what the change undid. A busy script on the admin
 * connection holds Redis for a second, past a 300 ms commandTimeout.
 */
import { randomUUID } from 'node:crypto'
import { createClient } from 'redis'
import { RedisSessionManager, RedisUnavailableError } from '../ts/redis/index'
import { redisSpec } from './redis-spec'

const { test, managersOn } = redisSpec({ resolution: 50 })

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A script that keeps redis-server busy for ARGV[1] ms: every command sent meanwhile waits. */
const BUSY = `local t = redis.call('TIME')
local start = t[1] * 1000 + math.floor(t[2] / 1000)
while true do
  t = redis.call('TIME')
  if t[1] * 1000 + math.floor(t[2] / 1000) - start > tonumber(ARGV[1]) then return 1 end
end`

test.serial('a logout given up on but run later: the process that sent it no longer serves the session', async (t) => {
  const { managers: [a, b] } = await managersOn(t.context.server, [{ commandTimeout: 300 }, {}])
  const session = await a.create({ user: 'alice' })
  t.truthy(await a.get(session.id), 'a holds a copy')
  const busy = t.context.admin.sendCommand(['EVAL', BUSY, '0', '1000'])
  await pause(50)
  const flushes = a.stats().nearCache.flushes
  await t.throwsAsync(a.destroy(session.id), { instanceOf: RedisUnavailableError })
  // At least once: the background sweep's calls time out behind the busy script as well.
  t.true(a.stats().nearCache.flushes > flushes, 'the rejected call dropped the copies')
  await busy
  await pause(200)
  t.is(await b.get(session.id), undefined, 'Redis ran the logout')
  t.is(await a.get(session.id), undefined)
})

test.serial('a regenerate given up on but run later: the old id is dead in the process that sent it too', async (t) => {
  const { managers: [a, b] } = await managersOn(t.context.server, [{ commandTimeout: 300 }, {}])
  const session = await a.create({ user: 'alice' })
  const oldId = session.id
  t.truthy(await a.get(oldId), 'a holds a copy')
  const busy = t.context.admin.sendCommand(['EVAL', BUSY, '0', '1000'])
  await pause(50)
  await t.throwsAsync(session.regenerate(), { instanceOf: RedisUnavailableError })
  await busy
  await pause(200)
  t.is(await b.get(oldId), undefined, 'Redis ran the regenerate')
  t.is(await a.get(oldId), undefined)
})

test.serial('a write given up on but run later: the process that sent it serves the value written', async (t) => {
  const { managers: [a, b] } = await managersOn(t.context.server, [{ commandTimeout: 300 }, {}])
  const session = await a.create({ data: { role: 'admin' } })
  t.truthy(await a.get(session.id), 'a holds a copy')
  const busy = t.context.admin.sendCommand(['EVAL', BUSY, '0', '1000'])
  await pause(50)
  await t.throwsAsync(session.set('role', 'guest'), { instanceOf: RedisUnavailableError })
  await busy
  await pause(200)
  t.is((await b.get(session.id))?.get('role'), 'guest', 'Redis ran the write')
  t.is((await a.get(session.id))?.get('role'), 'guest')
})

test.serial('a write that fails half-way (its ACL refuses PUBLISH): the process that sent it serves what Redis holds', async (t) => {
  // Redis keeps a script's writes made before the failing command: the record changed, no
  // invalidation went out. Like a call given up on, the refusal drops the sender's copies.
  await t.context.admin.sendCommand(['ACL', 'SETUSER', 'nopublish', 'on', '>secret-password', '~*', '&*', '+@all', '-publish'])
  t.teardown(() => t.context.admin.sendCommand(['ACL', 'DELUSER', 'nopublish']))
  const client = createClient({ url: `redis://nopublish:secret-password@127.0.0.1:${t.context.server.port}` })
  client.on('error', () => {})
  const manager = new RedisSessionManager({ client, prefix: `acl-${randomUUID()}:` })
  t.teardown(async () => {
    await manager.close()
    client.destroy()
  })
  const session = await manager.create({ data: { v: 1 } })
  t.is((await manager.get(session.id))?.get('v'), 1, 'a copy held')
  const refused = await t.throwsAsync(session.set('v', 2), { instanceOf: RedisUnavailableError })
  t.regex(String((refused?.cause as Error | undefined)?.message), /can't run this command/)
  t.is((await manager.get(session.id))?.get('v'), 2, 'the value Redis holds, not the copy from before')
})
