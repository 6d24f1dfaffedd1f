/** A @fastify/session app whose requests of one session overlap as the test decides (store-races-fastify specs). */
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import Fastify from 'fastify'
import type { AddressInfo } from 'node:net'
import type { SessionkeeperStore } from '../ts/integrations/express-session'
import { Gates } from './store-race-app'

const SECRET = 'a secret of at least thirty-two characters'

/**
 * As store-race-app.ts's `racingApp`, over @fastify/session (its defaults: `rolling: true`, so
 * every request saves its whole session, changed or not). `/hold/:name` loads the session, says
 * so, and waits for the test before it sets `name` (or deletes it, with `?delete`, or changes
 * nothing, with `?read`).
 */
export async function racingFastify(store: SessionkeeperStore) {
  const gates = new Gates()
  const app = Fastify()
  await app.register(fastifyCookie)
  await app.register(fastifySession, { secret: SECRET, store, saveUninitialized: false, cookie: { secure: false, maxAge: 60_000 } })
  const data = (request: { session: unknown }) => request.session as Record<string, unknown>
  app.post('/login', async (request) => {
    Object.assign(data(request), { user: 'ann', cart: ['book'] })
    return { ok: true }
  })
  app.post<{ Params: { name: string }; Querystring: Record<string, string> }>('/hold/:name', async (request) => {
    const { name } = request.params
    await gates.wait(name)
    if (request.query.delete !== undefined) delete data(request)[name]
    else if (request.query.read === undefined) data(request)[name] = `set by ${name}`
    return { ok: true }
  })
  app.get('/whoami', async (request) => {
    const { cookie: _cookie, ...rest } = JSON.parse(JSON.stringify(request.session)) as Record<string, unknown>
    return rest
  })
  app.post('/logout', async (request) => {
    await request.session.destroy()
    return { ok: true }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return {
    base,
    close: () => app.close(),
    /** Starts `/hold/:name` and resolves once it holds the session it loaded. */
    hold: (cookie: string, name: string, query = '') => gates.hold(`${base}/hold/${name}${query}`, cookie, name),
  }
}
