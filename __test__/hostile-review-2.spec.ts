/**
 * A hostile review of the 2026-12-02 round: writeHead hooked only on responses that may carry a
 * cookie (RequestState.hook), and create(init) read in place (#checkInit).
 */
import test from 'ava'
import { forEachEngine, makeManager } from './helpers'

forEachEngine(test, 'create refuses an unknown init key even when a getter read before it deletes it', (t, engine) => {
  const { manager } = makeManager(engine)
  const init: Record<string, unknown> = {
    get user() { delete init.colour; return 'ada' },
    colour: 'red',
  }
  t.throws(() => manager.create(init as never), { instanceOf: TypeError, message: /unknown option "colour"/ })
  // A Proxy whose key list changes between two asks.
  let asks = 0
  const lying = new Proxy({ colour: 'red' } as Record<string, unknown>, {
    ownKeys: (target) => (asks++ === 0 ? Reflect.ownKeys(target) : []),
  })
  t.throws(() => manager.create(lying as never), { instanceOf: TypeError, message: /unknown option "colour"/ })
  t.is(manager.size, 0)
  manager.close()
})
