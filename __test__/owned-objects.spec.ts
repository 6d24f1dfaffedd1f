import test from 'ava'
import { forEachEngine, makeManager } from './helpers'

forEachEngine(test, 'owned objects are disposed after the close listeners, by callback or Symbol.dispose', async (t, engine) => {
  const { manager } = makeManager(engine)
  const log: string[] = []
  manager.on('close', (s) => log.push(`close sees ${String(s.getObject<{ name: string }>('socket')?.name)}`))
  const session = manager.create()
  session.putObject('socket', { name: 'sock', [Symbol.dispose]() { log.push('dispose socket') } })
  session.putObject('db', { name: 'db' }, (value) => log.push(`callback ${value.name}`))
  session.putObject('pool', { async [Symbol.asyncDispose]() { log.push('async dispose pool') } })
  session.close()
  await Promise.resolve()
  t.deepEqual(log, ['close sees sock', 'dispose socket', 'callback db', 'async dispose pool'])
  manager.close()
})

forEachEngine(test, 'replacing or removing an object disposes the old one; re-putting the same value does not', (t, engine) => {
  const { manager } = makeManager(engine)
  const disposed: number[] = []
  const session = manager.create()
  const one = { n: 1 }
  session.putObject('x', one, (value) => disposed.push(value.n))
  session.putObject('x', one, (value) => disposed.push(value.n))
  t.deepEqual(disposed, [])
  session.putObject('x', { n: 2 }, (value) => disposed.push(value.n))
  t.deepEqual(disposed, [1])
  t.true(session.removeObject('x'))
  t.false(session.removeObject('x'))
  t.deepEqual(disposed, [1, 2])
  t.is(session.getObject('x'), undefined)
  manager.close()
})

forEachEngine(test, 'a throwing or rejecting disposer does not stop the others', async (t, engine) => {
  const { manager } = makeManager(engine)
  const errors: string[] = []
  const disposed: string[] = []
  manager.on('error', (error) => errors.push((error as Error).message))
  const session = manager.create()
  session.putObject('a', 1, () => { throw new Error('sync failure') })
  session.putObject('b', 2, async () => { throw new Error('async failure') })
  session.putObject('c', 3, () => disposed.push('c'))
  t.notThrows(() => session.close())
  await new Promise((resolve) => setImmediate(resolve))
  t.deepEqual(disposed, ['c'])
  t.deepEqual(errors.sort(), ['async failure', 'sync failure'])
  t.is(manager.stats().listenerErrors, 2)
  manager.close()
})

forEachEngine(test, 'objects of expired sessions are disposed by the sweep', (t, engine) => {
  const { manager, clock } = makeManager(engine, { idleTimeout: 10 })
  const disposed: string[] = []
  for (let index = 0; index < 300; index++) {
    const session = manager.create()
    if (index % 100 === 0) session.putObject('o', index, (value) => disposed.push(String(value)))
  }
  clock.advance(10)
  t.is(manager.sweep(), 300)
  t.deepEqual(disposed, ['0', '100', '200'])
  manager.close()
})
