/** @fastify/session over SessionkeeperStore: what a request does to its session while another overlaps it (saves by hand, reload, regenerate, dates, nested objects named as the Session's own fields). */
import test from 'ava'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { call } from './store-race-app'
import { racingFastify } from './store-race-fastify-app'

for (const engine of ['native', 'js'] as const) {
  const setup = async (opts = {}) => {
    const store = new SessionkeeperStore({ managerOptions: { engine } })
    const racing = await racingFastify(store, opts)
    const { cookie } = await call(racing.base, 'POST', '/login', '')
    await call(racing.base, 'GET', '/whoami', cookie)
    return { store, racing, cookie, done: async () => { await racing.close(); store.close() } }
  }
  const expected: Record<string, Record<string, unknown>> = {
    save2: { w: 'one', w2: 'two' },
    reload: { w: 'set by w' },
    date: { w: new Date(0).toISOString() },
    nested: { w: { cookie: { maxAge: 5, expires: null }, sessionId: 'x', encryptedSessionId: 'y' } },
    ctor: { w: 'ctor', constructor: 'not a function' },
  }
  for (const rolling of [true, false]) {
    for (const op of Object.keys(expected)) {
      test(`op ${op} overlapping another request's change, then a later overlap, rolling ${rolling} [${engine}]`, async (t) => {
        const { racing, cookie, done } = await setup({ rolling })
        try {
          const held = await racing.holdOp(cookie, 'w', op)
          t.is((await call(racing.base, 'POST', '/set/theme', cookie)).status, 200)
          t.is(await held.release(), 200)
          t.deepEqual((await call(racing.base, 'GET', '/whoami', cookie)).body, { user: 'ann', cart: ['book'], theme: 'set by theme', ...expected[op] })
          // Again: a request loading the new state, overlapping another change.
          const second = await racing.hold(cookie, 'z')
          t.is((await call(racing.base, 'POST', '/set/locale', cookie)).status, 200)
          t.is(await second.release(), 200)
          t.deepEqual((await call(racing.base, 'GET', '/whoami', cookie)).body, { user: 'ann', cart: ['book'], theme: 'set by theme', ...expected[op], locale: 'set by locale', z: 'set by z' })
        } finally { await done() }
      })
    }
    test(`regenerate while another request holds the old session, rolling ${rolling} [${engine}]`, async (t) => {
      const { store, racing, cookie, done } = await setup({ rolling })
      try {
        const old = await racing.hold(cookie, 'late')
        const regen = await racing.holdOp(cookie, 'r', 'regenerate')
        t.is(await regen.release(), 200)
        t.is(await old.release(), 200)
        t.is(store.manager.size, 1)
        t.deepEqual((await call(racing.base, 'GET', '/whoami', cookie)).body, {})
      } finally { await done() }
    })
    test(`same content restored by another request, rolling ${rolling} [${engine}]`, async (t) => {
      const { racing, cookie, done } = await setup({ rolling })
      try {
        const a = await racing.hold(cookie, 'a')
        await call(racing.base, 'POST', '/set/n?value=2', cookie)
        const c = await racing.hold(cookie, 'c')
        await call(racing.base, 'POST', '/set/n?delete', cookie)
        const d = await racing.hold(cookie, 'd')
        t.is(await a.release(), 200)
        t.is(await d.release(), 200)
        t.is(await c.release(), 200)
        t.deepEqual((await call(racing.base, 'GET', '/whoami', cookie)).body, { user: 'ann', cart: ['book'], a: 'set by a', c: 'set by c', d: 'set by d' })
      } finally { await done() }
    })
  }
}
