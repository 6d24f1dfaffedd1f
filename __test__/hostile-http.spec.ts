/**
 * A hostile review of the HTTP integrations after issue 10: the session cookie on responses that
 * end early or pass their own headers, logins and regenerates that can no longer reach the
 * browser, Cookie headers built to cost time, kept data with awkward keys, signing secrets, and
 * SessionkeeperStore deadlines. Over real HTTP on 127.0.0.1 (raw sockets where byte order
 * matters), on both stacks and both engines.
 */
import test from 'ava'
import express from 'express'
import { createHmac } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { SessionManager } from '../ts/index'
import { findCookies, SessionCookie } from '../ts/integrations/cookies'
import { sessionMiddleware, type SessionMiddlewareOptions } from '../ts/integrations/express'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { sessionFor, type SessionRequest } from '../ts/integrations/http'
import { ENGINES, type EngineName } from './helpers'
import { listen, rawRequest, SECRET, splitRequest, STACKS, type Stack, valueOf } from './http-fixtures'

type Handler = (req: SessionRequest, res: ServerResponse, manager: SessionManager) => void | Promise<void>

/** `handler` behind the session layer of `stack`, on a manager of `engine`, on 127.0.0.1. */
async function serve(
  t: import('ava').ExecutionContext, stack: Stack, engine: EngineName, handler: Handler,
  options: SessionMiddlewareOptions = { secret: SECRET },
): Promise<{ manager: SessionManager; base: string; port: number }> {
  const manager = new SessionManager({ engine })
  t.teardown(() => manager.close())
  let server: Server
  if (stack === 'express') {
    const app = express()
    app.use(sessionMiddleware(manager, options))
    app.use((req: IncomingMessage, res: ServerResponse) => handler(req as SessionRequest, res, manager))
    server = createServer(app)
  } else {
    const sessions = sessionFor(manager, options)
    server = createServer((req, res) => {
      const request = sessions.attach(req, res)
      void manager.run(() => request.session, () => handler(request, res, manager))
    })
  }
  const base = await listen(t, server)
  return { manager, base, port: Number(new URL(base).port) }
}

const cookieOf = (response: Response): string | undefined => response.headers.getSetCookie()[0]?.split(';')[0]
const idOf = (cookie: string): string => valueOf(cookie).slice(0, valueOf(cookie).lastIndexOf('.'))

