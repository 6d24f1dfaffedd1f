/**
 * Issue 10, item 2: `req.startSession(init)` is a login. On a request that has a session it
 * closes that session and starts a fresh one from `init` alone (`init.keep` carries named data
 * keys); `req.session` and `manager.current()` follow, after awaits too.
 */
import test from 'ava'
import { sessionFor } from '../ts/integrations/http'
import type { Session } from '../ts/session'
import { ENGINES, makeManager } from './helpers'
import { SECRET, STACKS, startServer } from './http-fixtures'

for (const stack of STACKS) {
  for (const engine of ENGINES) {
    const name = `[${stack}, ${engine}]`

    test(`a second login starts a fresh session: no roles, data or id of the first user ${name}`, async (t) => {
      const server = await startServer(t, stack, engine, { secret: SECRET })
      const closed: string[] = []
      server.manager.on('close', (session, reason) => closed.push(`${session.user}:${reason}`))
      const alice = await server.call('/login?user=alice', { method: 'POST' })
      t.deepEqual(alice.body.roles, ['admin'])
      await server.call('/count', { method: 'POST', cookie: alice.cookie })
      await server.call('/cart?item=book', { method: 'POST', cookie: alice.cookie })
      const bob = await server.call('/login?user=bob', { method: 'POST', cookie: alice.cookie })
      t.is(bob.body.user, 'bob')
      t.deepEqual(bob.body.roles, [], "not alice's admin role")
      t.deepEqual(bob.body.data, { visits: '0' }, "none of alice's data")
      t.not(bob.body.id, alice.body.id)
      t.deepEqual(closed, ['alice:destroyed'])
      t.is(server.manager.size, 1)
      t.deepEqual((await server.call('/', { cookie: alice.cookie })).body.id, null, "alice's id is dead")
      t.deepEqual((await server.call('/', { cookie: bob.cookie })).body.roles, [])
    })

    test(`init.keep carries the named data keys over a login, and nothing else ${name}`, async (t) => {
      const server = await startServer(t, stack, engine, { secret: SECRET })
      const cart = await server.call('/cart?item=book', { method: 'POST' })
      t.is(cart.body.user, null)
      const login = await server.call('/login?user=bob&keep=cart&keep=missing', { method: 'POST', cookie: cart.cookie })
      t.deepEqual(login.body.data, { visits: '0', cart: 'book' })
      t.not(login.body.id, cart.body.id)
      t.is(server.manager.size, 1)
    })

    test(`after startSession in an awaited helper, req.session and manager.current() are the new session ${name}`, async (t) => {
      const server = await startServer(t, stack, engine, { secret: SECRET })
      const anonymous = await server.call('/login?user=ann', { method: 'POST' })
      t.regex(anonymous.body.id, /^[A-Za-z0-9_-]{22}$/)
      t.is(anonymous.body.current, anonymous.body.id, 'on an anonymous request')
      t.true(anonymous.body.same)
      const again = await server.call('/login?user=bob', { method: 'POST', cookie: anonymous.cookie })
      t.is(again.body.current, again.body.id, 'on a request that had a session')
      t.not(again.body.id, anonymous.body.id)
      t.true(again.body.same)
      t.true(again.cookie?.startsWith(`sid=${again.body.id}.`))
    })

    test(`session.regenerate() keeps the same session under a new id ${name}`, async (t) => {
      const server = await startServer(t, stack, engine, { secret: SECRET })
      const login = await server.call('/login?user=alice', { method: 'POST' })
      await server.call('/count', { method: 'POST', cookie: login.cookie })
      const moved = await server.call('/regenerate', { method: 'POST', cookie: login.cookie })
      t.is(moved.body.user, 'alice')
      t.deepEqual(moved.body.data, { visits: '1' })
      t.is(moved.body.current, moved.body.newId)
      t.is(server.manager.stats().closed.destroyed, 0)
    })
  }
}

