/**
 * Issue 17, item 2 over Redis: sessionkeeper/fastify with a RedisSessionManager per app, two apps
 * on one redis-server: a login on one is seen by the other (current() included), a logout on one
 * clears the cookie and the session everywhere.
 */
import anyTest, { type TestFn } from 'ava'
import { randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import { RedisSessionManager } from '../ts/redis/index'
import { sessionPlugin } from '../ts/integrations/fastify'
import { RedisServer } from './redis-fixtures'

const test = anyTest as TestFn<{ server: RedisServer }>
test.before(async (t) => { t.context.server = await RedisServer.start() })
test.after.always(async (t) => { await t.context.server?.stop() })

test('fastify plugin over RedisSessionManager: login on one app, seen on the other, logout everywhere', async (t) => {
  const prefix = `f-${randomUUID()}:`
  const urls: string[] = []
  const closers: (() => Promise<unknown>)[] = []
  for (let i = 0; i < 2; i++) {
    const manager = new RedisSessionManager({ client: t.context.server.client(), prefix })
    const app = Fastify()
    await app.register(sessionPlugin, { manager, secret: 'x'.repeat(40) })
    app.post('/login', async (request) => {
      const session = await (request.startSession({ user: 'erin' }) as unknown as Promise<{ id: string }>)
      return { id: session.id, current: (manager.current() as { id?: string } | undefined)?.id ?? null }
    })
    app.get('/', async (request) => {
      await new Promise((r) => setTimeout(r, 2))
      return { user: request.session?.user ?? null, current: (manager.current() as { id?: string } | undefined)?.id ?? null }
    })
    app.post('/logout', async (request) => ({ closed: await (request.session?.close() as unknown as Promise<boolean>) }))
    urls.push(await app.listen({ port: 0, host: '127.0.0.1' }))
    closers.push(async () => { await app.close(); await manager.close() })
  }
  try {
    const call = async (url: string, path: string, cookie?: string, method = 'POST') => {
      const r = await fetch(url + path, { method, headers: cookie ? { cookie } : {} })
      return { body: await r.json() as any, cookie: r.headers.getSetCookie()[0]?.split(';')[0], setCookie: r.headers.getSetCookie() }
    }
    const login = await call(urls[0], '/login')
    t.truthy(login.cookie)
    t.is(login.body.current, login.body.id)
    const seen = await call(urls[1], '/', login.cookie, 'GET')
    t.is(seen.body.user, 'erin')
    t.is(seen.body.current, login.body.id)
    t.deepEqual(seen.setCookie, [])
    const logout = await call(urls[1], '/logout', login.cookie)
    t.true(logout.body.closed)
    t.regex(logout.setCookie[0], /Max-Age=0/)
    t.is((await call(urls[0], '/', login.cookie, 'GET')).body.user, null)
  } finally {
    for (const c of closers) await c()
  }
})
