/** A @fastify/session app over a SessionkeeperStore whose requests of one session overlap as the test decides (store-races-fastify specs). */
import fastifyCookie from '@fastify/cookie'
import type fastifySession from '@fastify/session'
import Fastify from 'fastify'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import type { SessionkeeperStore } from '../ts/integrations/express-session'
import { Gates, MONTH } from './store-race-app'

export const SECRET = 'a secret of at least thirty-two characters'

type Data = Record<string, unknown>

export interface RacingFastifyOptions {
  rolling?: boolean
  saveUninitialized?: boolean
  cookie?: Record<string, unknown>
  /**
   * @fastify/session itself (loaded only when not given), or a copy of it: a bundled one, which
   * no module cache holds.
   */
  plugin?: unknown
}

/**
 * A @fastify/session app (`rolling` by default: every request saves its whole session, changed
 * or not). `/hold/:name` loads the session, says so, and waits for the test before it sets `name`
 * (or deletes it, with `?delete`, or changes nothing, with `?read`); `/op/:name?op=` does one of
 * the operations listed at its route once let go; `/park` waits for `unpark()`.
 */
export async function racingFastify(store: SessionkeeperStore, options: RacingFastifyOptions = {}) {
  const gates = new Gates()
  const app = Fastify()
  await app.register(fastifyCookie)
  const plugin = (options.plugin ?? createRequire(__filename)('@fastify/session')) as typeof fastifySession
  await app.register(plugin, {
    secret: SECRET,
    store,
    saveUninitialized: options.saveUninitialized ?? false,
    rolling: options.rolling ?? true,
    cookie: { secure: false, ...(options.cookie ?? { maxAge: 60_000 }) },
  })
  const data = (request: { session: unknown }) => request.session as Data
  app.post<{ Body: string }>('/login', async (request) => {
    Object.assign(data(request), { user: 'ann', cart: ['book'] })
    return { ok: true }
  })
  // Sets `name` at once (or deletes it with ?delete); `?save` saves by hand first.
  // A session holding `kb` KiB of data (a cached profile, a draft).
  app.post<{ Params: { kb: string } }>('/big/:kb', async (request) => {
    Object.assign(data(request), { user: 'ann', draft: 'x'.repeat(Number(request.params.kb) * 1024) })
    return { ok: true }
  })
  app.post<{ Params: { name: string }; Querystring: Record<string, string> }>('/set/:name', async (request) => {
    const { name } = request.params
    if (request.query.delete !== undefined) delete data(request)[name]
    else data(request)[name] = request.query.value ?? `set by ${name}`
    if (request.query.save !== undefined) await request.session.save()
    return { ok: true }
  })
  // A "remember me": 30 days, saved by hand (a cookie change alone is not a change to @fastify/session).
  app.post('/remember', async (request) => {
    request.session.cookie.maxAge = MONTH
    await request.session.save()
    return { ok: true }
  })
  app.post<{ Params: { name: string }; Querystring: Record<string, string> }>('/hold/:name', async (request) => {
    const { name } = request.params
    await gates.wait(name)
    if (request.query.delete !== undefined) delete data(request)[name]
    else if (request.query.read === undefined) data(request)[name] = `set by ${name}`
    return { ok: true }
  })
  // Waits until `release()`: a request of its own session in flight (other users' traffic).
  let parked!: () => void
  let parking = new Promise<void>((resolve) => (parked = resolve))
  app.get('/park', async () => {
    await parking
    return { ok: true }
  })
  // Held, then runs `?op=`: save2 (sets name, saves, sets name2, saves), regenerate, reload, date, nested, ctor.
  app.post<{ Params: { name: string }; Querystring: Record<string, string> }>('/op/:name', async (request) => {
    const { name } = request.params
    await gates.wait(name)
    const op = request.query.op
    if (op === 'save2') {
      data(request)[name] = 'one'
      await request.session.save()
      data(request)[name + '2'] = 'two'
      await request.session.save()
    } else if (op === 'regenerate') {
      await request.session.regenerate()
      Object.assign(data(request), { user: 'bob' })
    } else if (op === 'reload') {
      await request.session.reload()
      data(request)[name] = `set by ${name}`
    } else if (op === 'date') {
      data(request)[name] = new Date(0)
    } else if (op === 'nested') {
      data(request)[name] = { cookie: { maxAge: 5, expires: null }, sessionId: 'x', encryptedSessionId: 'y', __proto__: null }
    } else if (op === 'oversize') {
      // A save refused (a draft too big for the store), then the app saves a smaller one.
      data(request).draft = 'x'.repeat(64 * 1024)
      try {
        await request.session.save()
      } catch {
        delete data(request).draft
        data(request)[name] = 'saved without the draft'
        await request.session.save()
      }
    } else if (op === 'ctor') {
      data(request)['constructor' as string] = 'not a function'
      data(request)[name] = 'ctor'
    }
    return { ok: true }
  })
  app.get('/whoami', async (request) => {
    const { cookie: _cookie, ...rest } = JSON.parse(JSON.stringify(request.session)) as Data
    return rest
  })
  app.post('/logout', async (request) => {
    await request.session.destroy()
    return { ok: true }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  return {
    app,
    base,
    close: () => app.close(),
    /** Lets every `/park` request go. */
    unpark: () => {
      parked()
      parking = new Promise<void>((resolve) => (parked = resolve))
    },
    /** Logs `count` other users in, in-process: their cookies. */
    users: async (count: number) => {
      const cookies: string[] = []
      for (let i = 0; i < count; i++) {
        const response = await app.inject({ method: 'POST', url: '/login' })
        const set = response.headers['set-cookie']
        cookies.push(String(Array.isArray(set) ? set[0] : set).split(';')[0])
      }
      return cookies
    },
    hold: (cookie: string, name: string, query = '') => gates.hold(`${base}/hold/${name}${query}`, cookie, name),
    /** Starts `/op/:name?op=` and resolves once it holds the session it loaded. */
    holdOp: (cookie: string, name: string, op: string) => gates.hold(`${base}/op/${name}?op=${op}`, cookie, name),
  }
}
