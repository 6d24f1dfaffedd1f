/**
 * Issue 10, item 6: only the session cookie's own value is judged. Unrelated cookies, however
 * many or large (Node caps the header), never log anyone out; only spaces and tabs are trimmed
 * around names and values, as the `cookie` package does.
 */
import test from 'ava'
import { findCookies } from '../ts/integrations/cookies'
import { ENGINES } from './helpers'
import { rawRequest, SECRET, STACKS, startServer } from './http-fixtures'

for (const stack of STACKS) {
  for (const engine of ENGINES) {
    const name = `[${stack}, ${engine}]`

    test(`large and numerous unrelated cookies leave a valid session cookie valid ${name}`, async (t) => {
      const server = await startServer(t, stack, engine, { secret: SECRET })
      const login = (await server.call('/login?user=alice', { method: 'POST' })).cookie as string
      const sibling = ['a', 'b', 'c'].map((letter) => `${letter}=${letter.repeat(3000)}`).join('; ')
      const many = Array.from({ length: 300 }, (_, index) => `c${index}=${index}`).join('; ')
      for (const header of [`${sibling}; ${login}`, `${login}; ${sibling}`, `${many}; ${login}`, `${many}; ${sibling}; ${login}`]) {
        const reply = await server.call('/', { cookie: header })
        t.is(reply.body.user, 'alice', `${header.length} characters`)
        t.deepEqual(reply.setCookies, [])
      }
      t.is(server.manager.stats().rejectedCookies, 0)
    })

    test(`a duplicated name uses the one value naming a live session; two live ones name none, and nothing is cleared ${name}`, async (t) => {
      const server = await startServer(t, stack, engine, { secret: SECRET })
      const alice = (await server.call('/login?user=alice', { method: 'POST' })).cookie as string
      const bob = (await server.call('/login?user=bob', { method: 'POST' })).cookie as string
      for (const header of [`sid=junk; ${alice}`, `${alice}; sid=`, `${alice}; sid=${'A'.repeat(22)}`, `${alice}; ${alice}`]) {
        const reply = await server.call('/', { cookie: header })
        t.is(reply.body.user, 'alice', header)
        t.deepEqual(reply.setCookies, [], header)
      }
      t.is(server.manager.stats().rejectedCookies, 0)
      const ambiguous = await server.call('/', { cookie: `${alice}; ${bob}` })
      t.is(ambiguous.body.user, null)
      t.deepEqual(ambiguous.setCookies, [])
      t.is(server.manager.stats().rejectedCookies, 1)
      const flood = await server.call('/', { cookie: [...Array.from({ length: 8 }, () => 'sid=junk'), alice].join('; ') })
      t.is(flood.body.user, null, 'more than 8 session cookies name no session')
      t.is(server.manager.stats().rejectedCookies, 2)
    })

    test(`only spaces and tabs are trimmed around the session cookie's name and value ${name}`, async (t) => {
      const server = await startServer(t, stack, engine, { secret: SECRET })
      const cookie = (await server.call('/login?user=alice', { method: 'POST' })).cookie as string
      const value = cookie.slice('sid='.length)
      const request = (header: string) => rawRequest(server.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${header}`)
      for (const header of [`x=1;sid=${value}`, `x=1; \t sid \t= \t${value} \t; y=2`, `sid=${value}\t`]) {
        const reply = await request(header)
        t.is(reply.status, 200, JSON.stringify(header))
        t.is(JSON.parse(reply.body).user, 'alice', JSON.stringify(header))
      }
      const before = server.manager.stats().rejectedCookies
      // U+00A0 arrives as the latin1 byte A0 (\v and \f Node refuses itself, with a 400).
      for (const header of [`sid=\xa0${value}`, `sid=${value}\xa0`, `x=1; \xa0sid=${value}`]) {
        const reply = await request(header)
        t.is(reply.status, 200, JSON.stringify(header))
        t.is(JSON.parse(reply.body).user, null, JSON.stringify(header))
        t.deepEqual(reply.setCookies, [])
      }
      t.true(server.manager.stats().rejectedCookies > before)
    })

    test(`an oversized session cookie value is no session, whatever the other cookies ${name}`, async (t) => {
      const server = await startServer(t, stack, engine, { secret: SECRET })
      const reply = await server.call('/', { cookie: `x=1; sid=${'a'.repeat(5000)}` })
      t.is(reply.body.user, null)
      t.deepEqual(reply.setCookies, [])
      t.is(server.manager.stats().rejectedCookies, 1)
    })
  }
}

test('findCookies trims spaces and tabs only, and returns every value of the name in order', (t) => {
  t.deepEqual(findCookies(' \t sid \t=\t a \t;sid=b;xsid=c; sidx=d;sid;=e', 'sid'), ['a', 'b'])
  for (const blank of ['\v', '\f', '\u00a0', '\ufeff', '\n']) {
    t.deepEqual(findCookies(`sid=${blank}a${blank}`, 'sid'), [`${blank}a${blank}`], JSON.stringify(blank))
    t.deepEqual(findCookies(`${blank}sid=a`, 'sid'), [], JSON.stringify(blank))
  }
  t.deepEqual(findCookies(undefined, 'sid'), [])
  t.deepEqual(findCookies('', 'sid'), [])
})
