/**
 * @fastify/session over SessionkeeperStore: a "remember me" (a 30-day cookie) saved while an
 * older request held the session stays when that request saves, also after a page view read
 * the session in between (`rolling: false`). The first way of matching took the page view's
 * load, equal but for the cookie, as the older request's, and wrote its browser-session cookie
 * over the 30 days (a hostile review's case, stop 43).
 */
import test from 'ava'
import { SessionkeeperStore, type StoredSession } from '../ts/integrations/express-session'
import { call } from './store-race-app'
import { MONTH } from './store-race-app'
import { racingFastify } from './store-race-fastify-app'

// Read from the manager, not through store.get (which would keep a load as a page view does).
const stored = (store: SessionkeeperStore, sid: string) => JSON.parse(store.manager.peek(sid)!.get('express-session') as string) as StoredSession & Record<string, unknown>

for (const engine of ['native', 'js'] as const) {
  for (const pageView of [false, true]) {
    test(`a "remember me" saved while a slow request held the session stays when it saves${pageView ? ', a page view having read the session between' : ''} [${engine}]`, async (t) => {
      const store = new SessionkeeperStore({ managerOptions: { engine } })
      // Browser-session cookie (@fastify/session's default: no maxAge).
      const racing = await racingFastify(store, { rolling: false, cookie: {} })
      try {
        const { cookie } = await call(racing.base, 'POST', '/login', '')
        const sid = [...store.manager][0].id
        const slow = await racing.hold(cookie, 'upload')
        t.is((await call(racing.base, 'POST', '/remember', cookie)).status, 200)
        t.is(stored(store, sid).cookie?.originalMaxAge, MONTH)
        if (pageView) await call(racing.base, 'GET', '/whoami', cookie)
        t.is(await slow.release(), 200)
        const after = stored(store, sid)
        t.is(after.upload, 'set by upload')
        t.is(after.cookie?.originalMaxAge, MONTH, 'the "remember me" stays')
        t.true(store.manager.peek(sid)!.idleTimeout > 7 * 24 * 3600_000, 'and its lifetime')
      } finally {
        await racing.close()
        store.close()
      }
    })
  }
}
