// fastify.mts with module commonjs, moduleResolution node10 (the subpaths through typesVersions).
import Fastify from 'fastify'
import { SessionManager } from 'sessionkeeper'
import { sessionPlugin } from 'sessionkeeper/fastify'
import { TestClock } from 'sessionkeeper/testing'

declare module 'sessionkeeper/fastify' {
  interface FastifySessionData {
    visits: number
  }
}

const clock = new TestClock()
const manager = clock.track(new SessionManager<{ visits: number }>({ clock: clock.now }))
const app = Fastify()
app.register(sessionPlugin, { manager, secret: 'x'.repeat(32), cookie: { maxAge: 60_000 } })
app.post('/login', async (request) => {
  const session = request.startSession({ user: 'alice', data: { visits: 0 } })
  return { id: session.id }
})
app.get('/', async (request) => {
  const visits: number | undefined = request.session?.get('visits')
  request.session?.set('visits', (visits ?? 0) + 1)
  // @ts-expect-error: visits is a number
  request.session?.set('visits', 'one')
  return { user: request.session?.user ?? null }
})
// @ts-expect-error: the manager is required
app.register(sessionPlugin, { secret: 'x'.repeat(32) })
const closed: number = clock.advance(60_000)
export { app, closed }
