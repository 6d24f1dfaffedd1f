// A Fastify app on sessionkeeper/fastify over a RedisSessionManager: FastifySessionBackend says
// so, and request.session is a RedisSession, request.startSession a Promise. Checked by
// __test__/typed-requests.spec.ts (strict, nodenext) in a program of its own, since the
// declaration merging is global.
import Fastify from 'fastify'
import { createClient } from 'redis'
import { RedisSessionManager } from 'sessionkeeper/redis'
import { sessionPlugin } from 'sessionkeeper/fastify'

declare module 'sessionkeeper/fastify' {
  interface FastifySessionBackend {
    manager: 'redis'
  }
  interface FastifySessionData {
    cart: string[]
  }
}

const manager = new RedisSessionManager<{ cart: string[] }>({ client: createClient(), prefix: 'app:' })
const app = Fastify()
app.register(sessionPlugin, { manager, secret: 'x'.repeat(32) })
app.post('/login', async (request) => {
  const session = await request.startSession({ user: 'alice', data: { cart: [] } })
  return { id: session.id }
})
app.post('/cart', async (request) => {
  const cart: string[] | undefined = request.session?.get('cart')
  await request.session?.set('cart', [...(cart ?? []), 'book'])
  // @ts-expect-error: the cart holds strings
  await request.session?.set('cart', [1])
  return { cart: request.session?.get('cart') ?? [] }
})
app.post('/logout', async (request) => ({ closed: (await request.session?.close()) ?? false }))
export { app }