for (const stack of STACKS) {
  for (const engine of ENGINES) {
    const name = `[${stack}, ${engine}]`

    // Node's writeHead takes a flat [name, value, ...] array too; a Set-Cookie in it made Node
    // remove the response's own Set-Cookie (the session cookie), so a login's cookie was lost and
    // the browser kept the id the login had just closed: logged out. Fails without the fix:
    // the response carries only `other=1`.
    test(`writeHead with a flat header array naming Set-Cookie keeps the session cookie ${name}`, async (t) => {
      const server = await serve(t, stack, engine, (req, res) => {
        if (req.url === '/login') req.startSession({ user: 'alice' })
        if (req.url === '/logout') req.session?.close()
        res.writeHead(200, ['Set-Cookie', 'other=1', 'Content-Type', 'text/plain', 'set-cookie', ['more=2']])
        res.end(req.session?.closed === false ? req.session.user : 'anonymous')
      })
      const login = await fetch(`${server.base}/login`, { method: 'POST' })
      const cookies = login.headers.getSetCookie()
      t.is(cookies.length, 3)
      t.deepEqual(cookies.slice(0, 2), ['other=1', 'more=2'], "the handler's own cookies are kept")
      const session = cookies.find((cookie) => cookie.startsWith('sid='))?.split(';')[0] as string
      t.truthy(session, 'the session cookie is sent too')
      t.is(await (await fetch(server.base, { headers: { cookie: session } })).text(), 'alice')
      const logout = await fetch(`${server.base}/logout`, { method: 'POST', headers: { cookie: session } })
      t.true(logout.headers.getSetCookie().some((cookie) => /^sid=; Max-Age=0/.test(cookie)), 'the clearing cookie too')
      // An array without Set-Cookie leaves the response's own header alone.
      const plain = await serve(t, stack, engine, (req, res) => {
        req.startSession({ user: 'bob' })
        res.setHeader('Set-Cookie', 'early=1')
        res.writeHead(201, ['Content-Type', 'text/plain'])
        res.end()
      })
      const reply = await fetch(plain.base, { method: 'POST' })
      t.is(reply.status, 201)
      t.deepEqual(reply.headers.getSetCookie().map((cookie) => cookie.split('=')[0]), ['early', 'sid'])
    })

    // A login or regenerate once the headers are out cannot give the browser the new id: it
    // closed (or moved) the session the browser holds and sent nothing, a silent logout. Now it
    // throws before anything changes. Fails without the fix: no error, and the old id is dead.
    test(`a login or regenerate after the headers went out throws and changes nothing ${name}`, async (t) => {
      const server = await serve(t, stack, engine, async (req, res, manager) => {
        if (req.url === '/login') {
          req.startSession({ user: 'alice' })
          res.end()
          return
        }
        res.write('streaming;')
        const outcome: Record<string, unknown> = { before: req.session?.id ?? null }
        for (const [label, act] of [
          ['startSession', () => req.startSession({ user: 'mallory' })],
          ['regenerate', () => req.session?.regenerate()],
          ['current().regenerate', () => manager.current()?.regenerate()],
        ] as const) {
          try {
            act()
            outcome[label] = 'no error'
          } catch (error) {
            outcome[label] = (error as { code?: string }).code
          }
        }
        outcome.after = req.session?.id ?? null
        outcome.user = manager.current()?.user ?? null
        res.end(JSON.stringify(outcome))
      })
      const cookie = cookieOf(await fetch(`${server.base}/login`, { method: 'POST' })) as string
      const reply = await fetch(`${server.base}/late`, { method: 'POST', headers: { cookie } })
      t.deepEqual(reply.headers.getSetCookie(), [])
      const outcome = JSON.parse((await reply.text()).slice('streaming;'.length))
      t.is(outcome.startSession, 'ERR_HTTP_HEADERS_SENT')
      t.is(outcome.regenerate, 'ERR_HTTP_HEADERS_SENT')
      t.is(outcome['current().regenerate'], 'ERR_HTTP_HEADERS_SENT')
      t.is(outcome.after, outcome.before)
      t.is(outcome.before, idOf(cookie))
      t.is(outcome.user, 'alice')
      t.is(server.manager.size, 1, 'no orphan session was made')
      t.is(server.manager.peek(idOf(cookie))?.user, 'alice', "the browser's cookie still names alice's session")
    })

    test(`startSession twice in one request: only the last session lives, and only its cookie is sent ${name}`, async (t) => {
      const server = await serve(t, stack, engine, (req, res, manager) => {
        const first = req.startSession({ user: 'first', data: { cart: 'book' } })
        const second = req.startSession({ user: 'second', keep: ['cart'] })
        res.end(JSON.stringify({ first: first.closed, second: second.id, current: manager.current()?.id, cart: second.get('cart') }))
      })
      const reply = await fetch(server.base, { method: 'POST' })
      const body = await reply.json() as Record<string, any>
      t.deepEqual(reply.headers.getSetCookie().length, 1)
      t.is(idOf(cookieOf(reply) as string), body.second)
      t.is(body.current, body.second)
      t.true(body.first)
      t.is(body.cart, 'book')
      t.is(server.manager.size, 1)
    })

    test(`startSession then close in one request: the browser's cookie is cleared, or nothing is sent when it had none ${name}`, async (t) => {
      const server = await serve(t, stack, engine, (req, res, manager) => {
        if (req.url === '/login') req.startSession({ user: 'alice' })
        else {
          req.startSession({ user: 'bob' }).close()
          setTimeout(() => res.end(JSON.stringify({ current: manager.current()?.id ?? null, closed: req.session?.closed })), 1)
          return
        }
        res.end()
      })
      const cookie = cookieOf(await fetch(`${server.base}/login`, { method: 'POST' })) as string
      const withCookie = await fetch(`${server.base}/again`, { method: 'POST', headers: { cookie } })
      t.regex(withCookie.headers.getSetCookie()[0] ?? '', /^sid=; Max-Age=0/, 'its request closed the session its cookie named')
      t.deepEqual(await withCookie.json(), { current: null, closed: true })
      const anonymous = await fetch(`${server.base}/again`, { method: 'POST' })
      t.deepEqual(anonymous.headers.getSetCookie(), [])
      t.is(server.manager.size, 0)
    })

    // Raw socket: B sends its headers with cookie X; A regenerates X → Y and gets Y; then B's body
    // arrives and B logs out. B clears the cookie (it closed the session it read), A's Y is dead,
    // and B never learns Y. The other order: A closes, B regenerates nothing and sends nothing.
    test(`regenerate in one request and close in another, in either order ${name}`, async (t) => {
      const arrived: Array<() => void> = []
      const server = await serve(t, stack, engine, async (req, res) => {
        if (req.url === '/login') {
          req.startSession({ user: 'alice' })
          res.end()
          return
        }
        arrived.shift()?.()
        for await (const _ of req) { /* wait for the body */ }
        const action = req.url === '/logout' ? { closed: req.session?.close() ?? false } : { newId: req.session?.regenerate() ?? null }
        res.end(JSON.stringify({ ...action, id: req.session?.id ?? null }))
      })
      const login = async () => cookieOf(await fetch(`${server.base}/login`, { method: 'POST' })) as string
      const x = await login()
      let waiting = new Promise<void>((resolve) => arrived.push(resolve))
      let other: Response | undefined
      const logout = await splitRequest(server.port, `POST /logout HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${x}`, 'body', async () => {
        await waiting
        other = await fetch(`${server.base}/regenerate`, { method: 'POST', headers: { cookie: x } })
      })
      const y = cookieOf(other as Response) as string
      t.not(idOf(y), idOf(x))
      t.regex(logout.setCookies[0] ?? '', /^sid=; Max-Age=0/)
      t.is(logout.setCookies.length, 1)
      t.is(server.manager.size, 0, 'the logout closed the regenerated session')

      const x2 = await login()
      waiting = new Promise<void>((resolve) => arrived.push(resolve))
      const regenerate = await splitRequest(server.port, `POST /regenerate HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${x2}`, 'body', async () => {
        await waiting
        const out = await fetch(`${server.base}/logout`, { method: 'POST', headers: { cookie: x2 } })
        t.regex(out.headers.getSetCookie()[0] ?? '', /^sid=; Max-Age=0/)
      })
      t.deepEqual(regenerate.setCookies, [], 'the closed session is not regenerated, nothing is set or cleared')
      t.is(JSON.parse(regenerate.body).newId, null)
    })

    test(`the cookie goes out on HEAD, 304, streamed and failed responses, once, and writeHead twice adds nothing ${name}`, async (t) => {
      const server = await serve(t, stack, engine, (req, res) => {
        req.startSession({ user: req.url?.slice(1) ?? '' })
        switch (req.url) {
          case '/notmodified':
            res.statusCode = 304
            res.end()
            break
          case '/stream':
            res.write('a')
            setTimeout(() => res.end('b'), 1)
            break
          case '/twice':
            res.writeHead(200)
            try {
              res.writeHead(201)
            } catch {
              // Node refuses a second writeHead; the session layer adds nothing either way.
            }
            res.end()
            break
          case '/fail':
            if (stack === 'express') throw new Error('after the login')
            res.statusCode = 500
            res.end()
            break
          default:
            res.end()
        }
      })
      for (const [path, method, status] of [['/head', 'HEAD', 200], ['/notmodified', 'GET', 304], ['/stream', 'GET', 200], ['/twice', 'GET', 200], ['/fail', 'GET', 500]] as const) {
        const reply = await fetch(`${server.base}${path}`, { method })
        await reply.arrayBuffer()
        t.is(reply.status, status, path)
        t.is(reply.headers.getSetCookie().length, 1, path)
        const session = server.manager.peek(idOf(cookieOf(reply) as string))
        t.is(session?.user, path.slice(1), `${path}: the cookie names the live session the request started`)
      }
    })

    test(`hostile Cookie headers on a raw socket: only the exact name's own value counts ${name}`, async (t) => {
      const server = await serve(t, stack, engine, (req, res) => {
        if (req.url === '/login') req.startSession({ user: 'alice' })
        res.end(req.session?.user ?? 'anonymous')
      })
      const cookie = cookieOf(await fetch(`${server.base}/login`, { method: 'POST' })) as string
      const value = valueOf(cookie)
      const cases: Array<[string, string]> = [
        [`sidx=${value}`, 'anonymous'],
        [`xsid=${value}`, 'anonymous'],
        [`SID=${value}`, 'anonymous'],
        [`sid="${value}"`, 'anonymous'],
        [`sid=${value.replace('.', '%2E')}`, 'anonymous'],
        [`sid=${value}\xe9`, 'anonymous'],
        [`sid\xff=${value}`, 'anonymous'],
        [`sid=${idOf(cookie)}`, 'anonymous'],
        [`sid=; sidx=1; ${cookie}`, 'alice'],
        [`sid=junk; ${cookie}; sid=${value}`, 'alice'],
        [` \tsid \t= \t${value} \t`, 'alice'],
        [`${'a;'.repeat(7000)}${cookie}`, 'alice'],
      ]
      for (const [header, expected] of cases) {
        const reply = await rawRequest(server.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${header}`)
        t.is(reply.status, 200, JSON.stringify(header.slice(0, 40)))
        t.is(reply.body, expected, JSON.stringify(header.slice(0, 40)))
        t.deepEqual(reply.setCookies, [], 'a rejected cookie is never cleared')
      }
      const big = await rawRequest(server.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: big=${'a'.repeat(17 * 1024)}; ${cookie}`)
      t.is(big.status, 431, "Node's own header limit answers, before the session layer")
    })

    // Kept and given data are built on an ordinary object: a '__proto__' key, which the manager
    // stores like any other, was silently dropped on login. Fails without the fix: data is {}.
    test(`startSession keeps and takes a '__proto__' data key like any other ${name}`, async (t) => {
      const server = await serve(t, stack, engine, (req, res) => {
        if (req.url === '/anonymous') req.startSession({ data: JSON.parse('{"__proto__":"kept"}') })
        else req.startSession({ user: 'bob', keep: ['__proto__', 'missing', 'constructor'], data: JSON.parse('{"__proto__":"given"}') })
        const session = req.session as NonNullable<SessionRequest['session']>
        res.end(JSON.stringify(session.keys().map((key) => [key, session.get(key)])))
      })
      const first = await fetch(`${server.base}/anonymous`, { method: 'POST' })
      t.deepEqual(await first.json(), [['__proto__', 'kept']])
      const login = await fetch(`${server.base}/login`, { method: 'POST', headers: { cookie: cookieOf(first) as string } })
      t.deepEqual(await login.json(), [['__proto__', 'given']], 'init.data wins over a kept key, and missing keys are skipped')
      t.deepEqual(Object.getPrototypeOf({}), Object.prototype)
      t.false('kept' in ({} as Record<string, unknown>))
    })
  }
}

// A Cookie header of pairs without '=' made findCookies search the rest of the header for '='
// once per pair: quadratic, 140 ms for a 256 KiB header (a server with a raised maxHeaderSize).
// Counted, not timed: the characters String#indexOf scans stay within a few times the length.
// Fails without the fix: about 16 million characters scanned for a 16 KiB header.
test('findCookies scans a Cookie header in linear time, whatever its shape', (t) => {
  const { indexOf } = String.prototype
  let scanned = 0
  String.prototype.indexOf = function (this: string, search: string, from = 0) {
    const found = indexOf.call(this, search, from)
    scanned += (found < 0 ? this.length : found) - from
    return found
  } as typeof String.prototype.indexOf
  const results: Array<[string, number, number]> = []
  try {
    for (const header of ['a;'.repeat(8192), `${'a;'.repeat(8191)}sid=x`, 'a=b;'.repeat(4096), ';'.repeat(16384), '='.repeat(16384), `${'x=1; '.repeat(3000)}sid=y`]) {
      scanned = 0
      const found = findCookies(header, 'sid')
      results.push([header.slice(-6), scanned, header.length])
      t.true(found.length <= 1)
    }
  } finally {
    String.prototype.indexOf = indexOf
  }
  for (const [tail, chars, length] of results) t.true(chars <= 3 * length, `${tail}: ${chars} characters scanned for ${length}`)
  t.deepEqual(findCookies(`${'a;'.repeat(10)}sid=x; b; sid = y`, 'sid'), ['x', 'y'])
  t.deepEqual(findCookies('a; b=1; sid', 'sid'), [])
})

// HMAC keys are UTF-8: lone surrogates all become U+FFFD, so two different secrets of lone
// surrogates are the same key (32 of them: no entropy at all). Fails without the fix: accepted.
test('a signing secret that is not well-formed text is refused', (t) => {
  const lone = '\uD800'.repeat(32)
  t.throws(() => new SessionCookie({ secret: lone }), { instanceOf: RangeError, message: /options\.secret must be well-formed/ })
  t.throws(() => new SessionCookie({ secret: [SECRET, `${SECRET}\uDC00`] }), { instanceOf: RangeError, message: /options\.secret\[1\]/ })
  t.notThrows(() => new SessionCookie({ secret: 'é'.repeat(16) + '秘密'.repeat(8) }), 'non-ASCII text is fine')
})

const call = <T>(work: (callback: (error: any, value?: T) => void) => void) =>
  new Promise<[any, T | undefined]>((resolve) => work((error, value) => resolve([error, value])))

// A cookie lifetime beyond a safe deadline (maxAge 1e300) made set fail and touch half-write:
// the record took the new cookie, then the deadline was refused, and the callback got an error.
// Now such a lifetime is held to 2^52 ms. Fails without the fix: errors from set and touch.
for (const engine of ENGINES) {
  test(`SessionkeeperStore: past, invalid, zero and endless cookie lifetimes give a deadline, never an error [${engine}]`, async (t) => {
    const store = new SessionkeeperStore({ managerOptions: { engine } })
    t.teardown(() => store.close())
    const cases: Array<[string, object, (ttl: number) => boolean]> = [
      ['huge', { cookie: { maxAge: 1e300 } }, (ttl) => ttl === 2 ** 52],
      ['far', { cookie: { expires: new Date(8.64e15).toISOString() } }, (ttl) => ttl > 2 ** 52 - 1 && ttl <= 2 ** 52],
      ['decade', { cookie: { expires: new Date(Date.now() + 10 * 365 * 864e5) } }, (ttl) => ttl > 9 * 365 * 864e5],
      ['garbage', { cookie: { expires: 'not a date', originalMaxAge: 60_000 } }, (ttl) => ttl === 60_000],
      ['nan', { cookie: { maxAge: Number.NaN } }, (ttl) => ttl === 24 * 3600_000],
      ['zero', { cookie: { maxAge: 0 } }, (ttl) => ttl === 1],
    ]
    for (const [sid, sess, check] of cases) {
      const [error] = await call((callback) => store.set(sid, sess, callback))
      t.is(error, null, sid)
      const ttl = store.manager.peek(sid)?.idleTimeout ?? store.manager.get(sid)?.idleTimeout
      if (sid !== 'zero') t.true(check(ttl as number), `${sid}: ${ttl}`)
      else t.true(ttl === undefined || check(ttl), 'a 1 ms session may be gone already')
    }
    await call((callback) => store.set('touched', { cookie: { maxAge: 60_000 }, user: 'ann' } as object, callback))
    const [touchError] = await call((callback) => store.touch('touched', { cookie: { maxAge: 1e300 } }, callback))
    t.is(touchError, null)
    t.is(store.manager.peek('touched')?.idleTimeout, 2 ** 52)
    const [, stored] = await call<any>((callback) => store.get('touched', callback))
    // As JSON: the answer's cookie also carries the store's marks for @fastify/session (symbols).
    t.deepEqual(JSON.parse(JSON.stringify(stored)), { cookie: { maxAge: 1e300 }, user: 'ann' })
    // Touch after destroy revives nothing; set after destroy stores anew.
    await call((callback) => store.destroy('touched', callback))
    t.deepEqual(await call((callback) => store.touch('touched', { cookie: { maxAge: 60_000 } }, callback)), [null, undefined])
    t.is(store.manager.peek('touched'), undefined)
  })

  test(`SessionkeeperStore over a shared manager leaves other code's session under the same key alone [${engine}]`, async (t) => {
    const manager = new SessionManager({ engine, keys: 'caller' })
    t.teardown(() => manager.close())
    const store = new SessionkeeperStore({ manager })
    const theirs = manager.create({ key: 'shared', user: 'other', data: { note: 'theirs' } })
    const [setError] = await call((callback) => store.set('shared', { cookie: { maxAge: 1 } }, callback))
    t.is(setError?.code, 'ERR_SESSION_EXISTS')
    for (const run of [
      (cb: (error: any) => void) => store.touch('shared', { cookie: { maxAge: 1 } }, cb),
      (cb: (error: any) => void) => store.destroy('shared', cb),
      (cb: (error: any) => void) => store.clear(cb),
    ]) t.is((await call(run))[0], null)
    t.deepEqual(await call((callback) => store.get('shared', callback)), [null, null])
    t.false(theirs.closed)
    t.is(theirs.idleTimeout, 30 * 60_000, "the store's touch did not set their deadline")
    t.deepEqual(theirs.keys(), ['note'])
    t.is(theirs.user, 'other')
  })
}

// The integrations bind `() => req.session`, so current() follows a login and a logout in every
// timer, promise and emitter the request itself drives.
for (const stack of STACKS) {
  for (const engine of ENGINES) {
    test(`manager.current() across awaits, timers and emitters after startSession and close [${stack}, ${engine}]`, async (t) => {
      const server = await serve(t, stack, engine, async (req, res, manager) => {
        const seen: Record<string, string | null> = {}
        const { EventEmitter } = await import('node:events')
        const bus = new EventEmitter()
        const look = (label: string) => {
          seen[label] = manager.current()?.user ?? null
        }
        const timer = new Promise<void>((resolve) => setTimeout(() => {
          look('timer set before login, fired after')
          resolve()
        }, 5))
        bus.on('ping', (label: string) => look(label))
        look('start')
        await new Promise((resolve) => setImmediate(resolve))
        req.startSession({ user: 'alice' })
        bus.emit('ping', 'emitter after login')
        await timer
        queueMicrotask(() => look('microtask after login'))
        await Promise.resolve()
        req.session?.close()
        await new Promise((resolve) => setTimeout(resolve, 1))
        look('after close')
        bus.emit('ping', 'emitter after close')
        res.end(JSON.stringify(seen))
      })
      const reply = await fetch(server.base, { method: 'POST' })
      t.deepEqual(await reply.json(), {
        start: null,
        'emitter after login': 'alice',
        'timer set before login, fired after': 'alice',
        'microtask after login': 'alice',
        'after close': null,
        'emitter after close': null,
      })
      t.deepEqual(reply.headers.getSetCookie(), [], 'started and closed by the same request: nothing to set')
    })
  }
}

// The signature was the HMAC of the bare id under the secret itself: the very construction of
// cookie-signature (cookie-parser, express-session) and @fastify/cookie, base64 instead of
// base64url. Over a keys: 'caller' manager keyed by names, an application that shares the
// secret and signs a value the client picks (a remembered user name) handed the client the
// session cookie of that key; and a value signed for one cookie name verified under another.
// Now the HMAC covers `<name>=<id>` under a key derived from the secret. Fails without the fix:
// the converted cookie-parser signature and the other name's value both log in as alice.
for (const engine of ENGINES) {
  test(`no other signer sharing the secret, and no other cookie name, makes a session cookie [${engine}]`, async (t) => {
    // @ts-expect-error cookie-signature ships no types
    const { sign: cookieSignature } = (await import('cookie-signature')) as { sign(value: string, secret: string): string }
    const manager = new SessionManager({ engine, keys: 'caller' })
    t.teardown(() => manager.close())
    const app = express()
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      const request = req as SessionRequest
      if (req.url === '/login') request.startSession({ key: 'user-alice', user: 'alice' })
      res.end(request.session?.user ?? 'anonymous')
    }
    app.use('/app', sessionMiddleware(manager, { secret: SECRET }), handler)
    app.use('/other', sessionMiddleware(manager, { secret: SECRET, cookieName: 'other' }), handler)
    const base = await listen(t, createServer(app))
    const login = await fetch(`${base}/app/login`, { method: 'POST' })
    const cookie = cookieOf(login) as string
    t.is(await (await fetch(`${base}/app/`, { headers: { cookie } })).text(), 'alice')
    // What cookie-parser's res.cookie('remember', 'user-alice', { signed: true }) gives a client
    // (after `s:`), turned into base64url by hand.
    const parserSigned = cookieSignature('user-alice', SECRET).replace(/\+/g, '-').replace(/\//g, '_')
    t.is(await (await fetch(`${base}/app/`, { headers: { cookie: `sid=${parserSigned}` } })).text(), 'anonymous')
    // The 0.1.0 signature is refused over caller keys.
    const legacy = `user-alice.${createHmacBase64url(SECRET, 'user-alice')}`
    t.is(await (await fetch(`${base}/app/`, { headers: { cookie: `sid=${legacy}` } })).text(), 'anonymous')
    // The same key under another cookie name of the same secret and manager.
    t.is(await (await fetch(`${base}/other/`, { headers: { cookie: `other=${valueOf(cookie)}` } })).text(), 'anonymous')
    t.is(manager.stats().rejectedCookies, 3)
  })

  test(`over random ids a 0.1.0 signature still verifies, and is not re-signed under the current secret [${engine}]`, async (t) => {
    const server = await serve(t, 'http', engine, (req, res) => {
      res.end(req.session?.user ?? 'anonymous')
    })
    const session = server.manager.create({ user: 'ann' })
    const reply = await fetch(server.base, { headers: { cookie: `sid=${session.id}.${createHmacBase64url(SECRET, session.id)}` } })
    t.is(await reply.text(), 'ann')
    t.deepEqual(reply.headers.getSetCookie(), [])
  })
}

function createHmacBase64url(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text, 'utf8').digest('base64url')
}
