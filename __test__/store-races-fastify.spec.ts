/**
 * @fastify/session over SessionkeeperStore, requests of one session overlapping: each saves its
 * whole session (with `rolling`, every request does), so until the store found what each save's
 * request loaded, the last request to end undid the others' changes and brought a logged-out
 * session back (issue 14: "concurrent writes to different keys of one session never overwrite
 * each other"; express-session's twin: store-races.spec.ts). Here with 5-6 overlapping requests
 * (a browser's 6 connections per host) and read-only requests of `rolling: false`, which never
 * save: a hostile review's cases against the first way of matching, which kept 4 loads per sid
 * (stop 43).
 */
import test from 'ava'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { call } from './store-race-app'
import { racingFastify } from './store-race-fastify-app'

for (const engine of ['native', 'js'] as const) {
  test(`six overlapping requests of one session (a browser's connections per host) keep each other's changes [${engine}]`, async (t) => {
    const store = new SessionkeeperStore({ managerOptions: { engine } })
    const racing = await racingFastify(store)
    try {
      const { cookie } = await call(racing.base, 'POST', '/login', '')
      await call(racing.base, 'GET', '/whoami', cookie)
      const names = ['a', 'b', 'c', 'd', 'e', 'f']
      const held = []
      for (const name of names) held.push(await racing.hold(cookie, name))
      for (const request of held) t.is(await request.release(), 200)
      t.deepEqual((await call(racing.base, 'GET', '/whoami', cookie)).body, {
        user: 'ann', cart: ['book'], a: 'set by a', b: 'set by b', c: 'set by c', d: 'set by d', e: 'set by e', f: 'set by f',
      })
    } finally {
      await racing.close()
      store.close()
    }
  })

  test(`a logout is not undone by five requests that loaded the session before it [${engine}]`, async (t) => {
    const store = new SessionkeeperStore({ managerOptions: { engine } })
    const racing = await racingFastify(store)
    try {
      const { cookie } = await call(racing.base, 'POST', '/login', '')
      await call(racing.base, 'GET', '/whoami', cookie)
      const held = []
      for (const name of ['a', 'b', 'c', 'd', 'e']) held.push(await racing.hold(cookie, name, '?read'))
      t.is((await call(racing.base, 'POST', '/logout', cookie)).status, 200)
      for (const request of held) t.is(await request.release(), 200)
      t.deepEqual((await call(racing.base, 'GET', '/whoami', cookie)).body, {}, 'the old cookie finds no session')
    } finally {
      await racing.close()
      store.close()
    }
  })

  test(`rolling: false, one slow request and four page views after another request's change: the change stays [${engine}]`, async (t) => {
    const store = new SessionkeeperStore({ managerOptions: { engine } })
    const racing = await racingFastify(store, { rolling: false })
    try {
      const { cookie } = await call(racing.base, 'POST', '/login', '')
      await call(racing.base, 'POST', '/set/warm', cookie) // a save: the store has seen @fastify/session
      const slow = await racing.hold(cookie, 'upload')
      t.is((await call(racing.base, 'POST', '/set/theme', cookie)).status, 200)
      // Four page views, one after another (none in flight with the slow one's save): they read only.
      for (let i = 0; i < 4; i++) await call(racing.base, 'GET', '/whoami', cookie)
      t.is(await slow.release(), 200)
      t.deepEqual((await call(racing.base, 'GET', '/whoami', cookie)).body, { user: 'ann', cart: ['book'], warm: 'set by warm', theme: 'set by theme', upload: 'set by upload' })
    } finally {
      await racing.close()
      store.close()
    }
  })

  test(`rolling: false, a logout is not undone by a slow request after four page views [${engine}]`, async (t) => {
    const store = new SessionkeeperStore({ managerOptions: { engine } })
    const racing = await racingFastify(store, { rolling: false })
    try {
      const { cookie } = await call(racing.base, 'POST', '/login', '')
      await call(racing.base, 'POST', '/set/warm', cookie)
      const slow = await racing.hold(cookie, 'upload')
      await call(racing.base, 'POST', '/set/theme', cookie)
      for (let i = 0; i < 4; i++) await call(racing.base, 'GET', '/whoami', cookie)
      t.is((await call(racing.base, 'POST', '/logout', cookie)).status, 200)
      t.is(await slow.release(), 200)
      t.is(store.manager.size, 0, 'the session stays destroyed')
      t.deepEqual((await call(racing.base, 'GET', '/whoami', cookie)).body, {}, 'the old cookie finds no session')
    } finally {
      await racing.close()
      store.close()
    }
  })
}
