import test from 'ava'
import express from 'express'
import { Agent, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SessionManager } from '../ts/index'
import { sessionMiddleware, type SessionRequest } from '../ts/integrations/express'
import { ENGINES } from './helpers'

const REQUESTS = 1000
/** Requests parked inside their handler, holding the session, when the logout runs. */
const PARKED = 400

function send(agent: Agent, port: number, method: string, path: string, cookie: string): Promise<{ status: number; setCookie: string[] }> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: '127.0.0.1', port, method, path, headers: cookie === '' ? {} : { cookie } }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, setCookie: res.headers['set-cookie'] ?? [] }))
    })
    req.on('error', reject)
    req.end()
  })
}

for (const engine of ENGINES) {
  test(`a logout never turns the session's other in-flight requests into errors, over HTTP [${engine}]`, async (t) => {
    t.timeout(60_000)
    const manager = new SessionManager({ engine })
    let parked = 0
    let enoughParked!: () => void
    const parkedEnough = new Promise<void>((resolve) => { enoughParked = resolve })
    let loggedOut!: () => void
    const logout = new Promise<void>((resolve) => { loggedOut = resolve })
    let loggedOutYet = false

    const app = express()
    app.use(sessionMiddleware(manager))
    app.post('/login', (req, res) => {
      const session = (req as unknown as SessionRequest).startSession({ user: 'ann', roles: ['admin'], data: { theme: 'dark' } })
      session.putObject('cart', { items: 1 })
      res.json({ ok: true })
    })
    app.get('/page', async (req, res) => {
      const { session } = req as unknown as SessionRequest
      if (!loggedOutYet && ++parked === PARKED) enoughParked()
      // Park until the logout, holding the session it is about to close.
      if (!loggedOutYet) await logout
      res.json({
        user: session?.user ?? null, admin: session?.hasRole('admin') ?? false, theme: session?.get('theme') ?? null,
        keys: session?.keys() ?? [], cart: session?.getObject('cart') ?? null, touched: session?.touch() ?? false,
        wrote: session?.set('seen', 'yes') ?? false, idle: session?.idleTimeout ?? null, current: manager.current()?.id ?? null,
      })
    })
    app.post('/logout', (req, res) => {
      ;(req as unknown as SessionRequest).session?.close()
      loggedOutYet = true
      res.json({ ok: true })
      loggedOut()
    })
    const server: Server = app.listen(0, '127.0.0.1')
    await new Promise((resolve) => server.once('listening', resolve))
    const { port } = server.address() as AddressInfo
    const agent = new Agent({ keepAlive: true, maxSockets: 500 })
    const own = new Agent({ keepAlive: false })
    try {
      const login = await send(own, port, 'POST', '/login', '')
      const cookie = login.setCookie[0].split(';')[0]
      const [, id] = cookie.split('=')
      t.true(manager.has(id))

      const pages = Array.from({ length: REQUESTS }, () => send(agent, port, 'GET', '/page', cookie))
      await parkedEnough
      t.is((await send(own, port, 'POST', '/logout', cookie)).status, 200)
      const statuses = new Map<number, number>()
      for (const { status } of await Promise.all(pages)) statuses.set(status, (statuses.get(status) ?? 0) + 1)

      t.deepEqual([...statuses], [[200, REQUESTS]], 'every request succeeded (status: count)')
      t.is(manager.size, 0, 'nothing revived the closed session')
      t.false(manager.has(id))
      t.deepEqual(manager.stats().closed, { destroyed: 1, expired: 0, evicted: 0, shutdown: 0 })
    } finally {
      agent.destroy()
      own.destroy()
      await new Promise((resolve) => server.close(resolve))
      manager.close()
    }
  })
}
