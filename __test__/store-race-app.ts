/** An express-session app whose requests of one session overlap as the test decides (store-races specs). */
import express from 'express'
import session from 'express-session'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'

const SECRET = 'a secret of at least thirty-two characters'
export const MONTH = 30 * 24 * 3600_000

/**
 * Whether a stored cookie's originalMaxAge is the "remember me"'s MONTH: express-session works it
 * out from two readings of the clock, so it may come out a millisecond or two short.
 */
export function aboutAMonth(maxAge: number | null | undefined): boolean {
  return typeof maxAge === 'number' && Math.abs(maxAge - MONTH) <= 5
}

/** The sid in an express-session cookie (`connect.sid=s%3A<sid>.<signature>`). */
export function sidOf(cookie: string): string {
  return decodeURIComponent(cookie.split('=')[1]).slice(2).split('.')[0]
}

/**
 * An express-session app whose `/hold/:name` requests load the session, say so, and wait until
 * the test lets them go before they set `name` (or delete it, with `?delete`, or change nothing,
 * with `?read`): two requests of one session then overlap as an app's parallel calls do.
 * `/remember` is a "remember me": a cookie of 30 days. `cookie`: express-session's cookie options.
 */
/**
 * Requests that wait, once they hold their session, until the test lets them go: `wait(name)`
 * in the handler, `hold(url, cookie, name)` in the test.
 */
export class Gates {
  readonly #entered = new Map<string, () => void>()
  readonly #gates = new Map<string, () => void>()
  readonly #arrivals = new Map<string, Promise<void>>()

  /** In the handler: says the request `name` holds its session, and waits for the test. */
  wait(name: string): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#gates.set(name, resolve)
      this.#entered.get(name)?.()
    })
  }

  /** Starts a POST of `url` as `name` and resolves once it holds the session it loaded. */
  async hold(url: string, cookie: string, name: string): Promise<{ release: () => Promise<number> }> {
    let resolve!: () => void
    this.#arrivals.set(name, new Promise<void>((done) => (resolve = done)))
    this.#entered.set(name, resolve)
    const response = fetch(url, { method: 'POST', headers: { cookie } })
    await this.#arrivals.get(name)
    return {
      // The whole response: the framework sends the headers first and ends it once saved.
      release: async () => {
        this.#gates.get(name)!()
        const done = await response
        await done.json()
        return done.status
      },
    }
  }
}

/**
 * An express-session app whose `/hold/:name` requests load the session, say so, and wait until
 * the test lets them go before they set `name` (or delete it, with `?delete`, or change nothing,
 * with `?read`): two requests of one session then overlap as an app's parallel calls do.
 * `/remember` is a "remember me": a cookie of 30 days. `cookie`: express-session's cookie options.
 */
export function racingApp(store: session.Store, cookie: session.CookieOptions = { maxAge: 60_000 }) {
  const gates = new Gates()
  const app = express()
  app.use(session({ store, secret: SECRET, resave: false, saveUninitialized: false, cookie }))
  app.post('/login', (req, res) => {
    Object.assign(req.session, { user: 'ann', cart: ['book'] })
    res.json({ ok: true })
  })
  app.post('/hold/:name', async (req, res) => {
    const name = req.params.name
    await gates.wait(name)
    const data = req.session as unknown as Record<string, unknown>
    if (req.query.delete !== undefined) delete data[name]
    else if (req.query.read === undefined) data[name] = `set by ${name}`
    res.json({ ok: true })
  })
  app.post('/remember', (req, res) => {
    req.session.cookie.maxAge = MONTH
    ;(req.session as unknown as Record<string, unknown>).remember = true
    res.json({ ok: true })
  })
  app.get('/whoami', (req, res) => {
    const { cookie: _cookie, ...data } = req.session as unknown as Record<string, unknown>
    res.json(data)
  })
  app.post('/logout', (req, res, next) => {
    req.session.destroy((error) => (error ? next(error) : res.json({ ok: true })))
  })
  return {
    app,
    /** Starts `/hold/:name` and resolves once it holds the session it loaded. */
    hold: (base: string, cookie: string, name: string, query = '') => gates.hold(`${base}/hold/${name}${query}`, cookie, name),
  }
}

export async function listen(app: express.Express): Promise<{ base: string; server: Server }> {
  const server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

export async function call(base: string, method: string, path: string, cookie: string) {
  const response = await fetch(base + path, { method, headers: cookie === '' ? {} : { cookie } })
  const setCookie = response.headers.get('set-cookie')
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, cookie: setCookie === null ? cookie : setCookie.split(';')[0] }
}
