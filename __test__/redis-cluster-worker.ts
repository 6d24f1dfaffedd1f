/**
 * A node:cluster worker of redis-cluster.spec.ts: express + sessionMiddleware over a
 * RedisSessionManager, on the port the primary shares. Tells the primary (IPC) when it is
 * listening and of every 'close' event it fires.
 */
import { createClient } from 'redis'
import { RedisSessionManager } from '../ts/redis/index'
import { redisApp } from './redis-app'

const client = createClient({ url: process.env.REDIS_URL, socket: { reconnectStrategy: (retries) => Math.min(50 * (retries + 1), 300) } })
const manager = new RedisSessionManager({
  client,
  prefix: process.env.REDIS_PREFIX,
  idleTimeout: Number(process.env.IDLE_TIMEOUT),
  touchInterval: Math.floor(Number(process.env.IDLE_TIMEOUT) / 10),
  resolution: 100,
  commandTimeout: 1000,
})
manager.on('close', (session, reason) => process.send?.({ close: session.id, reason, user: session.user ?? null }))
void manager.ready().then(() => {
  const server = redisApp(manager, 'express')
  server.keepAliveTimeout = 100
  server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.({ listening: process.pid }))
})
