import test from 'ava'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { mergeChanges } from '../ts/integrations/record-merge'
import { call, listen, racingApp } from './store-race-app'

for (const engine of ['native', 'js'] as const) {
  test(`two overlapping requests of one session keep each other's changes [${engine}]`, async (t) => {
    const store = new SessionkeeperStore({ managerOptions: { engine } })
    const racing = racingApp(store)
    const { base, server } = await listen(racing.app)
    try {
      const { cookie } = await call(base, 'POST', '/login', '')
      const first = await racing.hold(base, cookie, 'theme')
      const second = await racing.hold(base, cookie, 'cart', '?delete')
      const third = await racing.hold(base, cookie, 'locale')
      t.is(await first.release(), 200)
      t.is(await second.release(), 200)
      t.is(await third.release(), 200)
      t.deepEqual((await call(base, 'GET', '/whoami', cookie)).body, { user: 'ann', theme: 'set by theme', locale: 'set by locale' })
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      store.close()
    }
  })

  test(`a logout is not undone by a request that loaded the session before it [${engine}]`, async (t) => {
    const store = new SessionkeeperStore({ managerOptions: { engine } })
    const racing = racingApp(store)
    const { base, server } = await listen(racing.app)
    try {
      const { cookie } = await call(base, 'POST', '/login', '')
      const slow = await racing.hold(base, cookie, 'theme')
      t.is((await call(base, 'POST', '/logout', cookie)).status, 200)
      t.is(await slow.release(), 200)
      t.is(store.manager.size, 0, 'the session stays destroyed')
      t.deepEqual((await call(base, 'GET', '/whoami', cookie)).body, {}, 'the old cookie finds no session')
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      store.close()
    }
  })
}

test('mergeChanges puts what a save changed over the stored record, and nothing else', (t) => {
  const loaded = JSON.stringify({ cookie: { expires: 1 }, user: 'ann', cart: ['book'], theme: 'dark' })
  // Another request logged the cart out and set a locale meanwhile.
  const stored = JSON.stringify({ cookie: { expires: 2 }, user: 'ann', theme: 'dark', locale: 'fr' })
  // This one changed the theme, added a flag, and kept the rest as loaded.
  const saved = JSON.stringify({ cookie: { expires: 1 }, user: 'ann', cart: ['book'], theme: 'light', flag: true })
  t.is(mergeChanges(loaded, stored, saved), JSON.stringify({ cookie: { expires: 2 }, user: 'ann', theme: 'light', locale: 'fr', flag: true }))
  // A deletion, and a change inside a nested value, which replaces that property whole.
  t.deepEqual(JSON.parse(mergeChanges(loaded, stored, JSON.stringify({ cookie: { expires: 1 }, cart: ['book', 'pen'], theme: 'dark' }))),
    { cookie: { expires: 2 }, theme: 'dark', locale: 'fr', cart: ['book', 'pen'] })
  // A property named __proto__ stays a property (JSON.parse makes one); it does not become the prototype.
  const merged = JSON.parse(mergeChanges('{}', '{}', '{"__proto__":{"admin":true}}')) as Record<string, unknown>
  t.deepEqual(Object.keys(merged), ['__proto__'])
  t.is((merged as { admin?: boolean }).admin, undefined)
})
