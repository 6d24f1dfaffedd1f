/**
 * The demo: an express app on sessionkeeper's middleware that shows a session's whole life.
 * Log in (the session id changes: old → new), watch a per-session counter, pick a short
 * lifetime and see the session expire; admins see stats(), every live session with its idle time
 * and deadline, and a live feed of create, regenerate and close (with its reason) events.
 * `GET /stats` is stats() as JSON; `GET /metrics` is the Prometheus exposition of sessionkeeper/metrics
 * when prom-client is installed (it is an optional peer dependency), else a 404 saying so.
 *
 * Run: npm start (PORT, default 3000; 0 picks a free port). It prints its URL.
 * SESSION_SECRET (32 characters or more) signs the cookie; without it the demo uses a dev-only
 * secret and says so, and with NODE_ENV=production it refuses to start.
 */
import express, { type Response } from 'express'
import { mkdirSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { type CloseReason, type Session, SessionManager } from '../ts/index'
import { sessionMiddleware, sessionOf, startSession } from '../ts/integrations/express'
import { type MetricsRegistry, registerSessionMetrics } from '../ts/metrics'

/** Signs cookies when SESSION_SECRET is unset outside production: anyone can read it here. */
export const DEV_ONLY_INSECURE_SECRET = 'dev-only insecure secret: set SESSION_SECRET (32+ characters)'

/** The cookie secret, or why the demo must not start. */
export function demoSecret(env: NodeJS.ProcessEnv): { secret: string; warning?: string } | { refusal: string } {
  if (env.SESSION_SECRET !== undefined && env.SESSION_SECRET !== '') return { secret: env.SESSION_SECRET }
  if (env.NODE_ENV === 'production') {
    return { refusal: 'sessionkeeper demo: NODE_ENV=production and no SESSION_SECRET. Set SESSION_SECRET to 32 or more random characters (e.g. `openssl rand -base64 33`); the dev-only secret is public.' }
  }
  return { secret: DEV_ONLY_INSECURE_SECRET, warning: 'sessionkeeper demo: SESSION_SECRET is not set, so cookies are signed with a dev-only secret anyone can read. Never deploy this way (NODE_ENV=production refuses to start).' }
}

/** Lifetimes the login form offers: the manager's idle timeout, or a short one to watch expiry. */
const LIFETIMES: Record<string, number | undefined> = { default: undefined, '20s': 20_000, '5s': 5_000 }

interface FeedEvent {
  at: number
  type: 'create' | 'regenerate' | 'close'
  user: string | null
  id: string
  oldId?: string
  reason?: CloseReason
}

const escape = (text: unknown): string =>
  String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** Enough of an id to tell sessions apart on screen without showing a usable cookie value. */
const shortId = (id: string): string => `${id.slice(0, 6)}…`

const page = (title: string, body: string): string =>
  `<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escape(title)}</title>` +
  '<style>body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1f2328}' +
  'table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #d1d9e0;text-align:left}' +
  'code{background:#f6f8fa;padding:0 .2rem}#feed{font-family:ui-monospace,monospace;font-size:.9rem;list-style:none;padding:0}' +
  '.close{color:#bc4c00}.create{color:#1a7f37}.regenerate{color:#0969da}</style>' +
  `<h1>${escape(title)}</h1>${body}`

function sessionRow(session: Session, now: number): string {
  const deadline = session.expiresAt === Infinity ? 'never' : `${Math.max(0, Math.round((session.expiresAt - now) / 1000))} s`
  return `<tr><td>${escape(session.user ?? '-')}</td><td>${Math.round((now - session.lastActivity) / 1000)} s</td>` +
    `<td>${deadline}</td><td><code>${escape(shortId(session.id))}</code></td></tr>`
}

export function createDemoApp(manager: SessionManager, secret: string) {
  const app = express()
  app.use(express.urlencoded({ extended: false }))
  app.use(sessionMiddleware(manager, { secret }))

  // The live feed: the manager's events, kept for late subscribers and pushed to every admin page.
  const feed: FeedEvent[] = []
  const subscribers = new Set<Response>()
  const publish = (event: FeedEvent): void => {
    feed.push(event)
    if (feed.length > 100) feed.shift()
    for (const res of subscribers) res.write(`event: lifecycle\ndata: ${JSON.stringify(event)}\n\n`)
  }
  manager.on('create', (session) => publish({ at: Date.now(), type: 'create', user: session.user ?? null, id: shortId(session.id) }))
  manager.on('regenerate', (session, oldId) => publish({ at: Date.now(), type: 'regenerate', user: session.user ?? null, id: shortId(session.id), oldId: shortId(oldId) }))
  // Close listeners run while the session is still readable: its user is there to report.
  manager.on('close', (session, reason) => publish({ at: Date.now(), type: 'close', user: session.user ?? null, id: shortId(session.id), reason }))

  const snapshot = () => {
    const now = Date.now()
    return { engine: manager.engine, stats: manager.stats(), sessions: [...manager].map((session) => sessionRow(session, now)).join('') }
  }

  app.get('/', (req, res) => {
    const session = sessionOf(req)
    if (session === undefined) {
      res.send(page('sessionkeeper demo', `<p>You have no session (no cookie yet).</p>
        <form method="post" action="/login">
        <label>Name <input name="user" required maxlength="64"></label>
        <label>Lifetime <select name="lifetime"><option value="default">15 minutes idle</option>
        <option value="20s">20 seconds idle</option><option value="5s">5 seconds idle</option></select></label>
        <button>Log in</button>
        <p>Log in as <code>admin</code> to see the admin page; pick 5 seconds to watch a session expire there.</p></form>
        <p><a href="/stats">/stats</a> is <code>manager.stats()</code> as JSON; <a href="/metrics">/metrics</a> the same for Prometheus.</p>`))
      return
    }
    const visits = Number(session.get('visits') ?? 0) + 1
    session.set('visits', visits)
    const change = session.get('idChange') as { from: string | null; to: string; how: string } | undefined
    const data = session.keys().map((key) => `<li><code>${escape(key)}</code> = ${escape(JSON.stringify(session.get(key)))}</li>`).join('')
    res.send(page(`Hello, ${session.user ?? 'visitor'}`, `<p>Visits in this session: <strong id="visits">${visits}</strong></p>
      ${change ? `<p id="id-change">Your session id changed on ${escape(change.how)}: <code>${escape(change.from ?? '(no session)')}</code> → <code>${escape(change.to)}</code></p>` : ''}
      <p>Session <code id="session-id">${escape(shortId(session.id))}</code>, idle timeout ${Math.round(session.idleTimeout / 1000)} s,
      expires at ${escape(new Date(session.expiresAt).toISOString())} unless used again.</p><ul>${data}</ul>
      ${session.roles.includes('admin') ? '<p><a href="/admin">Admin: live sessions and events</a></p>' : ''}
      <form method="post" action="/regenerate"><button>New id, same session (regenerate)</button></form>
      <form method="post" action="/logout"><button>Log out</button></form>`))
  })

  app.post('/login', (req, res) => {
    const body = req.body as Record<string, unknown> | undefined
    const user = typeof body?.user === 'string' && body.user.trim() !== '' ? body.user.trim().slice(0, 64) : 'guest'
    const lifetime = typeof body?.lifetime === 'string' ? LIFETIMES[body.lifetime] : undefined
    const previous = sessionOf(req)
    // A login: a fresh session with a new id (session-fixation defence); a session this browser
    // already had is closed (reason 'destroyed'), so nothing of a previous user carries over.
    const session = startSession(req, { user, roles: user === 'admin' ? ['admin'] : [], ...(lifetime ? { idleTimeout: lifetime } : {}) })
    session.set('idChange', { from: previous ? shortId(previous.id) : null, to: shortId(session.id), how: 'login' })
    res.redirect(303, '/')
  })

  app.post('/regenerate', (req, res) => {
    const session = sessionOf(req)
    if (session !== undefined) {
      const from = shortId(session.id)
      session.regenerate()
      session.set('idChange', { from, to: shortId(session.id), how: 'regenerate' })
    }
    res.redirect(303, '/')
  })

  app.post('/logout', (req, res) => {
    sessionOf(req)?.close()
    res.redirect(303, '/')
  })

  app.get('/stats', (_req, res) => {
    res.json({ engine: manager.engine, ...manager.stats() })
  })

  const metrics = metricsRegistry(manager)
  app.get('/metrics', (_req, res, next) => {
    if (metrics === undefined) {
      res.status(404).type('text/plain').send('/metrics needs prom-client: npm install prom-client\n')
      return
    }
    metrics.metrics().then((text) => res.type(metrics.contentType).send(text), next)
  })

  const isAdmin = (): boolean => manager.current()?.hasRole('admin') === true
  app.get('/admin', (_req, res) => {
    // manager.current() is the request's session in any code the request runs.
    if (!isAdmin()) {
      res.status(403).send(page('Forbidden', '<p>Admins only. <a href="/">Back</a></p>'))
      return
    }
    const { engine, stats, sessions } = snapshot()
    res.send(page('Live sessions', `<p>Engine: <code>${engine}</code>. <a href="/">Back</a></p>
      <h2>stats()</h2><pre id="stats">${escape(JSON.stringify(stats, null, 2))}</pre>
      <h2>Sessions</h2><table><thead><tr><th>user</th><th>idle</th><th>expires in</th><th>id</th></tr></thead>
      <tbody id="sessions">${sessions}</tbody></table>
      <h2>Events, live</h2><ul id="feed"></ul>
      <script>
      const feed = document.getElementById('feed')
      const show = (e) => {
        const li = document.createElement('li')
        li.className = e.type
        li.textContent = new Date(e.at).toISOString().slice(11, 19) + ' ' + e.type + ' ' + (e.user ?? '(anonymous)') + ' ' +
          (e.type === 'regenerate' ? e.oldId + ' → ' + e.id : e.id) + (e.reason ? ' reason: ' + e.reason : '')
        feed.prepend(li)
      }
      const events = new EventSource('/admin/events')
      events.addEventListener('lifecycle', (m) => show(JSON.parse(m.data)))
      events.addEventListener('snapshot', (m) => {
        const s = JSON.parse(m.data)
        document.getElementById('stats').textContent = JSON.stringify(s.stats, null, 2)
        document.getElementById('sessions').innerHTML = s.sessions
      })
      </script>`))
  })

  app.get('/admin/events', (req, res) => {
    if (!isAdmin()) {
      res.status(403).end()
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
    for (const event of feed) res.write(`event: lifecycle\ndata: ${JSON.stringify(event)}\n\n`)
    subscribers.add(res)
    const sendSnapshot = () => res.write(`event: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`)
    sendSnapshot()
    const timer = setInterval(sendSnapshot, 1000)
    req.on('close', () => {
      clearInterval(timer)
      subscribers.delete(res)
    })
  })

  /** Ends the event streams, which would otherwise hold a graceful shutdown open. */
  const endStreams = (): void => {
    for (const res of subscribers) res.end()
    subscribers.clear()
  }
  return Object.assign(app, { endStreams })
}

/**
 * The manager's metrics on a registry of their own (a second demo app in one process, as in the
 * tests, must not collide on prom-client's global one); undefined without prom-client.
 */
function metricsRegistry(manager: SessionManager): DemoRegistry | undefined {
  let prom: { Registry: new () => DemoRegistry }
  try {
    prom = require('prom-client') as typeof prom
  } catch (error) {
    if ((error as { code?: unknown }).code === 'MODULE_NOT_FOUND') return undefined
    throw error
  }
  const registry = new prom.Registry()
  registerSessionMetrics(manager, { registry, name: 'demo' })
  return registry
}

/** The little of prom-client's Registry the demo uses (it type-checks without prom-client). */
interface DemoRegistry extends MetricsRegistry {
  readonly contentType: string
  metrics(): Promise<string>
}

if (require.main === module) {
  const chosen = demoSecret(process.env)
  if ('refusal' in chosen) {
    console.error(chosen.refusal)
    process.exit(1)
  }
  if (chosen.warning !== undefined) console.warn(chosen.warning)
  // Sessions survive restarts, deploys and crashes: they are kept in this file (SESSION_FILE).
  const path = process.env.SESSION_FILE ?? join('var', 'sessions.skdb')
  mkdirSync(dirname(path), { recursive: true })
  const manager = new SessionManager({ idleTimeout: 15 * 60_000, persist: { path } })
  const app = createDemoApp(manager, chosen.secret)
  const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
    console.log(`sessionkeeper demo on http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  })
  // A graceful shutdown: stop accepting requests, let those in flight finish, then save the
  // sessions (close() writes and fsyncs them, and unlocks the file). With nothing left to do the
  // process exits by itself; a SIGTERM listener alone would keep it up (the server still listens).
  const stop = () => {
    server.close(() => manager.close())
    app.endStreams()
    server.closeIdleConnections()
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
