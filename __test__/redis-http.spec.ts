import anyTest, { type TestFn } from 'ava'
import { once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { RedisSessionManager } from '../ts/redis/index'
import { redisApp } from './redis-app'
import { RedisServer } from './redis-fixtures'

const test = anyTest as TestFn<{ server: RedisServer }>
const cleanups: (() => Promise<unknown>)[] = []

test.before(async (t) => {
  t.context.server = await RedisServer.start()
})

test.after.always(async (t) => {
  await Promise.allSettled(cleanups.map((cleanup) => cleanup()))
  await t.context.server?.stop()
})

/** Two app servers (two managers, two clients) sharing one Redis, as two processes would. */
async function pair(redis: RedisServer, stack: 'express' | 'http') {
  const prefix = `h-${randomUUID()}:`
  const urls: string[] = []
  for (let index = 0; index < 2; index++) {
    const manager = new RedisSessionManager({ client: redis.client(), prefix })
    const server: Server = redisApp(manager, stack)
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
    cleanups.push(async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await manager.close()
    })
  }
  return urls
}

async function call(url: string, path: string, cookie?: string, method = 'POST') {
  const response = await fetch(url + path, { method, headers: cookie === undefined ? {} : { cookie } })
  const body = await response.json() as Record<string, any>
  const setCookie = response.headers.getSetCookie()[0]
  return { status: response.status, body, cookie: setCookie?.split(';')[0], setCookie }
}

for (const stack of ['express', 'http'] as const) {
  test(`${stack}: a login served by one process is seen by the other, and after the logout response no process serves it`, async (t) => {
    const [a, b] = await pair(t.context.server, stack)
    const login = await call(a, '/login?user=erin')
    t.is(login.status, 200)
    t.truthy(login.cookie)
    const seen = await call(b, '/', login.cookie, 'GET')
    t.is(seen.body.user, 'erin')
    t.is(seen.body.current, login.body.id)
    t.falsy(seen.setCookie)
    // Warm both near caches, then log out on one: the next request anywhere is anonymous.
    for (let round = 0; round < 5; round++) {
      t.is((await call(a, '/', login.cookie, 'GET')).body.user, 'erin')
      t.is((await call(b, '/', login.cookie, 'GET')).body.user, 'erin')
    }
    const logout = await call(b, '/logout', login.cookie)
    t.regex(logout.setCookie ?? '', /Max-Age=0/)
    t.is((await call(a, '/', login.cookie, 'GET')).body.id, null)
    t.is((await call(b, '/', login.cookie, 'GET')).body.id, null)
  })

  test(`${stack}: a write in one process is read by the next request in the other`, async (t) => {
    const [a, b] = await pair(t.context.server, stack)
    const login = await call(a, '/login?user=finn')
    t.is((await call(b, '/', login.cookie, 'GET')).body.data.n, 0)
    for (let value = 1; value <= 5; value++) {
      await call(value % 2 === 0 ? a : b, `/set?key=cart&value=v${value}`, login.cookie)
      t.is((await call(value % 2 === 0 ? b : a, '/', login.cookie, 'GET')).body.data.cart, `v${value}`)
    }
  })

  test(`${stack}: regenerate in one process moves the cookie; the old id is dead in every process`, async (t) => {
    const [a, b] = await pair(t.context.server, stack)
    const login = await call(a, '/login?user=gus')
    await call(b, '/', login.cookie, 'GET')
    const moved = await call(b, '/regenerate', login.cookie)
    t.truthy(moved.cookie)
    t.not(moved.cookie, login.cookie)
    t.is((await call(a, '/', login.cookie, 'GET')).body.id, null)
    t.is((await call(a, '/', moved.cookie, 'GET')).body.user, 'gus')
  })

  test(`${stack}: a second login replaces the first session everywhere`, async (t) => {
    const [a, b] = await pair(t.context.server, stack)
    const first = await call(a, '/login?user=hal')
    const second = await call(b, '/login?user=ida', first.cookie)
    t.not(second.cookie, first.cookie)
    t.is((await call(a, '/', first.cookie, 'GET')).body.id, null)
    t.is((await call(a, '/', second.cookie, 'GET')).body.user, 'ida')
  })
}
