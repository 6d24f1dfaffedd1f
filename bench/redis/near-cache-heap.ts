/**
 * JS heap per session held in a RedisSessionManager's near cache: `sessions` sessions (the
 * benchmark's ~200 bytes of data each) written by one manager, read once by another whose
 * near cache holds them all, heap measured after two full GCs before and after the reads.
 *
 *   node --expose-gc --import tsx bench/redis/near-cache-heap.ts [sessions = 10000]
 */
import { RedisServer } from '../../__test__/redis-fixtures'
import { RedisSessionManager } from '../../ts/redis/index'
import { sessionData } from '../workload'

async function main(): Promise<void> {
  const sessions = Number(process.argv[2] ?? 10_000)
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with node --expose-gc')
  const server = await RedisServer.start()
  try {
    const writer = new RedisSessionManager({ client: server.client(), prefix: 'heap:', nearCache: 0 })
    const ids: string[] = []
    for (let index = 0; index < sessions; index++) {
      const { user, ...data } = sessionData(index)
      ids.push((await writer.create({ user, data })).id)
    }
    const reader = new RedisSessionManager({ client: server.client(), prefix: 'heap:', nearCache: sessions })
    await reader.ready()
    gc()
    gc()
    const before = process.memoryUsage().heapUsed
    for (const id of ids) await reader.get(id)
    gc()
    gc()
    const held = reader.stats().nearCache.size
    const perSession = (process.memoryUsage().heapUsed - before) / held
    process.stdout.write(`${held} sessions in the near cache: ${Math.round(perSession)} B of JS heap each\n`)
    await Promise.all([writer.close(), reader.close()])
  } finally {
    await server.stop()
  }
}

main().then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
