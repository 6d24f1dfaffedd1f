/**
 * @fastify/session over SessionkeeperStore in a process that has just started (a deploy, a
 * restart, a scale-out) over sessions already stored, in Redis or a session file: the store has
 * seen no request yet. Bundled (esbuild), @fastify/session is in no module cache, and a store that
 * marked its answers only once it knew it served @fastify/session (from that cache, or its first
 * save) saved those first requests whole: a logout undone, an overlapping change lost (a hostile
 * review's cases, stop 43). The store now marks its answers unless it knows it serves
 * express-session alone. Also here: a record stored without a cookie (other code's `set`) gets
 * one to carry the marks. Nothing in this file loads @fastify/session itself, only its bundle.
 */
import anyTest, { type TestFn } from 'ava'
import { Signer } from '@fastify/cookie'
import { randomUUID } from 'node:crypto'
import { build } from 'esbuild'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { RedisServer } from './redis-fixtures'
import { call } from './store-race-app'
import { racingFastify, SECRET } from './store-race-fastify-app'

const test = anyTest as TestFn<{ server: RedisServer; plugin: unknown; dir: string }>
const load = createRequire(__filename)
const cleanups: (() => unknown)[] = []

test.before(async (t) => {
  t.context.dir = mkdtempSync(join(tmpdir(), 'sk-restart-'))
  const outfile = join(t.context.dir, 'server.cjs')
  await build({ entryPoints: [load.resolve('@fastify/session')], bundle: true, platform: 'node', format: 'cjs', outfile, logLevel: 'silent' })
  t.context.plugin = load(outfile)
  t.context.server = await RedisServer.start()
})

test.after.always(async (t) => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  await t.context.server?.stop()
  rmSync(t.context.dir, { recursive: true, force: true })
})

/** A process that served the login, and one started after it over the same Redis. */
async function deployment(t: { context: { server: RedisServer; plugin: unknown } }, rolling: boolean) {
  const prefix = `b-${randomUUID()}:`
  const open = async () => {
    const store = new SessionkeeperStore({ redis: t.context.server.client(), prefix })
    const app = await racingFastify(store, { rolling, plugin: t.context.plugin })
    cleanups.push(() => store.close(), () => app.close())
    return app
  }
  const before = await open()
  const { cookie } = await call(before.base, 'POST', '/login', '')
  return { after: await open(), cookie }
}

for (const rolling of [false, true]) {
  test.serial(`bundled, Redis mode, rolling ${rolling}: a logout in a fresh process is not undone by a request that loaded the session before it`, async (t) => {
    t.false(Object.keys(load.cache).some((path) => /[\\/]@fastify[\\/]session[\\/]/.test(path)), 'as bundled, in no module cache')
    const { after, cookie } = await deployment(t, rolling)
    // rolling: false, a page view (no save) first; rolling (default): the request is the process's first.
    if (!rolling) t.deepEqual((await call(after.base, 'GET', '/whoami', cookie)).body, { user: 'ann', cart: ['book'] })
    const slow = await after.hold(cookie, 'upload')
    t.is((await call(after.base, 'POST', '/logout', cookie)).status, 200)
    t.is(await slow.release(), 200)
    t.deepEqual((await call(after.base, 'GET', '/whoami', cookie)).body, {}, 'the old cookie finds no session after the logout')
  })
}

test.serial('bundled, Redis mode: an overlapping change in a fresh process is not lost', async (t) => {
  const { after, cookie } = await deployment(t, true)
  const slow = await after.hold(cookie, 'upload')
  const theme = await after.hold(cookie, 'theme')
  t.is(await theme.release(), 200)
  t.is(await slow.release(), 200)
  t.deepEqual((await call(after.base, 'GET', '/whoami', cookie)).body, { user: 'ann', cart: ['book'], theme: 'set by theme', upload: 'set by upload' })
})

for (const engine of ['native', 'js'] as const) {
  test.serial(`bundled, in-process with persist, restarted: a logout is not undone by a request that loaded the session before it [${engine}]`, async (t) => {
    const path = join(t.context.dir, `sessions-${engine}.skdb`)
    const open = async () => {
      const store = new SessionkeeperStore({ managerOptions: { engine, persist: { path } } })
      return { store, app: await racingFastify(store, { rolling: false, plugin: t.context.plugin }) }
    }
    const first = await open()
    const { cookie } = await call(first.app.base, 'POST', '/login', '')
    await first.app.close()
    first.store.close()
    const second = await open()
    cleanups.push(() => second.store.close(), () => second.app.close())
    t.deepEqual((await call(second.app.base, 'GET', '/whoami', cookie)).body, { user: 'ann', cart: ['book'] })
    const slow = await second.app.hold(cookie, 'upload')
    t.is((await call(second.app.base, 'POST', '/logout', cookie)).status, 200)
    t.is(await slow.release(), 200)
    t.deepEqual((await call(second.app.base, 'GET', '/whoami', cookie)).body, {}, 'the old cookie finds no session after the logout')
  })

  test.serial(`a record stored without a cookie (other code's set): a logout is not undone [${engine}]`, async (t) => {
    const store = new SessionkeeperStore({ managerOptions: { engine } })
    const app = await racingFastify(store, { rolling: false, plugin: t.context.plugin })
    cleanups.push(() => store.close(), () => app.close())
    await promisify(store.set.bind(store))('handoff-1', { user: 'ann' } as never)
    const cookie = `sessionId=${encodeURIComponent(new Signer(SECRET).sign('handoff-1'))}`
    t.deepEqual((await call(app.base, 'GET', '/whoami', cookie)).body, { user: 'ann' })
    const slow = await app.hold(cookie, 'upload')
    t.is((await call(app.base, 'POST', '/logout', cookie)).status, 200)
    t.is(await slow.release(), 200)
    t.deepEqual((await call(app.base, 'GET', '/whoami', cookie)).body, {})
  })
}
