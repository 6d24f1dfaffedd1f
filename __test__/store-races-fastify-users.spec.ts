/**
 * @fastify/session over SessionkeeperStore under other users' traffic (4,100 sessions with
 * requests in flight, or each with a page view done): a slow request's save still finds what it
 * loaded, so it keeps another request's change and a logout (a hostile review's case against the
 * first way of matching, which kept loads for 4,096 sids, stop 43).
 */
import test from 'ava'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { call } from './store-race-app'
import { racingFastify } from './store-race-fastify-app'

const OTHERS = 4100

for (const rolling of [true, false]) {
  test(`${rolling ? 'rolling (default): other users\' requests in flight' : 'rolling: false: other users\' page views, done one after another'} push out a slow request's load; a change saved meanwhile stays, and a logout [native]`, async (t) => {
    const store = new SessionkeeperStore({ managerOptions: { engine: 'native' } })
    const racing = await racingFastify(store, { rolling })
    try {
      const others = await racing.users(OTHERS)
      const { cookie } = await call(racing.base, 'POST', '/login', '')
      const other = await call(racing.base, 'POST', '/login', '')
      const slow = await racing.hold(cookie, 'upload')
      const slowOther = await racing.hold(other.cookie, 'upload2')
      let inFlight: Promise<unknown>[] = []
      if (rolling) {
        inFlight = others.map((c) => racing.app.inject({ method: 'GET', url: '/park', headers: { cookie: c } }))
        await new Promise((resolve) => setTimeout(resolve, 500))
      } else {
        for (const c of others) await racing.app.inject({ method: 'GET', url: '/whoami', headers: { cookie: c } })
      }
      t.is((await call(racing.base, 'POST', '/set/theme', cookie)).status, 200)
      t.is((await call(racing.base, 'POST', '/set/theme', other.cookie)).status, 200)
      t.is((await call(racing.base, 'POST', '/logout', other.cookie)).status, 200)
      t.is(await slow.release(), 200)
      t.is(await slowOther.release(), 200)
      racing.unpark()
      await Promise.all(inFlight)
      const changed = (await call(racing.base, 'GET', '/whoami', cookie)).body
      const loggedOut = (await call(racing.base, 'GET', '/whoami', other.cookie)).body
      t.deepEqual({ changed, loggedOut }, { changed: { user: 'ann', cart: ['book'], theme: 'set by theme', upload: 'set by upload' }, loggedOut: {} }, 'the change saved meanwhile stays, and the logout')
    } finally {
      await racing.close()
      store.close()
    }
  })
}
