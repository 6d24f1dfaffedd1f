import type { IncomingMessage, ServerResponse } from 'node:http'
import type { JsonFields, JsonValue } from '../data-codec'
import type { SessionManager } from '../manager'
import { type RequestAttacher, requestAttacher, runRequest } from '../internal'
import { checkPlainObject } from '../validate'
import type { Session } from '../session'
import type { SessionCookieAttributes, SessionCookieOptions } from './cookies'
import { RedisSessionManager } from '../redis/manager'
import { type RedisSessionRequest, sessionFor, type SessionRequest, type StartSessionInit } from './http'

export type { RedisSessionRequest, SessionCookieAttributes, SessionCookieOptions, SessionRequest, StartSessionInit }

/** Options of `sessionMiddleware`: the cookie options ({@link SessionCookieOptions}) and `asyncContext`. */
export interface SessionMiddlewareOptions extends SessionCookieOptions {
  /**
   * `true` (default): each request runs inside `manager.run(() => req.session, next)`, so
   * `manager.current()` is the request's session in all its async code. `false`: no binding;
   * `current()` is undefined in handlers, and each request saves an `AsyncLocalStorage.run`
   * (about 10% of a hello-world express server's throughput on Node 20; about nothing on
   * Node 24, whose AsyncLocalStorage is built on AsyncContextFrame). For apps that read the
   * session from `req` only.
   */
  asyncContext?: boolean
}

/**
 * A connect/express middleware over `manager`. For each request it reads the session cookie
 * (`cookieName`, default `'sid'`; signed `<id>.<base64url HMAC-SHA256 of <name>=<id>>` when `secret` is given:
 * the first secret signs and must be at least 32 characters, all verify), renews the live
 * session it names, sets `req.session` (Session or undefined) and `req.startSession(init?)`,
 * and (unless `asyncContext: false`) runs the rest of the request inside `manager.run(() => req.session, next)`, so
 * `manager.current()` is the request's session in all its async code, including after
 * `req.startSession()` (a login: the old session is closed, a fresh one starts from `init`
 * alone, `init.keep` naming the data keys to carry over).
 *
 * `Set-Cookie` is written when the headers go out, only for what this request did: the id of a
 * session it started or regenerated (`req.startSession()`, `req.session.regenerate()`), the same
 * id again for a rolling `cookie.maxAge` or a rotated secret, or a clearing cookie when it closed
 * the session its cookie named (`req.session.close()`). A concurrent request that read the old id
 * never learns the new one. Defaults: HttpOnly, SameSite=Lax, Path=/, Secure on HTTPS as express
 * decides it (`req.secure`, with express's `trust proxy`; `__Host-`/`__Secure-` names always),
 * no expiry (a browser-session cookie) unless `cookie.maxAge` (ms).
 *
 * A malformed, oversized, badly signed, unknown or expired cookie means "no session": the
 * request goes on anonymously and the cookie is counted in `manager.stats().rejectedCookies`,
 * but never cleared (clearing could erase the cookie a concurrent login just set). Other
 * cookies in the header are not judged, however many or large.
 *
 * Over a `keys: 'caller'` manager a `secret` is required (TypeError otherwise): unsigned, a
 * client could name any key.
 *
 * Types: the middleware is typed for node:http so it fits connect and express alike. In a
 * handler, `sessionOf<Data>(req)` and `startSession<Data>(req, init)` read and start the
 * request's session with no cast; apps without `@types/express-session` may instead import
 * `sessionkeeper/express/types` once, which declares `req.session` and `req.startSession` on
 * express's `Request`. This module makes no global augmentation, so it does not clash with
 * `@types/express-session`, and two managers with different data types can serve one app.
 */
