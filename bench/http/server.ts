/**
 * One server of the HTTP benchmark, run as a child process so that each server has a process
 * (heap, event loop, JIT state) of its own:
 *
 *   node --import tsx bench/http/server.ts <kind> <sessions>
 *
 * It builds an express app for `kind`, fills its session store with `sessions` live sessions
 * (~200 bytes of data each, as in the store benchmarks), listens on 127.0.0.1 on a free port and
 * prints one JSON line, {@link ServerReady}: the port and the Cookie header values of a sample of
 * live sessions. Every kind shares the secret, the 30-minute rolling idle timeout and the routes:
 *
 * - `GET /`: reads `user` from the session, answers `hello <user>`;
 * - `POST /cart`: writes one value into the session;
 * - `GET /public`: touches no session beyond what the middleware itself does;
 * - `GET /bench-counts`: how many requests on the two session routes found their session (with
 *   its user) and how many did not, so the runner can prove the load hit live sessions.
 *
 * The process exits when its stdin closes, so it never outlives the runner that spawned it.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import express, { type RequestHandler } from 'express'
import session, { type CookieOptions, type Store } from 'express-session'
import createMemoryStore from 'memorystore'
import type { HttpServerKind } from '../results-schema'
import { sessionData } from '../workload'
import { HTTP_SERVER_KINDS, type ServerReady } from './kinds'
import { SessionManager } from '../../ts/index'
import { sessionMiddleware, type SessionRequest } from '../../ts/integrations/express'
import { SessionkeeperStore } from '../../ts/integrations/express-session'
import { SessionCookie } from '../../ts/integrations/cookies'

/** Most cookies handed to the load generator: enough to spread the load over many sessions. */
const COOKIE_SAMPLE = 2000
const SECRET = 'sessionkeeper http benchmark secret'
/** The idle timeout of every server: 30 minutes, renewed by every request of the session. */
const IDLE_TIMEOUT_MS = 30 * 60_000
const MIDDLEWARE_COOKIE = 'sid'
const EXPRESS_SESSION_COOKIE = 'connect.sid'
/** express-session's cookie; `maxAge` makes it expire, and `rolling: true` re-sends it on every response. */
const EXPRESS_SESSION_COOKIE_OPTIONS: CookieOptions = { maxAge: IDLE_TIMEOUT_MS, httpOnly: true, path: '/', sameSite: 'lax' }

/** The session operations the shared handlers need, whatever holds the session. */
interface SessionAccess {
  /** The request's session user, or undefined when the request has no live session. */
  user(req: express.Request): string | undefined
  /** Writes `cart` into the request's session; false when the request has no live session. */
  writeCart(req: express.Request, value: string): boolean
}

/** A configured server: its session middleware, how handlers reach sessions, how to fill it. */
interface SessionSetup {
  middleware: RequestHandler
  access: SessionAccess
  /** Creates `count` live sessions and returns the Cookie header values of `sample` of them. */
  fill(count: number, sample: number): Promise<string[]>
}

/** Indices spread evenly over `count` sessions, so the sampled sessions are not neighbours. */
function sampleIndices(count: number, sample: number): Set<number> {
  const picked = new Set<number>()
  const size = Math.min(count, sample)
  for (let k = 0; k < size; k++) picked.add(Math.floor((k * count) / size))
  return picked
}

/** sessionMiddleware over a manager of the given engine. */
function middlewareSetup(engine: 'native' | 'js'): SessionSetup {
  const manager = new SessionManager({ engine, idleTimeout: IDLE_TIMEOUT_MS })
  // cookie.maxAge makes the cookie rolling, like express-session's `rolling: true` below.
  const middleware = sessionMiddleware(manager, { cookieName: MIDDLEWARE_COOKIE, secret: SECRET, cookie: { maxAge: IDLE_TIMEOUT_MS } })
  const sessionOf = (req: express.Request) => (req as unknown as SessionRequest).session
  return {
    middleware: middleware as unknown as RequestHandler,
    access: {
      user: (req) => sessionOf(req)?.user,
      writeCart: (req, value) => {
        const current = sessionOf(req)
        if (current === undefined) return false
        current.set('cart', value)
        return true
      },
    },
    fill: async (count, sample) => {
      const picked = sampleIndices(count, sample)
      const cookies: string[] = []
      for (let index = 0; index < count; index++) {
        const created = manager.create({ user: `user-${index}`, data: sessionData(index) })
        if (picked.has(index)) cookies.push(`${MIDDLEWARE_COOKIE}=${signMiddlewareCookie(created.id)}`)
      }
      return cookies
    },
  }
}

/** The middleware's own signer (its current signature, not 0.1.0's), for the cookies handed out. */
const middlewareSigner = new SessionCookie({ cookieName: MIDDLEWARE_COOKIE, secret: SECRET })
const plainRequest = { secure: false, headers: {}, socket: null } as unknown as IncomingMessage

/** The value sessionMiddleware writes for `id`: `<id>.<base64url HMAC-SHA256 of sid=<id>>` under its derived key. */
function signMiddlewareCookie(id: string): string {
  return middlewareSigner.serialize(plainRequest, id).split(';')[0].slice(MIDDLEWARE_COOKIE.length + 1)
}

/**
 * The value express-session reads: `s:<sid>.<signature>` percent-encoded, the signature being
 * cookie-signature's base64 (not base64url) HMAC-SHA256 of the sid without its `=` padding.
 */
