/**
 * The demo: an express app on sessionkeeper's middleware. Log in, watch a per-session counter
 * and the session's data, log out; admins see every live session with its user and idle time.
 * Run: npm start (PORT, default 3000; 0 picks a free port). It prints its URL.
 */
import express from 'express'
import { mkdirSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { SessionManager } from '../ts/index'
import { sessionMiddleware, type SessionRequest } from '../ts/integrations/express'

const escape = (text: unknown): string =>
  String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

const page = (title: string, body: string): string =>
  `<!doctype html><meta charset="utf-8"><title>${escape(title)}</title>` +
  `<body style="font-family: system-ui; max-width: 40rem; margin: 2rem auto">` +
  `<h1>${escape(title)}</h1>${body}</body>`

export function createDemoApp(manager: SessionManager) {
  const app = express()
  app.use(express.urlencoded({ extended: false }))
  app.use(sessionMiddleware(manager, { secret: process.env.SESSION_SECRET ?? 'demo secret, for the demo only: set SESSION_SECRET' }))

  app.get('/', (req, res) => {
    const { session } = req as unknown as SessionRequest
    if (session === undefined) {
      res.send(page('sessionkeeper demo', `<form method="post" action="/login">
        <label>Name <input name="user" required maxlength="64"></label> <button>Log in</button>
        <p>Log in as <code>admin</code> to see the admin page.</p></form>`))
      return
    }
    const visits = Number(session.get('visits') ?? '0') + 1
    session.set('visits', String(visits))
    const data = session.keys().map((key) => `<li><code>${escape(key)}</code> = ${escape(session.get(key))}</li>`).join('')
    res.send(page(`Hello, ${session.user ?? 'visitor'}`, `<p>Visits in this session: <strong id="visits">${visits}</strong></p>
      <p>Expires at ${escape(new Date(session.expiresAt).toISOString())}</p><ul>${data}</ul>
      ${session.roles.includes('admin') ? '<p><a href="/admin">Admin: live sessions</a></p>' : ''}
      <form method="post" action="/logout"><button>Log out</button></form>`))
  })

  app.post('/login', (req, res) => {
    const user = typeof req.body?.user === 'string' && req.body.user.trim() !== '' ? req.body.user.trim().slice(0, 64) : 'guest'
    // A login: a fresh session with a new id (session-fixation defence); a session this browser
    // already had is closed, so nothing of a previous user (roles, visit counter) carries over.
    ;(req as unknown as SessionRequest).startSession({ user, roles: user === 'admin' ? ['admin'] : [] })
    res.redirect(303, '/')
  })

  app.post('/logout', (req, res) => {
    ;(req as unknown as SessionRequest).session?.close()
    res.redirect(303, '/')
  })

  app.get('/admin', (_req, res) => {
    // manager.current() is the request's session in any code the request runs.
    if (!manager.current()?.hasRole('admin')) {
      res.status(403).send(page('Forbidden', '<p>Admins only. <a href="/">Back</a></p>'))
      return
    }
    const now = Date.now()
    const rows = [...manager].map((session) =>
      `<tr><td>${escape(session.user ?? '-')}</td><td>${Math.round((now - session.lastActivity) / 1000)} s</td></tr>`).join('')
    res.send(page('Live sessions', `<p>Engine: ${manager.engine}; ${manager.size} live.</p>
      <table><tr><th>user</th><th>idle</th></tr>${rows}</table><p><a href="/">Back</a></p>`))
  })
  return app
}

if (require.main === module) {
  // Sessions survive restarts, deploys and crashes: they are kept in this file (SESSION_FILE).
  const path = process.env.SESSION_FILE ?? join('var', 'sessions.skdb')
  mkdirSync(dirname(path), { recursive: true })
  const manager = new SessionManager({ idleTimeout: 15 * 60_000, persist: { path } })
  const server = createDemoApp(manager).listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
    console.log(`sessionkeeper demo on http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  })
  // A graceful shutdown: stop accepting requests, let those in flight finish, then save the
  // sessions (close() writes and fsyncs them, and unlocks the file). With nothing left to do the
  // process exits by itself; a SIGTERM listener alone would keep it up (the server still listens).
  const stop = () => {
    server.close(() => manager.close())
    server.closeIdleConnections()
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
