/**
 * @fastify/session over SessionkeeperStore, requests of one session overlapping: each saves its
 * whole session (with `rolling`, every request does), so until the store matched a save to what
 * its request loaded, the last request to end undid the others' changes and brought a logged-out
 * session back (issue 14: "concurrent writes to different keys of one session never overwrite
 * each other"; express-session's twin: store-races.spec.ts).
 */
import test from 'ava'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { call } from './store-race-app'
import { racingFastify } from './store-race-fastify-app'

for (const engine of ['native', 'js'] as const) {
  test(`two overlapping requests of one session keep each other's changes [${engine}]`, async (t) => {
    const store = new SessionkeeperStore({ managerOptions: { engine } })
    const racing = await racingFastify(store)
    try {
      const { cookie } = await call(racing.base, 'POST', '/login', '')
      // A request that saved once before the races: the store has seen @fastify/session.
      t.deepEqual((await call(racing.base, 'GET', '/whoami', cookie)).body, { user: 'ann', cart: ['book'] })
      const first = await racing.hold(cookie, 'theme')
      const second = await racing.hold(cookie, 'cart', '?delete')
      const third = await racing.hold(cookie, 'locale')
      const reader = await racing.hold(cookie, 'nothing', '?read')
      t.is(await first.release(), 200)
      t.is(await second.release(), 200)
      t.is(await third.release(), 200)
      // It changed nothing, and saves (rolling) last: it must not undo the three.
      t.is(await reader.release(), 200)
      t.deepEqual((await call(racing.base, 'GET', '/whoami', cookie)).body, { user: 'ann', theme: 'set by theme', locale: 'set by locale' })
    } finally {
      await racing.close()
      store.close()
    }
  })

  test(`a logout is not undone by a request that loaded the session before it [${engine}]`, async (t) => {
    const store = new SessionkeeperStore({ managerOptions: { engine } })
    const racing = await racingFastify(store)
    try {
      const { cookie } = await call(racing.base, 'POST', '/login', '')
      await call(racing.base, 'GET', '/whoami', cookie)
      const slow = await racing.hold(cookie, 'theme')
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
