/**
 * Fastify 5 with sessionkeeper's own plugin (`sessionkeeper/fastify`): request.session,
 * request.startSession and manager.current(), signed cookies with secure defaults. Run:
 *   SESSION_SECRET=<32+ characters> node --import tsx examples/fastify-plugin.ts   (PORT, default 3002)
 */
import Fastify from 'fastify'
import { SessionManager } from '../ts/index'
import { sessionPlugin } from '../ts/integrations/fastify'

async function main(): Promise<void> {
  const secret = process.env.SESSION_SECRET
  if (secret === undefined) throw new Error('set SESSION_SECRET (32 characters or more) to sign the session cookie')

  const manager = new SessionManager({ idleTimeout: 30 * 60_000 })
  const app = Fastify()
  await app.register(sessionPlugin, { manager, secret })

  app.post('/login', async (request) => {
    const { user } = request.body as { user: string }
    const session = request.startSession({ user, data: { visits: 0 } })   // a new id: no fixation
    return { user: session.user }
  })
  app.get('/', async (request) => {
    const session = request.session                                       // renewed, or undefined
    if (session === undefined) return { hello: 'please POST /login' }
    session.set('visits', Number(session.get('visits') ?? 0) + 1)
    return { user: session.user, visits: session.get('visits'), same: manager.current() === session }
  })
  app.post('/logout', async (request) => ({ loggedOut: request.session?.close() ?? false }))
  app.addHook('onClose', async () => manager.close())

  const address = await app.listen({ port: Number(process.env.PORT ?? 3002), host: '127.0.0.1' })
  console.log(`sessionkeeper/fastify on ${address}`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