function signExpressSessionCookie(sid: string): string {
  const signature = createHmac('sha256', SECRET).update(sid).digest('base64').replace(/=+$/, '')
  return encodeURIComponent(`s:${sid}.${signature}`)
}

/** express-session over `store`, configured as alike to the middleware as its options allow. */
function expressSessionSetup(store: Store): SessionSetup {
  const middleware = session({
    store,
    secret: SECRET,
    name: EXPRESS_SESSION_COOKIE,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie: EXPRESS_SESSION_COOKIE_OPTIONS,
  })
  // express-session keeps session fields as plain properties of req.session.
  const fieldsOf = (req: express.Request) => req.session as unknown as Record<string, unknown> | undefined
  // The types of express-session declare no constructor arguments for Cookie, but it takes the
  // cookie options (it is how express-session itself builds one for each new session).
  const Cookie = session.Cookie as unknown as new (options: CookieOptions) => session.Cookie
  return {
    middleware,
    access: {
      user: (req) => {
        const user = fieldsOf(req)?.user
        return typeof user === 'string' ? user : undefined
      },
      writeCart: (req, value) => {
        const fields = fieldsOf(req)
        if (typeof fields?.user !== 'string') return false
        fields.cart = value
        return true
      },
    },
    fill: async (count, sample) => {
      const picked = sampleIndices(count, sample)
      const cookies: string[] = []
      for (let index = 0; index < count; index++) {
        // express-session's own id format: 24 random bytes, base64url (what uid-safe makes).
        const sid = randomBytes(24).toString('base64url')
        // The record express-session hands a store: its Cookie (serialised by its toJSON) and the fields.
        const record = { cookie: new Cookie(EXPRESS_SESSION_COOKIE_OPTIONS), ...sessionData(index) }
        await new Promise<void>((resolve, reject) => store.set(sid, record, (error?: unknown) => (error ? reject(error) : resolve())))
        if (picked.has(index)) cookies.push(`${EXPRESS_SESSION_COOKIE}=${signExpressSessionCookie(sid)}`)
      }
      return cookies
    },
  }
}

function setupFor(kind: HttpServerKind): SessionSetup {
  switch (kind) {
    case 'express-bare':
      return {
        middleware: (_req, _res, next) => next(),
        access: { user: () => undefined, writeCart: () => false },
        fill: async (_count, sample) => Array.from({ length: Math.min(sample, 100) }, (_, index) => `sid=bare-${index}`),
      }
    case 'middleware-native':
      return middlewareSetup('native')
    case 'middleware-js':
      return middlewareSetup('js')
    case 'express-session-memory':
      return expressSessionSetup(new session.MemoryStore())
    case 'express-session-memorystore': {
      const MemoryStore = createMemoryStore(session)
      // memorystore prunes expired entries on this period (its README's advice is to set it);
      // ten minutes never fires within a benchmark run, so the figures show serving only.
      return expressSessionSetup(new MemoryStore({ checkPeriod: 10 * 60_000 }))
    }
    case 'express-session-sessionkeeper': {
      const manager = new SessionManager({ engine: 'native', keys: 'caller', idleTimeout: IDLE_TIMEOUT_MS })
      return expressSessionSetup(new SessionkeeperStore({ manager }) as unknown as Store)
    }
  }
}

function buildApp(access: SessionAccess, middleware: RequestHandler) {
  const counts = { hits: 0, misses: 0 }
  let written = 0
  const app = express()
  app.use(middleware)
  app.get('/', (req, res) => {
    const user = access.user(req)
    if (user === undefined) counts.misses++
    else counts.hits++
    res.send(`hello ${user ?? 'anonymous'}`)
  })
  app.post('/cart', (req, res) => {
    written++
    // About the size of the cart that sessionData wrote, so sessions keep their ~200 bytes.
    const ok = access.writeCart(req, `sku-${written % 9973}:3,sku-${written % 7919}:1;updated=${Date.now()}`)
    if (ok) counts.hits++
    else counts.misses++
    res.send(ok ? 'saved' : 'no session')
  })
  app.get('/public', (_req, res) => {
    res.send('public')
  })
  app.get('/bench-counts', (_req, res) => {
    res.json(counts)
  })
  return app
}

async function main(): Promise<void> {
  const [kind, sessionsArg] = process.argv.slice(2)
  if (!HTTP_SERVER_KINDS.includes(kind as HttpServerKind)) {
    throw new Error(`usage: server.ts <${HTTP_SERVER_KINDS.join('|')}> <sessions>; received kind ${JSON.stringify(kind)}`)
  }
  const sessions = Number(sessionsArg)
  if (!Number.isSafeInteger(sessions) || sessions < 1) throw new Error(`sessions must be a positive integer, received ${JSON.stringify(sessionsArg)}`)
  const setup = setupFor(kind as HttpServerKind)
  const cookies = await setup.fill(sessions, COOKIE_SAMPLE)
  const server = createServer(buildApp(setup.access, setup.middleware))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const ready: ServerReady = { port: (server.address() as AddressInfo).port, cookies }
  process.stdout.write(`${JSON.stringify(ready)}\n`)
  // The runner holds our stdin open; when it goes away (even killed), we go too.
  process.stdin.on('end', () => process.exit(0))
  process.stdin.resume()
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
