/**
 * One server of the request-path benchmark (bench/http/request-path.ts), run as a child process:
 *
 *   node --import tsx bench/http/path-server.ts <kind> <sessions>
 *
 * Every kind is express with one route, `GET /`, answering `hello <user>` from the request's
 * session (or `hello anonymous`); the load sends the cookie of a live session on every request,
 * so the figures are the session layer's cost per read, against `bare` (no session middleware:
 * the ceiling). Kinds, each with the defaults of its library (no cookie expiry, so nothing is
 * re-sent on a read):
 *
 * - `bare`: express alone;
 * - `bare-dictionary`: express with one middleware that does only what the session layer does
 *   first to each request on Node 20 and 22, put it in dictionary mode
 *   (ts/integrations/added-properties.ts; nothing on Node 24): the reference that tells the
 *   session layer's own cost from what dictionary mode saves express there;
 * - `native`, `native-no-context`: sessionMiddleware over the native engine, with and without
 *   the AsyncLocalStorage binding (`asyncContext: false`);
 * - `js`: sessionMiddleware over the JsEngine;
 * - `express-session`: express-session with its MemoryStore.
 *
 * It prints one JSON line (port, cookies) once listening, and exits when its stdin closes.
 */
import { randomBytes, createHmac } from 'node:crypto'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import express, { type RequestHandler } from 'express'
import session from 'express-session'
import { sessionData } from '../workload'
import { SessionManager } from '../../ts/index'
import { beforeAddingProperties } from '../../ts/integrations/added-properties'
import { SessionCookie } from '../../ts/integrations/cookies'
import { sessionMiddleware, sessionOf } from '../../ts/integrations/express'

export const PATH_KINDS = ['bare', 'bare-dictionary', 'native', 'native-no-context', 'js', 'express-session'] as const
export type PathKind = (typeof PATH_KINDS)[number]

const SECRET = 'sessionkeeper request-path benchmark secret'
const IDLE_TIMEOUT_MS = 30 * 60_000
const COOKIE_SAMPLE = 1000

export interface Setup {
  middleware: RequestHandler | undefined
  user(req: express.Request): string | undefined
  cookies: string[]
}

export async function setupFor(kind: PathKind, sessions: number): Promise<Setup> {
  const picked = (index: number) => index % Math.max(1, Math.floor(sessions / COOKIE_SAMPLE)) === 0
  const bareCookies = [`sid=${'A'.repeat(22)}.${'A'.repeat(43)}`]
  if (kind === 'bare') return { middleware: undefined, user: () => undefined, cookies: bareCookies }
  if (kind === 'bare-dictionary') {
    const middleware: RequestHandler = (req, _res, next) => {
      beforeAddingProperties(req)
      next()
    }
    return { middleware, user: () => undefined, cookies: bareCookies }
  }
  if (kind === 'express-session') {
    const store = new session.MemoryStore()
    const middleware = session({ store, secret: SECRET, resave: false, saveUninitialized: false })
    const Cookie = session.Cookie as unknown as new (options: object) => session.Cookie
    const cookies: string[] = []
    for (let index = 0; index < sessions; index++) {
      const sid = randomBytes(24).toString('base64url')
      const record = { cookie: new Cookie({ httpOnly: true, path: '/' }), ...sessionData(index) }
      await new Promise<void>((resolve, reject) => store.set(sid, record as never, (error?: unknown) => (error ? reject(error) : resolve())))
      if (picked(index)) {
        const signature = createHmac('sha256', SECRET).update(sid).digest('base64').replace(/=+$/, '')
        cookies.push(`connect.sid=${encodeURIComponent(`s:${sid}.${signature}`)}`)
      }
    }
    const user = (req: express.Request) => {
      const value = (req.session as unknown as Record<string, unknown> | undefined)?.user
      return typeof value === 'string' ? value : undefined
    }
    return { middleware, user, cookies }
  }
  const manager = new SessionManager({ engine: kind === 'js' ? 'js' : 'native', idleTimeout: IDLE_TIMEOUT_MS })
  const middleware = sessionMiddleware(manager, { secret: SECRET, asyncContext: kind !== 'native-no-context' }) as unknown as RequestHandler
  // The cookie value sessionMiddleware writes for an id, from its own signer.
  const signer = new SessionCookie({ secret: SECRET })
  const plainRequest = { secure: false, headers: {}, socket: null } as unknown as IncomingMessage
  const cookies: string[] = []
  for (let index = 0; index < sessions; index++) {
    const created = manager.create({ user: `user-${index}`, data: sessionData(index) })
    if (picked(index)) cookies.push(signer.serialize(plainRequest, created.id).split(';')[0])
  }
  return { middleware, user: (req) => sessionOf(req)?.user, cookies }
}

/**
 * Throws unless every request of a session-reading kind found its session (the bare kinds
 * read none): a benchmark of requests that went anonymous would measure the wrong path.
 */
export function checkCounts(kind: PathKind, counts: { hits: number; misses: number }): void {
  if (!kind.startsWith('bare') && (counts.misses > 0 || counts.hits === 0)) throw new Error(`${kind}: ${counts.misses} requests found no session`)
}

/** The benchmark's express app over `setup`, and its counts of requests that found a session or not. */
export function appFor(setup: Setup): { app: express.Express; counts: { hits: number; misses: number } } {
  const counts = { hits: 0, misses: 0 }
  const app = express()
  if (setup.middleware !== undefined) app.use(setup.middleware)
  app.get('/', (req, res) => {
    const user = setup.user(req)
    if (user === undefined) counts.misses++
    else counts.hits++
    res.send(`hello ${user ?? 'anonymous'}`)
  })
  app.get('/bench-counts', (_req, res) => {
    res.json(counts)
  })
  return { app, counts }
}

async function main(): Promise<void> {
  const [kind, sessionsArg] = process.argv.slice(2)
  if (!(PATH_KINDS as readonly string[]).includes(kind)) throw new Error(`usage: path-server.ts <${PATH_KINDS.join('|')}> <sessions>`)
  const sessions = Number(sessionsArg)
  if (!Number.isSafeInteger(sessions) || sessions < 1) throw new Error(`sessions must be a positive integer, received ${JSON.stringify(sessionsArg)}`)
  const setup = await setupFor(kind as PathKind, sessions)
  const { app } = appFor(setup)
  const server = createServer(app)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port, cookies: setup.cookies })}\n`)
  process.stdin.on('end', () => process.exit(0))
  process.stdin.resume()
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
