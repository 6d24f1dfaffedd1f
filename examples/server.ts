/**
 * A demo server on plain node:http: log in, count visits per session, log out, and list live
 * sessions. Run: npm start (PORT, default 3000). The framework integrations (express,
 * express-session, Fastify) are tracked separately; this shows the SessionManager on its own.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { SessionManager, type Session } from '../ts/index'

const COOKIE = 'sid'

export function createDemoServer(manager = new SessionManager({ idleTimeout: 15 * 60_000 })) {
  const server = createServer((request, response) => {
    const session = readSession(manager, request)
    manager.run(session, () => route(manager, request, response, session))
  })
  server.on('close', () => manager.close())
  return server
}

function readSession(manager: SessionManager, request: IncomingMessage): Session | undefined {
  const header = request.headers.cookie ?? ''
  for (const part of header.split(';')) {
    const [name, value] = part.trim().split('=')
    if (name === COOKIE && value !== undefined) return manager.get(value)
  }
  return undefined
}

function setCookie(response: ServerResponse, value: string, maxAge?: number): void {
  const expiry = maxAge === undefined ? '' : `; Max-Age=${maxAge}`
  response.setHeader('Set-Cookie', `${COOKIE}=${value}; HttpOnly; SameSite=Lax; Path=/${expiry}`)
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' })
  response.end(JSON.stringify(body))
}

function route(manager: SessionManager, request: IncomingMessage, response: ServerResponse, session: Session | undefined): void {
  const url = new URL(request.url ?? '/', 'http://localhost')
  if (request.method === 'POST' && url.pathname === '/login') {
    const user = url.searchParams.get('user') ?? 'guest'
    const fresh = session ?? manager.create()
    // A new id on privilege change, so an id planted before login is worth nothing.
    if (session !== undefined) fresh.regenerate()
    fresh.user = user
    fresh.roles = user === 'admin' ? ['admin'] : []
    setCookie(response, fresh.id)
    return send(response, 200, { user, id: fresh.id })
  }
  if (request.method === 'POST' && url.pathname === '/logout') {
    session?.close()
    setCookie(response, '', 0)
    return send(response, 200, { loggedOut: session !== undefined })
  }
  if (url.pathname === '/') {
    if (session === undefined) return send(response, 200, { anonymous: true })
    const visits = Number(session.get('visits') ?? '0') + 1
    session.set('visits', String(visits))
    return send(response, 200, { user: session.user, visits, expiresAt: session.expiresAt })
  }
  if (url.pathname === '/admin') {
    if (!manager.current()?.hasRole('admin')) return send(response, 403, { error: 'admins only' })
    const now = Date.now()
    const sessions = [...manager].map((live) => ({ user: live.user, idleMs: now - live.lastActivity }))
    return send(response, 200, { engine: manager.engine, stats: manager.stats(), sessions })
  }
  send(response, 404, { error: 'not found' })
}

if (require.main === module) {
  const port = Number(process.env.PORT ?? 3000)
  createDemoServer().listen(port, '127.0.0.1', () => console.log(`sessionkeeper demo on http://127.0.0.1:${port}`))
}
