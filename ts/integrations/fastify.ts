// `sessionkeeper/fastify`: the middleware's behaviour as a Fastify 5 plugin.
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify'
import type { IncomingMessage } from 'node:http'
import type { JsonValue } from '../data-codec'
import type { SessionManager } from '../manager'
import type { RedisSessionManager } from '../redis/manager'
import type { RedisSession } from '../redis/session'
import type { Session as SessionkeeperSession } from '../session'
import type { SessionCookieAttributes, SessionCookieOptions } from './cookies'
import { type RequestAttacher, requestAttacher, runRequest } from '../internal'
import { RedisSessionManager as RedisManagerClass } from '../redis/manager'
import { sessionFor, type SessionRequest, type StartSessionInit } from './http'

export type { SessionCookieAttributes, SessionCookieOptions, StartSessionInit }

/**
 * The session data type of `request.session`, by declaration merging; empty means any key holds
 * any JSON value:
 *
 * ```ts
 * declare module 'sessionkeeper/fastify' {
 *   interface FastifySessionData { visits: number; theme?: 'dark' | 'light' }
 * }
 * ```
 */
export interface FastifySessionData {}

/** `FastifySessionData`, or any JSON by key while it is empty. */
export type FastifyData = keyof FastifySessionData extends never ? Record<string, JsonValue> : FastifySessionData

/**
 * Which manager the app registers, by declaration merging: empty for a `SessionManager`;
 * `{ manager: 'redis' }` for a `RedisSessionManager`, whose sessions are `RedisSession`s and
 * whose `startSession` resolves once Redis holds the new session:
 *
 * ```ts
 * declare module 'sessionkeeper/fastify' {
 *   interface FastifySessionBackend { manager: 'redis' }
 * }
 * ```
 */
export interface FastifySessionBackend {}

/** The type of `request.session` (when there is one), as `FastifySessionBackend` says. */
export type FastifySession = FastifySessionBackend extends { manager: 'redis' } ? RedisSession<FastifyData> : SessionkeeperSession<FastifyData>

/** Options of {@link sessionPlugin}: the manager, and the cookie options of `sessionMiddleware`. */
export interface SessionPluginOptions extends Omit<SessionCookieOptions, 'trustProxy'> {
  /** The SessionManager that keeps the sessions (it stays open when Fastify closes). */
  manager: SessionManager<any> | RedisSessionManager<any>
  /**
   * `true` (default): the handler and its async code run inside `manager.run`, so
   * `manager.current()` is the request's session. `false`: no preHandler hook and no binding
   * (`current()` is undefined in handlers), for apps that read `request.session` only; see
   * `sessionMiddleware`'s `asyncContext` for what it saves.
   */
  asyncContext?: boolean
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's live session (renewed), or undefined. Updated by `startSession`. */
    session: FastifySession | undefined
    /**
     * A login: closes the request's session, if any, and starts a fresh one from `init` alone
     * (`init.keep`: data keys to carry over); the response's `Set-Cookie` carries its id.
     */
    startSession(init?: StartSessionInit<FastifyData>): FastifySessionBackend extends { manager: 'redis' } ? Promise<RedisSession<FastifyData>> : SessionkeeperSession<FastifyData>
  }
}

/** Where the plugin keeps each raw request's attached session state. */
const attachedKey = Symbol('sessionkeeper.request')

type RawRequest = IncomingMessage & { [attachedKey]?: SessionRequest }

/**
 * A Fastify 5 plugin with `sessionMiddleware`'s behaviour: for each request it reads the
 * session cookie (signed when `secret` is given: the first secret signs, all verify), renews the
 * live session it names and sets `request.session` (a Session or undefined) and
 * `request.startSession(init?)`; `manager.current()` is the request's session in the handler and
 * all its async code (from the preHandler hooks on). `Set-Cookie` follows the same per-request
 * rules: only for what this request did (a login, a regenerate, a close of the session it read, a
 * rolling `cookie.maxAge`), so a concurrent request never learns or clears another's id; an
 * unknown or badly signed cookie is ignored, never cleared. Secure defaults: HttpOnly,
 * SameSite=Lax, Path=/, Secure on HTTPS requests (`cookie.secure: 'auto'`, as
 * `request.protocol` says: set Fastify's `trustProxy` behind a proxy).
 *
 * ```ts
 * await app.register(sessionPlugin, { manager, secret: process.env.SESSION_SECRET })
 * app.post('/login', async (request) => { request.startSession({ user: 'alice' }); return 'ok' })
 * ```
 *
 * It does not need @fastify/cookie, and refuses to register beside @fastify/session (both own
 * `request.session`): an Error with code `'ERR_SESSIONKEEPER_FASTIFY_SESSION'`, whichever comes
 * first (registered after this plugin, @fastify/session fails to start with Fastify's
 * FST_ERR_DEC_ALREADY_PRESENT). Register it at the root (it is not encapsulated), once per
 * instance.
 */
