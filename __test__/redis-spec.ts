/**
 * The shared frame of the RedisSessionManager spec files, apart from redis-fixtures.ts because
 * it registers ava hooks, and the benchmarks use those fixtures outside ava.
 */
import anyTest, { type TestFn } from 'ava'
import { randomUUID } from 'node:crypto'
import { RedisSessionManager, type RedisSessionManagerOptions } from '../ts/redis/index'
import { type Client, RedisServer } from './redis-fixtures'

export type RedisContext = { server: RedisServer; admin: Client }
type ManagerOptions = Omit<RedisSessionManagerOptions, 'client'>

/**
 * The shared frame of a spec file of RedisSessionManagers: one redis-server started before its
 * tests (with a connected admin client in the context) and stopped after them, once every
 * manager made through `managersOn` or `group` (or pushed on `managers`) is closed and every
 * function given to `cleanup` (a store, an HTTP server) has run. `defaults` go to every manager,
 * under each call's own options.
 */
export function redisSpec(defaults: ManagerOptions = {}) {
  const test = anyTest as TestFn<RedisContext>
  const managers: RedisSessionManager<any>[] = []
  const cleanups: (() => unknown)[] = []
  test.before(async (t) => {
    const server = await RedisServer.start()
    const admin = server.client()
    await admin.connect()
    t.context.server = server
    t.context.admin = admin
  })
  test.after.always(async (t) => {
    await Promise.allSettled([...cleanups.map(async (cleanup) => cleanup()), ...managers.map((manager) => manager.close())])
    await t.context.server?.stop()
  })
  /** One manager per options, sharing `base` as prefix, each with its own client: processes as far as Redis can tell. */
  async function managersOn(server: RedisServer, options: ManagerOptions[], base = `t-${randomUUID()}:`) {
    const made = options.map((given) => new RedisSessionManager({ client: server.client(), prefix: base, ...defaults, ...given }))
    managers.push(...made)
    await Promise.all(made.map((manager) => manager.ready()))
    return { managers: made, prefix: `${base}1:` }
  }
  /** `count` managers with the same options on one fresh prefix (or `base`). */
  const group = (server: RedisServer, count: number, options: ManagerOptions = {}, base?: string) =>
    managersOn(server, Array.from({ length: count }, () => options), base)
  const cleanup = (run: () => unknown): void => {
    cleanups.push(run)
  }
  return { test, managers, managersOn, group, cleanup }
}

/** Waits until `check` holds, polling every 25 ms, `tries` times at most. */
export async function until(what: string, check: () => boolean | Promise<boolean>, tries = 400): Promise<void> {
  for (let attempt = 0; attempt < tries; attempt++) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}
