import test from 'ava'
import { SessionLimitError } from '../ts/index'
import { forEachEngine, makeManager } from './helpers'

forEachEngine(test, 'a close listener that starts another sweep does not disturb the one running', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 1000 })
  let disposed = 0
  const closes = new Map<string, number>()
  for (let index = 0; index < 300; index++) manager.create().putObject('o', {}, () => disposed++)
  manager.create({ idleTimeout: 0 }).putObject('o', {}, () => disposed++)
  let first = true
  manager.on('close', (session) => {
    closes.set(session.id, (closes.get(session.id) ?? 0) + 1)
    if (first) {
      first = false
      manager.close()
    }
  })
  clock.advance(5000)
  manager.sweep()
  t.is(disposed, 301)
  t.is(closes.size, 301)
  t.true([...closes.values()].every((count) => count === 1))
  t.is(manager.size, 0)
})

forEachEngine(test, 'an eviction listener that creates sessions cannot make create() loop or evict without end', (t, engine) => {
  const { manager } = makeManager(engine, { maxSessions: 2 })
  const errors: unknown[] = []
  manager.on('error', (error) => errors.push(error))
  manager.create()
  manager.create()
  let evictions = 0
  manager.on('close', (_session, reason) => {
    if (reason !== 'evicted') return
    evictions++
    manager.create()
  })
  t.truthy(manager.create())
  t.is(evictions, 1)
  t.is(manager.size, 2)
  t.true(errors[0] instanceof SessionLimitError, 'the nested create is refused and reported')
  manager.close()
})

forEachEngine(test, 'a thrown value with no string form never escapes a manager call', async (t, engine) => {
  const { manager } = makeManager(engine)
  const warnings: Error[] = []
  const onWarning = (warning: Error) => warnings.push(warning)
  process.on('warning', onWarning)
  manager.on('create', () => { throw Object.create(null) })
  t.notThrows(() => manager.create())
  const session = manager.create()
  let secondDisposed = false
  session.putObject('a', {}, () => { throw { toString() { throw new Error('no') } } })
  session.putObject('b', {}, () => { secondDisposed = true })
  t.notThrows(() => session.close())
  t.true(secondDisposed)
  t.is(session.user, undefined, 'closed: reads are empty, never a throw')
  await new Promise((resolve) => setImmediate(resolve))
  process.off('warning', onWarning)
  t.is(manager.stats().listenerErrors, 3)
  // Other tests in this process warn too: count only that these arrived.
  t.true(warnings.filter((warning) => (warning as Error & { code?: string }).code === 'SESSIONKEEPER_LISTENER_ERROR').length >= 3)
  manager.close()
})

forEachEngine(test, 'once listeners run once even under a nested emit, and off/once pick the right registration', (t, engine) => {
  const { manager } = makeManager(engine)
  let nested = false
  let onceRuns = 0
  manager.on('create', () => {
    if (!nested) {
      nested = true
      manager.create()
    }
  })
  manager.once('create', () => onceRuns++)
  manager.create()
  t.is(onceRuns, 1)
  let calls = 0
  const listener = () => { calls++ }
  manager.once('create', listener)
  manager.on('create', listener)
  manager.create()
  manager.create()
  manager.create()
  t.is(calls, 4)
  manager.close()
})

forEachEngine(test, "regenerate(newKey) on a closed session changes nothing and returns undefined", (t, engine) => {
  const { manager, clock } = makeManager(engine, { keys: 'caller', idleTimeout: 10 })
  const reasons: string[] = []
  manager.on('close', (_s, reason) => reasons.push(reason))
  const closedOne = manager.create({ key: 'a', idleTimeout: 0 })
  manager.create({ key: 'held' })
  closedOne.close()
  clock.advance(10)
  t.is(closedOne.regenerate('held'), undefined)
  t.deepEqual(reasons, ['destroyed'], 'the expired holder of the key was not closed for it')
  manager.close()
})
