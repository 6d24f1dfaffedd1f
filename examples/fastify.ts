/**
 * Fastify with @fastify/session over sessionkeeper's store: sessions live in the engine (off the
 * JS heap with the native engine) and expire with their cookie. Run:
 *   node --import tsx examples/fastify.ts   (PORT, default 3001)
 */
import Fastify from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import { SessionkeeperStore } from '../ts/integrations/express-session'
import { demoSecret } from './server'

declare module 'fastify' {
  interface Session {
    visits?: number
  }
}

async function main() {
  // SESSION_SECRET, or outside production the demo's named dev-only secret, with a warning.
  const chosen = demoSecret(process.env)
  if ('refusal' in chosen) throw new Error(chosen.refusal)
  if (chosen.warning !== undefined) console.warn(chosen.warning)
  const store = new SessionkeeperStore()
  const app = Fastify()
  await app.register(fastifyCookie)
  await app.register(fastifySession, {
    secret: chosen.secret,
    store,
    cookie: { secure: 'auto', maxAge: 30 * 60_000 },
  })
  app.get('/', async (request) => {
    const visits = (request.session.get('visits') ?? 0) + 1
    request.session.set('visits', visits)
    return { visits, live: store.manager.size, engine: store.manager.engine }
  })
  app.addHook('onClose', async () => store.close())
  const address = await app.listen({ port: Number(process.env.PORT ?? 3001), host: '127.0.0.1' })
  console.log(`sessionkeeper + fastify on ${address}`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
