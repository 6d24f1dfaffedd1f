/**
 * Review of issue 16 (the native request path): hostile inputs read through the public API on
 * both engines, which must agree.
 */
import test from 'ava'
import Fastify from 'fastify'
import { SessionManager } from '../ts/index'
import { sessionPlugin } from '../ts/integrations/fastify'
import { sessionFor } from '../ts/integrations/http'
import { SECRET } from './http-fixtures'

const ENGINES = ['native', 'js'] as const

function signedCookie(manager: SessionManager, id: string): string {
  const sessions = sessionFor(manager, { secret: SECRET })
  let written: string[] = []
  const res = { req: { headers: {}, socket: {} }, getHeader: () => undefined, setHeader: (_: string, value: string[]) => { written = value } }
  sessions.write(res as never, manager.peek(id))
  return written[0].split(';')[0]
}

// Node joins duplicate Cookie headers into one string, but a request built elsewhere (Fastify's
// inject, a test harness, a proxy library) can carry them as an array. The native read threw
// "expected a header string" (a 500) where the JS path silently read no session.
for (const engine of ENGINES) {
  test(`a Cookie header given as an array reads as the headers joined with '; ' [${engine}]`, async (t) => {
    const manager = new SessionManager({ engine })
    t.teardown(() => manager.close())
    const session = manager.create({ user: 'ann' })
    const cookie = signedCookie(manager, session.id)
    const sessions = sessionFor(manager, { secret: SECRET })
    const req = (header: unknown) => ({ headers: { cookie: header }, socket: {} }) as never
    t.is(sessions.read(req([cookie]))?.id, session.id)
    t.is(sessions.read(req(['theme=dark', cookie]))?.id, session.id)
    t.is(sessions.read(req(['theme=dark', 'lang=en']))?.id, undefined)
    t.is(manager.stats().rejectedCookies, 0)

    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(sessionPlugin, { manager, secret: SECRET })
    app.get('/', async (request) => ({ user: request.session?.user ?? null }))
    const answer = await app.inject({ url: '/', headers: { cookie: ['theme=dark', cookie] as never } })
    t.is(answer.statusCode, 200)
    t.deepEqual(answer.json(), { user: 'ann' })
  })
}
