/**
 * @fastify/session over SessionkeeperStore: a save refused (a session over `maxDataBytes`; in
 * Redis mode, Redis unavailable) and made again by the app still finds what its request loaded,
 * so the second save keeps the change another request saved meanwhile (a hostile review's case
 * against the first way of matching, which used a load up on the refused save, stop 43).
 */
import test from 'ava'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { call } from './store-race-app'
import { racingFastify } from './store-race-fastify-app'

for (const engine of ['native', 'js'] as const) {
  test(`a save again after a refused save keeps another request's change [${engine}]`, async (t) => {
    const store = new SessionkeeperStore({ managerOptions: { engine, maxDataBytes: 16 * 1024 } })
    const racing = await racingFastify(store)
    try {
      const { cookie } = await call(racing.base, 'POST', '/login', '')
      await call(racing.base, 'GET', '/whoami', cookie)
      const held = await racing.holdOp(cookie, 'w', 'oversize')
      t.is((await call(racing.base, 'POST', '/set/theme', cookie)).status, 200)
      t.is(await held.release(), 200)
      t.deepEqual((await call(racing.base, 'GET', '/whoami', cookie)).body, { user: 'ann', cart: ['book'], theme: 'set by theme', w: 'saved without the draft' })
    } finally {
      await racing.close()
      store.close()
    }
  })
}