export function sessionMiddleware<Data extends JsonFields<Data> = Record<string, JsonValue>>(
  manager: SessionManager<Data> | RedisSessionManager<Data>,
  options?: SessionMiddlewareOptions,
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  const { asyncContext, cookieOptions } = splitOptions(options)
  if (manager instanceof RedisSessionManager) return redisMiddleware(manager, cookieOptions, asyncContext)
  const untyped = manager as unknown as SessionManager
  const http = (sessionFor(untyped, cookieOptions) as unknown as Record<typeof requestAttacher, RequestAttacher>)[requestAttacher]
  if (!asyncContext) {
    return function sessionkeeper(req, res, next) {
      try {
        http.attach(req, res)
      } catch (error) {
        next(error)
        return
      }
      next()
    }
  }
  return function sessionkeeper(req, res, next) {
    try {
      http.attach(req, res)
    } catch (error) {
      next(error)
      return
    }
    // Bound to the request itself: current() reads req.session, so it follows startSession.
    untyped[runRequest](req as SessionRequest, next)
  }
}

/** `asyncContext` checked and taken out; the rest goes to the cookie's own checks. */
function splitOptions(options: SessionMiddlewareOptions | undefined): { asyncContext: boolean; cookieOptions: SessionCookieOptions } {
  if (options === undefined) return { asyncContext: true, cookieOptions: {} }
  const { asyncContext, ...cookieOptions } = checkPlainObject('options', options) as SessionMiddlewareOptions
  if (asyncContext !== undefined && typeof asyncContext !== 'boolean') {
    throw new TypeError(`options.asyncContext must be a boolean, received ${asyncContext === null ? 'null' : typeof asyncContext}`)
  }
  return { asyncContext: asyncContext ?? true, cookieOptions }
}

/**
 * The session `sessionMiddleware` attached to `req` (renewed, or started by `startSession`), or
 * undefined for an anonymous request: `req.session` typed with the manager's `Data`, with no
 * cast and no global augmentation, so it works beside `@types/express-session` (whose
 * `req.session` is another type) and in apps that use `sessionkeeper/express/types`.
 *
 * ```ts
 * app.get('/', (req, res) => {
 *   const session = sessionOf<ShopData>(req)   // Session<ShopData> | undefined
 *   res.send(session ? `hello ${session.user}` : 'please log in')
 * })
 * ```
 *
 * Throws a TypeError when the middleware has not run on `req` (it was mounted after the route,
 * or on another router): reading no session there would look like an anonymous request.
 */
export function sessionOf<Data extends JsonFields<Data> = Record<string, JsonValue>>(req: IncomingMessage): Session<Data> | undefined {
  return attached<Data>(req, 'sessionOf').session
}

/**
 * `req.startSession(init)`, typed: a login (the request's session, if any, is closed; a fresh one
 * starts from `init` alone, `init.keep` naming the data keys to carry over), returned. Throws a
 * TypeError when `sessionMiddleware` has not run on `req`.
 */
export function startSession<Data extends JsonFields<Data> = Record<string, JsonValue>>(
  req: IncomingMessage, init?: StartSessionInit<Data>,
): Session<Data> {
  return attached<Data>(req, 'startSession').startSession(init)
}

function attached<Data extends JsonFields<Data>>(req: IncomingMessage, caller: string): SessionRequest<Data> {
  const request = req as Partial<SessionRequest<Data>> | null
  if (typeof request !== 'object' || request === null || typeof request.startSession !== 'function') {
    throw new TypeError(`${caller}(req): sessionMiddleware has not run on this request (mount it with app.use before the routes that read sessions)`)
  }
  return request as SessionRequest<Data>
}

/**
 * The middleware over a RedisSessionManager: the session is loaded (near cache, else one round
 * trip) before `next()` runs; `req.startSession()` and the session's changes return Promises. When
 * Redis is unavailable the request goes to `next(err)` with the RedisUnavailableError (`code`
 * `'ERR_REDIS_UNAVAILABLE'`): express answers 500 unless an error handler says otherwise.
 */
function redisMiddleware<Data extends JsonFields<Data>>(
  manager: RedisSessionManager<Data>, options: SessionCookieOptions, asyncContext: boolean,
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  const sessions = sessionFor(manager, options)
  return function sessionkeeper(req, res, next) {
    sessions.attach(req, res).then(
      (request: RedisSessionRequest<Data>) => (asyncContext ? manager.run(() => request.session, () => next()) : next()),
      next,
    )
  }
}
