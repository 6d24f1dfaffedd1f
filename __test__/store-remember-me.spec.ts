/**
 * A "remember me" (a cookie maxAge another request set) keeps its lifetime when an overlapping
 * request saves or touches after it: the deadline comes from the cookie of the record written,
 * not from the overlapping request's older one (a hostile review's findings).
 */
import test from 'ava'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { aboutAMonth, call, listen, MONTH, racingApp, sidOf } from './store-race-app'

for (const engine of ['native', 'js'] as const) {
  for (const [label, cookie, query] of [
    ['a browser-session cookie, the overlapping request saving a change', {}, ''],
    ['a cookie of one hour, the overlapping request changing nothing (a touch)', { maxAge: 3600_000 }, '?read'],
  ] as const) {
    test(`a "remember me" keeps its 30 days when an overlapping request ends after it: ${label} [${engine}]`, async (t) => {
      // The store's ttl (a minute) is the lifetime of a browser-session cookie.
      const store = new SessionkeeperStore({ ttl: 60_000, managerOptions: { engine } })
      const racing = racingApp(store, cookie)
      const { base, server } = await listen(racing.app)
      try {
        const login = await call(base, 'POST', '/login', '')
        const sid = sidOf(login.cookie)
        const slow = await racing.hold(base, login.cookie, 'theme', query)
        t.is((await call(base, 'POST', '/remember', login.cookie)).status, 200)
        t.true(store.manager.peek(sid)!.expiresAt > Date.now() + MONTH - 60_000)
        t.is(await slow.release(), 200)
        const stored = JSON.parse(store.manager.peek(sid)!.get('express-session') as string) as Record<string, any>
        t.is(stored.remember, true)
        t.true(aboutAMonth(stored.cookie.originalMaxAge), `the stored record keeps the remember-me cookie, not ${String(stored.cookie.originalMaxAge)}`)
        if (query === '') t.is(stored.theme, 'set by theme')
        const left = store.manager.peek(sid)!.expiresAt - Date.now()
        t.true(left > MONTH - 60_000, `deadline in ${Math.round(left / 1000)} s, the stored cookie's in 30 days`)
      } finally {
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
        store.close()
      }
    })
  }
}
