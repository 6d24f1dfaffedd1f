/**
 * Issue 16: the lean request path. `asyncContext: false` skips the per-request binding; the
 * per-request state lives in one object reached under each middleware's own key, so two
 * middlewares over one response (two managers, or one mounted twice) keep apart.
 */
import { spawnSync } from 'node:child_process'
import { createServer, type IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import test from 'ava'
import express from 'express'
import { SessionManager } from '../ts/index'
import { SessionCookie } from '../ts/integrations/cookies'
import { sessionMiddleware, sessionOf, type SessionRequest, startSession } from '../ts/integrations/express'
import { ENGINES } from './helpers'
import { listen, SECRET } from './http-fixtures'

const cookieOf = (response: Response): string | undefined => response.headers.getSetCookie()[0]?.split(';')[0]

for (const engine of ENGINES) {
  test(`asyncContext: false serves sessions from req without binding current() [${engine}]`, async (t) => {
    const manager = new SessionManager({ engine })
    t.teardown(() => manager.close())
    const app = express()
    app.use(sessionMiddleware(manager, { secret: SECRET, asyncContext: false }))
    app.post('/login', (req, res) => {
      startSession(req, { user: 'ann' })
      res.json({ current: manager.current()?.user ?? null })
    })
    app.get('/', (req, res) => { res.json({ user: sessionOf(req)?.user ?? null, current: manager.current()?.user ?? null }) })
    const base = await listen(t, createServer(app))
    const login = await fetch(`${base}/login`, { method: 'POST' })
    t.deepEqual(await login.json(), { current: null })
    const cookie = cookieOf(login) as string
    t.regex(cookie, /^sid=/)
    t.deepEqual(await (await fetch(base, { headers: { cookie } })).json(), { user: 'ann', current: null })
    // The default binds it.
    const bound = express()
    bound.use(sessionMiddleware(manager, { secret: SECRET }))
    bound.get('/', (_req, res) => { res.json({ current: manager.current()?.user ?? null }) })
    const boundBase = await listen(t, createServer(bound))
    t.deepEqual(await (await fetch(boundBase, { headers: { cookie } })).json(), { current: 'ann' })
  })

  test(`two middlewares over one response each set their own cookie, and one mounted twice sets it once [${engine}]`, async (t) => {
    const shop = new SessionManager({ engine })
    const admin = new SessionManager({ engine })
    t.teardown(() => { shop.close(); admin.close() })
    const shopMiddleware = sessionMiddleware(shop, { secret: SECRET, cookieName: 'shop' })
    const adminMiddleware = sessionMiddleware(admin, { secret: SECRET, cookieName: 'admin' })
    const twice = express()
    twice.use(shopMiddleware, shopMiddleware)
    twice.post('/login', (req, res) => {
      startSession(req, { user: 'ann' })
      res.setHeader('x-done', '1')
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('ok')
    })
    const base = await listen(t, createServer(twice))
    const login = await fetch(`${base}/login`, { method: 'POST' })
    t.is(await login.text(), 'ok')
    t.is(login.headers.getSetCookie().length, 1)
    const cookie = cookieOf(login) as string
    t.is(shop.peek(cookie.slice('shop='.length, cookie.lastIndexOf('.')))?.user, 'ann')
    // Both middlewares' logins on one request: one cookie each.
    const both = express()
    both.use(shopMiddleware, (req: IncomingMessage, _res: ServerResponse, next: () => void) => {
      startSession(req, { user: 'shopper' })
      next()
    }, adminMiddleware, (req: IncomingMessage, res: ServerResponse) => {
      startSession(req, { user: 'admin' })
      res.end()
    })
    const bothBase = await listen(t, createServer(both))
    const reply = await fetch(bothBase, { method: 'POST' })
    const names = reply.headers.getSetCookie().map((value) => value.split('=')[0]).sort()
    t.deepEqual(names, ['admin', 'shop'])
  })
}

test('req.startSession called detached from its request is a TypeError saying how to call it', async (t) => {
  const manager = new SessionManager({ engine: 'js' })
  t.teardown(() => manager.close())
  const app = express()
  app.use(sessionMiddleware(manager, { secret: SECRET }))
  app.post('/', (req, res) => {
    const detached = (req as unknown as SessionRequest).startSession
    try {
      detached({ user: 'x' })
      res.end('no error')
    } catch (error) {
      res.end(`${(error as Error).name}: ${(error as Error).message}`)
    }
  })
  const base = await listen(t, createServer(app))
  t.regex(await (await fetch(base, { method: 'POST' })).text(), /^TypeError: req\.startSession\(init\) must be called on the request/)
})

test('options.asyncContext must be a boolean', (t) => {
  const manager = new SessionManager({ engine: 'js' })
  t.teardown(() => manager.close())
  t.throws(() => sessionMiddleware(manager, { asyncContext: 'no' as unknown as boolean }), { instanceOf: TypeError, message: /options\.asyncContext must be a boolean, received string/ })
  t.throws(() => sessionMiddleware(manager, { asyncContext: true, unknown: 1 } as never), { instanceOf: TypeError, message: /unknown/ })
})

// The hook finds its request's state through `res.req`: another response of the same request
// (whose `req` is that request too) must neither take the cookie nor use up the one write.
test('the shared writeHead hook called on a response it was not installed on passes through', async (t) => {
  const manager = new SessionManager({ engine: 'native' })
  t.teardown(() => manager.close())
  const app = express()
  app.use(sessionMiddleware(manager, { secret: SECRET }))
  app.get('/', (req, res) => {
    startSession(req, { user: 'ada' })
    const other = new ServerResponse(req)
    try {
      res.writeHead.call(other, 202)
      res.end(`other: ${other.statusCode} ${String(other.getHeader('set-cookie'))}`)
    } catch (error) {
      res.end(`${(error as Error).name}: ${(error as Error).message}`)
    }
  })
  const base = await listen(t, createServer(app))
  const response = await fetch(base)
  t.is(await response.text(), 'other: 202 undefined')
  t.is(response.headers.getSetCookie().length, 1, 'the login cookie goes out on the request\'s own response')
})

// Issue 16, item 2: a response whose request did nothing to its session, with a cookie neither
// rolling nor signed with an older secret, asks the engine nothing when its headers go out.
test.serial('a plain read asks the engine no isAlive as the headers go out; a rolling cookie does', async (t) => {
  const { JsEngine } = await import('../ts/js-engine/engine')
  const original = JsEngine.prototype.isAlive
  let calls = 0
  JsEngine.prototype.isAlive = function (this: InstanceType<typeof JsEngine>, handle: number, now: number): boolean {
    calls++
    return original.call(this, handle, now)
  }
  t.teardown(() => { JsEngine.prototype.isAlive = original })
  const manager = new SessionManager({ engine: 'js' })
  t.teardown(() => manager.close())
  const session = manager.create({ user: 'ann' })
  const plain = express()
  plain.use(sessionMiddleware(manager, { secret: SECRET }))
  // The handler reads no session field (a getter would ask the engine itself).
  plain.get('/', (req, res) => { res.end(sessionOf(req) === undefined ? 'none' : 'found') })
  const rolling = express()
  rolling.use(sessionMiddleware(manager, { secret: SECRET, cookie: { maxAge: 60_000 } }))
  rolling.get('/', (req, res) => { res.end(sessionOf(req) === undefined ? 'none' : 'found') })
  const signer = new SessionCookie({ secret: SECRET })
  const cookie = signer.serialize({ secure: false, headers: {}, socket: null } as unknown as IncomingMessage, session.id).split(';')[0]
  const plainBase = await listen(t, createServer(plain))
  const rollingBase = await listen(t, createServer(rolling))
  calls = 0
  const reply = await fetch(plainBase, { headers: { cookie } })
  t.is(await reply.text(), 'found')
  t.deepEqual(reply.headers.getSetCookie(), [])
  t.is(calls, 0)
  const rolled = await fetch(rollingBase, { headers: { cookie } })
  t.is(await rolled.text(), 'found')
  t.is(rolled.headers.getSetCookie()[0]?.split(';')[0], cookie, 'the value as received, sent again')
  t.true(calls >= 1)
})

// On V8 before 13 (Node 22 and older) express's requests each have a hidden class of their own,
// so the middleware puts them in dictionary mode before adding its properties (see
// ts/integrations/added-properties.ts). Checked with V8's own %HasFastProperties in a child
// process, against the built package; express alone and plain node:http are the controls.
test('on V8 before 13 the middleware puts express\'s requests, and the responses it hooks, in dictionary mode and leaves no trace; elsewhere they keep their hidden classes', (t) => {
  const script = `
    const { createServer, IncomingMessage, ServerResponse } = require('node:http')
    const { Socket } = require('node:net')
    const express = require('express')
    const { SessionManager } = require('sessionkeeper')
    const { sessionMiddleware } = require('sessionkeeper/express')
    const { sessionFor } = require('sessionkeeper/http')
    const hasFastProperties = new Function('o', 'return %HasFastProperties(o)')
    const manager = new SessionManager({ engine: 'js' })
    const id = manager.create({ user: 'ada' }).id
    const seen = {}
    const serve = (handler) => {
      const req = new IncomingMessage(new Socket())
      req.method = 'GET'; req.url = '/'; req.headers = { host: 'x', cookie: 'sid=' + id }
      handler(req, new ServerResponse(req))
    }
    const plain = express()
    plain.get('/', (req, res) => { seen.plain = hasFastProperties(req); res.end() })
    const sessions = express()
    sessions.use(sessionMiddleware(manager, { asyncContext: false }))
    sessions.get('/', (req, res) => {
      seen.middleware = hasFastProperties(req)
      seen.user = req.session && req.session.user
      seen.symbols = Object.getOwnPropertySymbols(req).map(String).filter((name) => name.includes('sessionkeeper'))
      res.end()
    })
    // A login hooks the response's writeHead: the one property the layer adds to a response.
    sessions.post('/', (req, res) => {
      seen.responseBefore = hasFastProperties(res)
      req.startSession({ user: 'bob' })
      seen.responseAfter = hasFastProperties(res)
      res.end()
      seen.cookie = String(res.getHeader('set-cookie')).startsWith('sid=')
    })
    const http = sessionFor(manager)
    const node = (req, res) => { http.attach(req, res); seen.node = hasFastProperties(req); res.end() }
    for (let i = 0; i < 3; i++) { serve(plain); serve(sessions); serve(node) }
    serve((req, res) => { req.method = 'POST'; sessions(req, res) })
    manager.close()
    console.log(JSON.stringify({ v8: process.versions.v8, ...seen }))
  `
  const result = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', script], { cwd: join(__dirname, '..'), encoding: 'utf8', timeout: 60_000 })
  t.is(result.status, 0, result.stderr)
  const seen = JSON.parse(result.stdout) as {
    v8: string; plain: boolean; middleware: boolean; node: boolean; user: string; symbols: string[]
    responseBefore: boolean; responseAfter: boolean; cookie: boolean
  }
  t.is(seen.user, 'ada')
  t.true(seen.cookie, 'the login\'s cookie went out through the hook')
  t.true(seen.plain, 'express alone leaves its requests in fast mode (the control)')
  t.true(seen.responseBefore, 'a response is left alone until the layer adds to it')
  t.deepEqual(seen.symbols, ['Symbol(sessionkeeper.request)'], 'only the state\'s own key is left on the request')
  t.true(seen.node, 'a node:http request (Node\'s own prototype) keeps its hidden class')
  if (Number(seen.v8.split('.')[0]) < 13) {
    t.false(seen.middleware, 'with the middleware they are in dictionary mode')
    t.false(seen.responseAfter, 'so is a response once the login hooks it')
  } else {
    t.true(seen.middleware, 'V8 13 shares hidden classes: nothing to do')
    t.true(seen.responseAfter)
  }
})