export const sessionPlugin: FastifyPluginCallback<SessionPluginOptions> = Object.assign(
  function sessionkeeper(fastify: FastifyInstance, options: SessionPluginOptions, done: (err?: Error) => void): void {
    if (fastify.hasRequestDecorator('session') || fastify.hasRequestDecorator('sessionStore')) {
      done(Object.assign(
        new Error('sessionkeeper/fastify: request.session is already decorated (by @fastify/session, or this plugin registered twice); use one session plugin per Fastify instance'),
        { code: 'ERR_SESSIONKEEPER_FASTIFY_SESSION' },
      ))
      return
    }
    if (typeof options !== 'object' || options === null) {
      done(new TypeError('sessionkeeper/fastify: options must be an object with a manager'))
      return
    }
    const { manager, asyncContext, ...cookieOptions } = options
    if (asyncContext !== undefined && typeof asyncContext !== 'boolean') {
      done(new TypeError(`sessionkeeper/fastify: options.asyncContext must be a boolean, received ${asyncContext === null ? 'null' : typeof asyncContext}`))
      return
    }
    if (typeof manager !== 'object' || manager === null || typeof manager.run !== 'function') {
      done(new TypeError(`sessionkeeper/fastify: options.manager must be a SessionManager, received ${manager === null ? 'null' : typeof manager}`))
      return
    }
    if ('trustProxy' in cookieOptions) {
      done(new TypeError("sessionkeeper/fastify: options.trustProxy is not used: set Fastify's own trustProxy, which request.protocol (and so cookie.secure: 'auto') follows"))
      return
    }
    // The in-process manager attaches at once, the Redis one resolves a Promise (awaited below).
    let sessions: { attach(req: IncomingMessage, res: FastifyReply['raw']): unknown }
    try {
      sessions = manager instanceof RedisManagerClass
        ? sessionFor(manager, cookieOptions)
        : (sessionFor(manager as SessionManager, cookieOptions) as unknown as Record<typeof requestAttacher, RequestAttacher>)[requestAttacher]
    } catch (error) {
      done(error as Error)
      return
    }
    const state = (request: FastifyRequest): SessionRequest => {
      const attached = (request.raw as RawRequest)[attachedKey]
      if (attached === undefined) throw new TypeError('sessionkeeper/fastify: no session state on this request (it was answered before the plugin\'s onRequest hook ran)')
      return attached
    }
    fastify.decorateRequest('session', {
      getter(this: FastifyRequest) {
        return (this.raw as RawRequest)[attachedKey]?.session
      },
    })
    fastify.decorateRequest('startSession', function (this: FastifyRequest, init?: StartSessionInit) {
      return state(this).startSession(init)
    })
    fastify.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, next: (err?: Error) => void) => {
      const raw = request.raw as RawRequest
      // `cookie.secure: 'auto'` reads `req.secure` first, as under express: here Fastify's
      // request.protocol decides, with Fastify's trustProxy.
      if (!('secure' in raw)) Object.defineProperty(raw, 'secure', { configurable: true, get: () => request.protocol === 'https' })
      let attached: unknown
      try {
        attached = sessions.attach(raw, reply.raw)
      } catch (error) {
        next(error as Error)
        return
      }
      // A manager whose lookup is asynchronous (Redis) resolves the request once loaded.
      if (isThenable(attached)) {
        attached.then((loaded) => {
          raw[attachedKey] = loaded
          next()
        }, next)
        return
      }
      raw[attachedKey] = attached as SessionRequest
      next()
    })
    // The handler runs synchronously from the last preHandler's callback, so binding here makes
    // current() follow the request through the handler and everything it awaits; a body parsed
    // before (stream events) runs in the socket's context, which is why this is not onRequest.
    if (asyncContext === false) {
      done()
      return
    }
    if (manager instanceof RedisManagerClass) {
      fastify.addHook('preHandler', (request: FastifyRequest, _reply: FastifyReply, next: (err?: Error) => void) => {
        const raw = request.raw as RawRequest
        manager.run(() => raw[attachedKey]?.session as never, () => next())
      })
    } else {
      const inProcess = manager as SessionManager
      fastify.addHook('preHandler', (request: FastifyRequest, _reply: FastifyReply, next: (err?: Error) => void) => {
        // The raw request is what attach returned: current() reads its session each time.
        inProcess[runRequest](request.raw as SessionRequest, next as () => void)
      })
    }
    done()
  },
  {
    // What fastify-plugin sets: the decorators and hooks apply to the whole instance, not an
    // encapsulated child, and Fastify checks the version range.
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'sessionkeeper',
    [Symbol.for('plugin-meta')]: { name: 'sessionkeeper', fastify: '5.x' },
  },
)

function isThenable(value: unknown): value is PromiseLike<SessionRequest> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}
