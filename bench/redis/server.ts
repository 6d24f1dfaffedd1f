/**
 * One server process of the Redis benchmark (bench/redis/run.ts starts two per kind, sharing
 * one redis-server):
 *
 *   node --import tsx bench/redis/server.ts <kind> <redis url> <prefix>
 *
 * Kinds: `bare-express` (no session middleware at all: the ceiling of the same express app on
 * the same machine in the same run; a request with a Cookie header counts as a hit),
 * `redis-middleware` (sessionMiddleware + RedisSessionManager), `redis-middleware-no-context` (the
 * same with `asyncContext: false`: no manager.run per request, as express-session has none),
 * `connect-redis`
 * (express-session + connect-redis), `redis-store` (express-session + SessionkeeperStore in Redis
 * mode). Routes: `POST /login` (a session with a user and ~200 bytes of data), `GET /` (reads the
 * user), `POST /cart` (writes one value), `GET /public` (no session), `POST /logout`,
 * `GET /bench-counts` (requests that found their session, and that did not; requests served and
 * the process's CPU time in µs, for CPU per request, which a loaded machine distorts far less
 * than req/s). Prints one JSON
 * line `{ port }` when listening; exits when its stdin closes.
 */
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import inspector from 'node:inspector'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { RedisStore } from 'connect-redis'
import express, { type RequestHandler } from 'express'
import session, { type Store } from 'express-session'
import { createClient } from 'redis'
import { sessionMiddleware, type RedisSessionRequest } from '../../ts/integrations/express'
import { SessionkeeperStore } from '../../ts/integrations/express-session'
import { RedisSessionManager } from '../../ts/redis/index'
import { sessionData } from '../workload'

export const REDIS_BENCH_KINDS = ['bare-express', 'redis-middleware', 'redis-middleware-no-context', 'connect-redis', 'redis-store'] as const
export type RedisBenchKind = (typeof REDIS_BENCH_KINDS)[number]

const SECRET = 'sessionkeeper redis benchmark secret, 32+ chars'
const IDLE_TIMEOUT_MS = 30 * 60_000

interface Access {
  middleware: RequestHandler
  login(req: express.Request, index: number): Promise<void>
  user(req: express.Request): string | undefined
  writeCart(req: express.Request, value: string): Promise<boolean>
  logout(req: express.Request): Promise<void>
}

function middlewareAccess(client: ReturnType<typeof createClient>, prefix: string, asyncContext: boolean): Access {
  const manager = new RedisSessionManager({ client, prefix, idleTimeout: IDLE_TIMEOUT_MS })
  const sessionOf = (req: express.Request) => (req as unknown as RedisSessionRequest).session
  return {
    middleware: sessionMiddleware(manager, { secret: SECRET, cookie: { maxAge: IDLE_TIMEOUT_MS }, asyncContext }) as unknown as RequestHandler,
    login: async (req, index) => {
      const { user, ...data } = sessionData(index)
      await (req as unknown as RedisSessionRequest).startSession({ user, data })
    },
    user: (req) => sessionOf(req)?.user,
    writeCart: async (req, value) => (await sessionOf(req)?.set('cart', value)) === true,
    logout: async (req) => {
      await sessionOf(req)?.close()
    },
  }
}

function expressSessionAccess(store: Store): Access {
  const fieldsOf = (req: express.Request) => req.session as unknown as Record<string, unknown> | undefined
  return {
    middleware: session({
      store, secret: SECRET, resave: false, saveUninitialized: false, rolling: true,
      cookie: { maxAge: IDLE_TIMEOUT_MS, httpOnly: true, path: '/', sameSite: 'lax' },
    }),
    login: async (req, index) => {
      Object.assign(req.session, sessionData(index))
    },
    user: (req) => {
      const user = fieldsOf(req)?.user
      return typeof user === 'string' ? user : undefined
    },
    writeCart: async (req, value) => {
      const fields = fieldsOf(req)
      if (typeof fields?.user !== 'string') return false
      fields.cart = value
      return true
    },
    logout: (req) => new Promise<void>((resolve, reject) => req.session.destroy((error) => (error ? reject(error) : resolve()))),
  }
}

/** No sessions: what express alone serves, so the others' figures have a ceiling measured beside them. */
function bareAccess(): Access {
  return {
    middleware: (_req, _res, next) => next(),
    login: async () => {},
    user: (req) => (req.headers.cookie === undefined ? undefined : 'cookie'),
    writeCart: async (req) => req.headers.cookie !== undefined,
    logout: async () => {},
  }
}

function accessFor(kind: RedisBenchKind, client: ReturnType<typeof createClient>, prefix: string): Access {
  switch (kind) {
    case 'bare-express':
      return bareAccess()
    case 'redis-middleware':
      return middlewareAccess(client, prefix, true)
    case 'redis-middleware-no-context':
      return middlewareAccess(client, prefix, false)
    case 'connect-redis':
      return expressSessionAccess(new RedisStore({ client, prefix: `${prefix}sess:` }))
    case 'redis-store':
      return expressSessionAccess(new SessionkeeperStore({ redis: client, prefix }) as unknown as Store)
  }
}

async function main(): Promise<void> {
  const [kind, url, prefix] = process.argv.slice(2)
  if (!REDIS_BENCH_KINDS.includes(kind as RedisBenchKind)) throw new Error(`usage: server.ts <${REDIS_BENCH_KINDS.join('|')}> <redis url> <prefix>`)
  const client = createClient({ url })
  client.on('error', () => {})
  await client.connect()
  const access = accessFor(kind as RedisBenchKind, client, prefix)
  const counts = { hits: 0, misses: 0, requests: 0 }
  let written = 0
  let logins = 0
  const app = express()
  app.use((_req, _res, next) => {
    counts.requests++
    next()
  })
  app.use(access.middleware)
  app.post('/login', (req, res, next) => {
    access.login(req, logins++).then(() => res.send('in'), next)
  })
  app.get('/', (req, res) => {
    const user = access.user(req)
    if (user === undefined) counts.misses++
    else counts.hits++
    res.send(`hello ${user ?? 'anonymous'}`)
  })
  app.post('/cart', (req, res, next) => {
    written++
    access.writeCart(req, `sku-${written % 9973}:3,sku-${written % 7919}:1;updated=${Date.now()}`).then((ok) => {
      if (ok) counts.hits++
      else counts.misses++
      res.send(ok ? 'saved' : 'no session')
    }, next)
  })
  app.get('/public', (_req, res) => {
    res.send('public')
  })
  app.post('/logout', (req, res, next) => {
    access.logout(req).then(() => res.send('out'), next)
  })
  // BENCH_CPU_PROF: the runner profiles the mix alone (start before it, stop after it).
  const profileDir = process.env.BENCH_CPU_PROF
  if (profileDir !== undefined) {
    const profiler = new inspector.Session()
    profiler.connect()
    app.post('/bench-profile/start', (_req, res) => {
      profiler.post('Profiler.enable', () => profiler.post('Profiler.start', () => res.send('started')))
    })
    app.post('/bench-profile/stop', (_req, res) => {
      profiler.post('Profiler.stop', (error, result) => {
        if (error === null) writeFileSync(join(profileDir, `${kind}-${process.pid}.cpuprofile`), JSON.stringify(result.profile))
        res.send('stopped')
      })
    })
  }
  app.get('/bench-counts', (_req, res) => {
    const cpu = process.cpuUsage()
    res.json({ ...counts, cpuMicros: cpu.user + cpu.system })
  })
  const server = createServer(app)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`)
  process.stdin.on('end', () => process.exit(0))
  process.stdin.resume()
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