test('a bad init leaves the session the request had as it was', async (t) => {
  const server = await startServer(t, 'http', 'js', { secret: SECRET })
  const login = await server.call('/login?user=alice', { method: 'POST' })
  const sessions = sessionFor(server.manager, { secret: SECRET })
  const request = { headers: { cookie: login.cookie }, socket: {} } as never
  const attached = sessions.attach(request, { writeHead() {} } as never)
  const bad: Array<[unknown, new (...args: any[]) => Error, RegExp]> = [
    [{ user: 1 }, TypeError, /init\.user/],
    [{ roles: 'admin' }, TypeError, /init\.roles/],
    [{ data: { a: new Date(0) } }, TypeError, /init\.data\["a"\]/],
    [{ keep: 'cart' }, TypeError, /init\.keep must be an array/],
    [{ keep: [1] }, TypeError, /init\.keep\[0\]/],
    [{ idleTimeout: -1 }, RangeError, /init\.idleTimeout/],
    [{ key: 'k' }, TypeError, /init\.key is only accepted with keys: 'caller'/],
    [{ usr: 'x' }, TypeError, /init has an unknown option "usr"/],
  ]
  for (const [init, type, message] of bad) {
    t.throws(() => attached.startSession(init as never), { instanceOf: type, message }, JSON.stringify(init))
  }
  t.is(attached.session?.user, 'alice')
  t.false(attached.session?.closed)
  t.is(server.manager.size, 1)
})

test('manager.run takes a function: current() asks it on every call, after awaits too', async (t) => {
  for (const engine of ENGINES) {
    const { manager } = makeManager(engine)
    t.teardown(() => manager.close())
    let bound: Session | undefined
    const seen = await manager.run(() => bound, async () => {
      const before = manager.current()
      const started = (async () => {
        await new Promise((resolve) => setImmediate(resolve))
        bound = manager.create({ user: 'ann' })
      })()
      await started
      await new Promise((resolve) => setTimeout(resolve, 1))
      const after = manager.current()?.user
      bound?.close()
      return { before, after, closed: manager.current() }
    })
    t.is(seen.before, undefined)
    t.is(seen.after, 'ann')
    t.is(seen.closed, undefined, 'a closed session is not current')
    t.is(manager.current(), undefined, 'outside run')
    t.throws(() => manager.run(42 as never, () => 0), {
      instanceOf: TypeError,
      message: 'run(session, fn): session must be a Session, a function returning one, or undefined',
    })
  }
})

for (const stack of STACKS) {
  for (const engine of ENGINES) {
    for (const whenFull of ['reject', 'evict'] as const) {
      test(`a login at maxSessions takes the room of the session it replaces (whenFull: '${whenFull}') [${stack}, ${engine}]`, async (t) => {
        const server = await startServer(t, stack, engine, { secret: SECRET }, { maxSessions: 2, whenFull })
        const closed: string[] = []
        server.manager.on('close', (session, reason) => closed.push(`${session.user}:${reason}`))
        const other = server.manager.create({ user: 'carol' })
        const alice = await server.call('/login?user=alice', { method: 'POST' })
        t.is(server.manager.size, 2)
        const bob = await server.call('/login?user=bob', { method: 'POST', cookie: alice.cookie })
        t.is(bob.status, 200, 'a login is never refused for the room its own old session holds')
        t.is(bob.body.user, 'bob')
        t.deepEqual(closed, ['alice:destroyed'], 'no other user is evicted for it')
        t.false(other.closed)
        t.is(server.manager.stats().rejected, 0)
      })
    }
  }
}

for (const engine of ENGINES) {
  test(`a caller-key login that reuses its key and is refused leaves the old session as it was [${engine}]`, async (t) => {
    const server = await startServer(t, 'http', engine, { secret: SECRET }, { keys: 'caller', maxDataBytes: 64 })
    const alice = await server.call('/login?user=alice&key=device-1', { method: 'POST' })
    t.is(alice.body.user, 'alice')
    const refused = await server.call(`/login?user=bob&key=device-1&big=${'x'.repeat(100)}`, { method: 'POST', cookie: alice.cookie })
    t.is(refused.body.error, 'RangeError', 'the init is over maxDataBytes')
    t.is(refused.cookie, undefined)
    t.is(server.manager.get('device-1')?.user, 'alice', 'the refused login closed nothing')
    t.is((await server.call('/', { cookie: alice.cookie })).body.user, 'alice')
  })
}
