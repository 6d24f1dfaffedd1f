/**
 * A child process of redis-paging.spec.ts: another process on the same Redis. On each
 * `{ churn: ids }` message it creates sessions, renews the given ones, regenerates and destroys
 * some of its own, sweeps, then answers `{ done: n }`; `{ stop: true }` closes it.
 */
import { createClient } from 'redis'
import { RedisSessionManager, type RedisSession } from '../ts/redis/index'

const manager = new RedisSessionManager({ client: createClient({ url: process.env.REDIS_URL }), prefix: process.env.REDIS_PREFIX, touchInterval: 0, idleTimeout: 600_000 })
const mine: RedisSession[] = []
let rounds = 0
process.on('message', (message: { churn?: string[]; stop?: boolean }) => {
  void (async () => {
    if (message.stop === true) {
      await manager.close()
      process.exit(0)
    }
    for (let index = 0; index < 4; index++) mine.push(await manager.create({ user: 'worker' }))
    for (const id of message.churn ?? []) await manager.get(id)
    const regenerated = mine.shift()
    if (regenerated !== undefined) await regenerated.regenerate()
    const destroyed = mine.shift()
    if (destroyed !== undefined) await destroyed.close()
    await manager.sweep()
    process.send?.({ done: ++rounds })
  })().catch((error: unknown) => {
    process.send?.({ error: String(error) })
  })
})
void manager.ready().then(() => process.send?.({ ready: true }))
