import test from 'ava'
import { forEachEngine, makeManager } from './helpers'

forEachEngine(test, 'create, regenerate and close events carry the session', (t, engine) => {
  const { manager } = makeManager(engine)
  const log: string[] = []
  manager.on('create', (s) => log.push(`create ${s.user}`))
  manager.on('regenerate', (s, oldId) => log.push(`regenerate ${oldId === s.id ? 'same' : 'new'} ${s.user}`))
  manager.on('close', (s, reason) => log.push(`close ${s.user} ${reason} closed=${s.closed}`))
  const session = manager.create({ user: 'ann' })
  const oldId = session.id
  const newId = session.regenerate()!
  t.not(newId, oldId)
  t.is(session.id, newId)
  t.is(manager.get(oldId), undefined)
  t.is(manager.get(newId)?.user, 'ann')
  session.close()
  t.deepEqual(log, ['create ann', 'regenerate new ann', 'close ann destroyed closed=true'])
  manager.close()
})

forEachEngine(test, 'another handle on a regenerated session follows the new id', (t, engine) => {
  const { manager } = makeManager(engine)
  const first = manager.create()
  const second = manager.get(first.id)!
  const newId = first.regenerate()!
  t.is(second.id, newId)
  manager.close()
})

forEachEngine(test, 'close listeners can still read the session (not write it); afterwards it is inert', (t, engine) => {
  const { manager } = makeManager(engine)
  let seen: unknown
  manager.on('close', (s) => {
    seen = {
      user: s.user, roles: s.roles, data: s.get('k'), object: s.getObject('o'), keys: s.keys(),
      reason: s.closeReason, write: s.set('k', 'w'),
    }
  })
  const session = manager.create({ user: 'u', roles: ['r'], data: { k: 'v' } })
  session.putObject('o', 42)
  const id = session.id
  session.close()
  t.deepEqual(seen, { user: 'u', roles: ['r'], data: 'v', object: 42, keys: ['k'], reason: 'destroyed', write: false })
  t.is(session.id, id)
  t.true(session.closed)
  t.is(session.closeReason, 'destroyed')
  t.is(session.user, undefined)
  t.is(session.get('k'), undefined)
  t.false(session.set('k', 'v'))
  t.false(session.touch())
  t.is(session.regenerate(), undefined)
  t.true(Number.isNaN(session.expiresAt))
  t.deepEqual(session.keys(), [])
  t.false(session.putObject('x', 1))
  t.false(session.close())
  manager.close()
})

forEachEngine(test, 'every created session is closed exactly once, whatever closes it', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 100, maxSessions: 50 })
  const created = new Set<string>()
  const closed = new Map<string, number>()
  manager.on('create', (s) => created.add(s.id))
  manager.on('close', (s) => closed.set(s.id, (closed.get(s.id) ?? 0) + 1))
  for (let index = 0; index < 200; index++) {
    const s = manager.create()
    if (index % 7 === 0) s.close()
    if (index % 11 === 0) manager.destroy(s.id)
    clock.advance(index % 3)
    if (index % 50 === 0) manager.sweep()
  }
  clock.advance(50)
  manager.close()
  manager.close()
  t.is(closed.size, created.size)
  t.true([...closed.values()].every((count) => count === 1))
  t.is(manager.size, 0)
})

forEachEngine(test, 'a throwing listener does not stop the others and is reported as error', (t, engine) => {
  const { manager } = makeManager(engine)
  const errors: unknown[] = []
  const ran: string[] = []
  manager.on('error', (error) => errors.push(error))
  manager.on('create', () => { throw new Error('first create listener') })
  manager.on('create', () => ran.push('second'))
  manager.on('close', () => { throw new Error('close listener') })
  manager.on('close', () => ran.push('close'))
  const session = manager.create()
  t.notThrows(() => session.close())
  t.deepEqual(ran, ['second', 'close'])
  t.deepEqual(errors.map((error) => (error as Error).message), ['first create listener', 'close listener'])
  t.is(manager.stats().listenerErrors, 2)
  manager.close()
})

forEachEngine(test, 'without an error listener, failures become process warnings', async (t, engine) => {
  const { manager } = makeManager(engine)
  const warnings: Error[] = []
  const onWarning = (warning: Error) => warnings.push(warning)
  process.on('warning', onWarning)
  manager.on('close', () => { throw new Error('boom in close') })
  manager.create().close()
  await new Promise((resolve) => setImmediate(resolve))
  process.off('warning', onWarning)
  t.true(warnings.some((warning) => warning.message === 'boom in close'))
  t.is(manager.stats().listenerErrors, 1)
  manager.close()
})

forEachEngine(test, 'off removes a listener and once runs only once', (t, engine) => {
  const { manager } = makeManager(engine)
  let count = 0
  let onceCount = 0
  const listener = () => { count++ }
  manager.on('create', listener)
  manager.once('create', () => { onceCount++ })
  manager.create()
  manager.off('create', listener)
  manager.create()
  t.is(count, 1)
  t.is(onceCount, 1)
  manager.close()
})
