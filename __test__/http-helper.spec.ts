import test from 'ava'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SessionManager } from '../ts/index'
import { readSession, sessionFor, writeSessionCookie } from '../ts/integrations/http'
import { FakeClock } from './helpers'
import { SECRET } from './http-fixtures'

async function listen(t: import('ava').ExecutionContext, server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const send = (res: ServerResponse, body: unknown) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify(body))
}

async function get(url: string, cookie?: string, method = 'GET') {
  const response = await fetch(url, { method, headers: cookie === undefined ? {} : { cookie } })
  const setCookies = response.headers.getSetCookie()
  return { status: response.status, body: (await response.json()) as Record<string, any>, setCookies, cookie: setCookies[0]?.split(';')[0] }
}

test('sessionFor().attach: login, counter, current(), regenerate, logout on a plain node:http server', async (t) => {
  const manager = new SessionManager({ engine: 'js' })
  t.teardown(() => manager.close())
  const sessions = sessionFor(manager, { secret: SECRET })
  const server = createServer((req, res) => {
    const request = sessions.attach(req, res)
    manager.run(() => request.session, async () => {
      await new Promise((resolve) => setImmediate(resolve))
      const url = new URL(req.url ?? '/', 'http://x')
      if (url.pathname === '/login') {
        const session = request.startSession({ user: 'ann' })
        send(res, { id: session.id })
      } else if (url.pathname === '/count') {
        const session = manager.current()
        if (session === undefined) return send(res, { anonymous: true })
        const count = Number(session.get('count') ?? '0') + 1
        session.set('count', String(count))
        send(res, { count, same: session === request.session })
      } else if (url.pathname === '/regenerate') {
        send(res, { id: request.session?.regenerate() })
      } else if (url.pathname === '/headers') {
        request.startSession()
        res.writeHead(200, { 'Set-Cookie': 'theme=dark', 'Content-Type': 'application/json' }).end('{}')
      } else if (url.pathname === '/logout') {
        request.session?.close()
        res.writeHead(204).end()
      } else {
        send(res, { user: request.session?.user ?? null })
      }
    })
  })
  const base = await listen(t, server)
  const anonymous = await get(`${base}/`)
  t.deepEqual(anonymous.body, { user: null })
  t.deepEqual(anonymous.setCookies, [])
  const login = await get(`${base}/login`, undefined, 'POST')
  t.regex(login.cookie ?? '', new RegExp(`^sid=${login.body.id}\\.[A-Za-z0-9_-]{43}$`))
  t.deepEqual((await get(`${base}/count`, login.cookie)).body, { count: 1, same: true })
  const second = await get(`${base}/count`, login.cookie)
  t.deepEqual(second.body, { count: 2, same: true })
  t.deepEqual(second.setCookies, [])
  const moved = await get(`${base}/regenerate`, login.cookie, 'POST')
  t.true(moved.cookie?.startsWith(`sid=${moved.body.id}.`))
  const stale = await get(`${base}/`, login.cookie)
  t.deepEqual(stale.body, { user: null })
  t.deepEqual(stale.setCookies, [], 'a dead cookie is ignored, not cleared')
  t.is(manager.stats().rejectedCookies, 1)
  const logout = await fetch(`${base}/logout`, { method: 'POST', headers: { cookie: moved.cookie as string } })
  t.is(logout.status, 204)
  t.regex(logout.headers.getSetCookie()[0], /^sid=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=\/; HttpOnly; SameSite=Lax$/)
  t.is(manager.size, 0)
  const both = await get(`${base}/headers`, undefined, 'POST')
  t.is(both.setCookies.length, 2, 'a Set-Cookie given to writeHead keeps the session cookie')
  t.is(both.setCookies[0], 'theme=dark')
  t.regex(both.setCookies[1], /^sid=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/)
})

test('readSession and writeSessionCookie: explicit reads and writes, rejected cookies counted', async (t) => {
  const clock = new FakeClock()
  const manager = new SessionManager({ engine: 'native', clock: clock.read, idleTimeout: 1000 })
  t.teardown(() => manager.close())
  const options = { cookieName: 'token', cookie: { maxAge: 5000 } }
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    let session = readSession(manager, req, options)
    if (req.method === 'POST') session ??= manager.create({ user: 'bob' })
    writeSessionCookie(res, session, options)
    send(res, { user: session?.user ?? null, id: session?.id ?? null })
  }
  const base = await listen(t, createServer(handle))
  const created = await get(base, undefined, 'POST')
  t.is(created.cookie, `token=${created.body.id}`)
  t.regex(created.setCookies[0], /; Max-Age=5; Expires=[^;]+ GMT; Path=\/; HttpOnly; SameSite=Lax$/)
  const again = await get(base, created.cookie)
  t.is(again.body.user, 'bob')
  t.is(again.cookie, created.cookie)
  clock.advance(1001)
  const expired = await get(base, created.cookie)
  t.deepEqual(expired.body, { user: null, id: null })
  t.is(expired.cookie, 'token=')
  t.is((await get(base, 'token=a; token=b')).body.user, null)
  t.is(manager.stats().rejectedCookies, 2)
  t.throws(() => readSession(manager, {} as IncomingMessage, { cookie: { sameSite: 'none', secure: false } }), {
    instanceOf: RangeError,
    message: /options\.cookie\.sameSite 'none'/,
  })
})

test("cookie.secure 'auto' sets Secure on a TLS socket", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sessionkeeper-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' })
  } catch {
    t.pass('openssl is not available; skipped')
    return
  }
  const manager = new SessionManager({ engine: 'js' })
  t.teardown(() => manager.close())
  const sessions = sessionFor(manager)
  const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
    sessions.attach(req, res).startSession()
    res.end('ok')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const setCookie = await new Promise<string[] | undefined>((resolve, reject) => {
    const request = httpsRequest({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, rejectUnauthorized: false }, (response) => {
      response.resume()
      resolve(response.headers['set-cookie'])
    })
    request.on('error', reject)
    request.end()
  })
  t.regex(setCookie?.[0] ?? '', /^sid=[A-Za-z0-9_-]{22}; Path=\/; HttpOnly; SameSite=Lax; Secure$/)
})
