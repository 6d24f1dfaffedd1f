import anyTest, { type TestFn } from 'ava'
import { once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import express from 'express'
import { sessionMiddleware, type RedisSessionRequest } from '../ts/integrations/express'
import { RedisSessionManager } from '../ts/redis/index'
import { RedisServer } from './redis-fixtures'

const test = anyTest as TestFn<{ server: RedisServer }>
const cleanups: (() => Promise<unknown>)[] = []
const FIRST = 'the first signing secret, 32+ characters long'
const SECOND = 'the second signing secret, 32+ characters long'

test.before(async (t) => {
  t.context.server = await RedisServer.start()
})

test.after.always(async (t) => {
  await Promise.allSettled(cleanups.map((cleanup) => cleanup()))
  await t.context.server?.stop()
})

/** An express app over its own manager of `prefix`: POST /login starts a session, GET / names the user. */
async function app(redis: RedisServer, prefix: string, secret: string | string[]): Promise<{ url: string; manager: RedisSessionManager }> {
  const manager = new RedisSessionManager({ client: redis.client(), prefix })
  const application = express()
  application.use(sessionMiddleware(manager, { secret, cookie: { maxAge: 60_000 } }) as express.RequestHandler)
  application.post('/login', (req, res, next) => {
    (req as unknown as RedisSessionRequest).startSession({ user: 'ada' }).then(() => res.send('in'), next)
  })
  application.get('/', (req, res) => {
    res.send((req as unknown as RedisSessionRequest).session?.user ?? 'anonymous')
  })
  const server: Server = application.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await manager.close()
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, manager }
}

async function call(url: string, method: string, cookie?: string): Promise<{ body: string; cookie: string | undefined }> {
  const response = await fetch(url, { method, headers: cookie === undefined ? {} : { cookie } })
  return { body: await response.text(), cookie: response.headers.getSetCookie()[0]?.split(';')[0] }
}

/** The same cookie with one signature character changed, still a canonical spelling. */
function tampered(cookie: string): string {
  const at = cookie.length - 5
  return cookie.slice(0, at) + (cookie[at] === 'A' ? 'B' : 'A') + cookie.slice(at + 1)
}

test('a rolling cookie signed under the first secret is sent back as received; one under an older secret is signed again', async (t) => {
  const prefix = `cr-${randomUUID()}:`
  const old = await app(t.context.server, prefix, SECOND)
  const current = await app(t.context.server, prefix, [FIRST, SECOND])
  const outdated = (await call(`${old.url}/login`, 'POST')).cookie as string
  const resigned = await call(current.url, 'GET', outdated)
  t.is(resigned.body, 'ada')
  t.truthy(resigned.cookie)
  t.not(resigned.cookie, outdated)
  t.is(resigned.cookie?.split('.')[0], outdated.split('.')[0])
  for (let round = 0; round < 3; round++) {
    const again = await call(current.url, 'GET', resigned.cookie)
    t.is(again.body, 'ada')
    t.is(again.cookie, resigned.cookie)
  }
})

test('a signature that differs from the one a remembered id verified with is rejected, every time', async (t) => {
  const { url, manager } = await app(t.context.server, `cr-${randomUUID()}:`, FIRST)
  const cookie = (await call(`${url}/login`, 'POST')).cookie as string
  t.is((await call(url, 'GET', cookie)).body, 'ada')
  t.is((await call(url, 'GET', cookie)).body, 'ada')
  const forged = tampered(cookie)
  t.not(forged, cookie)
  const before = manager.stats().rejectedCookies
  for (let round = 0; round < 3; round++) {
    const answer = await call(url, 'GET', forged)
    t.is(answer.body, 'anonymous')
    t.is(answer.cookie, undefined)
  }
  t.is(manager.stats().rejectedCookies, before + 3)
  t.is((await call(url, 'GET', cookie)).body, 'ada')
})

test('a value with the remembered id and a signature of another length is rejected', async (t) => {
  const { url } = await app(t.context.server, `cr-${randomUUID()}:`, FIRST)
  const cookie = (await call(`${url}/login`, 'POST')).cookie as string
  t.is((await call(url, 'GET', cookie)).body, 'ada')
  t.is((await call(url, 'GET', cookie.slice(0, -1))).body, 'anonymous')
  t.is((await call(url, 'GET', `${cookie}A`)).body, 'anonymous')
  t.is((await call(url, 'GET', `${cookie.split('.')[0]}.`)).body, 'anonymous')
})
