/**
 * One app over a RedisSessionManager, served through express + `sessionMiddleware` or plain
 * node:http + `sessionFor`: the routes the Redis HTTP specs and the cluster workers call.
 * `GET /` describes the session; `POST /login?user=` starts one; `POST /logout` closes it;
 * `POST /set?key=&value=` writes; `POST /regenerate` moves it; `POST /hang` writes and never
 * answers. Redis failures answer 503 with the error's code.
 */
import express from 'express'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { sessionMiddleware } from '../ts/integrations/express'
import { type RedisSessionRequest, sessionFor } from '../ts/integrations/http'
import type { RedisSessionManager } from '../ts/redis/index'

export const SECRET = 'a signing secret of 32+ characters, for tests'

async function route(manager: RedisSessionManager, request: RedisSessionRequest, res: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://x')
  const query = url.searchParams
  let session = request.session
  switch (url.pathname) {
    case '/login':
      session = await request.startSession({ user: query.get('user') ?? 'alice', data: { n: 0 } })
      break
    case '/logout':
      await session?.close()
      break
    case '/set':
      if (session !== undefined) await session.set(query.get('key') ?? 'k', query.get('value') ?? '')
      break
    case '/regenerate':
      await session?.regenerate()
      break
    case '/hang':
      // Writes, then never answers: the cluster spec kills the worker here, mid-request.
      if (session !== undefined) await session.set('pending', 'written before the kill')
      process.send?.({ hanging: process.pid })
      return
    default:
      break
  }
  const live = session !== undefined && !session.closed ? session : undefined
  const body = JSON.stringify({
    pid: process.pid,
    id: live?.id ?? null,
    user: live?.user ?? null,
    data: live === undefined ? {} : Object.fromEntries(live.keys().map((key) => [key, live.get(key)])),
    current: manager.current()?.id ?? null,
  })
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(body)
}

function fail(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  res.writeHead(503, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ code: (error as { code?: unknown }).code ?? null, message: String((error as Error).message) }))
}

export function redisApp(manager: RedisSessionManager, stack: 'express' | 'http'): Server {
  if (stack === 'express') {
    const app = express()
    app.use(sessionMiddleware(manager, { secret: SECRET }))
    app.all('/{*path}', (req, res, next) => {
      route(manager, req as unknown as RedisSessionRequest, res).catch(next)
    })
    app.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => fail(res, error))
    return createServer(app)
  }
  const sessions = sessionFor(manager, { secret: SECRET })
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    sessions.attach(req, res).then(
      (request) => manager.run(() => request.session, () => route(manager, request, res)),
    ).catch((error: unknown) => fail(res, error))
  })
}
