import test from 'ava'
import { setTimeout as sleep } from 'node:timers/promises'
import { forEachEngine, makeManager } from './helpers'

forEachEngine(test, 'run binds a session to the async context; current() follows it through awaits', async (t, engine) => {
  const { manager } = makeManager(engine)
  const alice = manager.create({ user: 'alice' })
  const bob = manager.create({ user: 'bob' })
  const seen = await Promise.all([
    manager.run(alice, async () => { await sleep(5); return manager.current()?.user }),
    manager.run(bob, async () => { await sleep(1); return manager.current()?.user }),
    manager.run(undefined, async () => manager.current()),
  ])
  t.deepEqual(seen, ['alice', 'bob', undefined])
  t.is(manager.current(), undefined)
  manager.close()
})

forEachEngine(test, 'current() is undefined once its session is closed', async (t, engine) => {
  const { manager } = makeManager(engine)
  const session = manager.create()
  await manager.run(session, async () => {
    t.is(manager.current()?.id, session.id)
    session.close()
    await sleep(1)
    t.is(manager.current(), undefined)
  })
  manager.close()
})
