import type { IncomingMessage, ServerResponse } from 'node:http'
import type { SessionManager } from '../manager'
import type { SessionCookieAttributes, SessionCookieOptions } from './cookies'
import { sessionFor, type SessionRequest } from './http'

export type { SessionCookieAttributes, SessionCookieOptions, SessionRequest }

/** Options of `sessionMiddleware`; see {@link SessionCookieOptions}. */
export type SessionMiddlewareOptions = SessionCookieOptions

/**
 * A connect/express middleware over `manager`. For each request it reads the session cookie
 * (`cookieName`, default `'sid'`; signed `<id>.<base64url HMAC-SHA256>` when `secret` is given:
 * the first secret signs, all verify), renews the live session it names, sets `req.session`
 * (Session or undefined) and `req.startSession(init?)`, and runs the rest of the request
 * inside `manager.run(req.session, next)`, so `manager.current()` works in its async code.
 *
 * `manager.current()` reflects the session bound when the request started: after
 * `req.startSession()` on an anonymous request, use `req.session` (on a request that had a
 * session, `startSession` regenerates that same session, so `current()` follows it).
 *
 * `Set-Cookie` is written when the headers go out, only when needed: a new session, a new id
 * (`req.session.regenerate()`, `req.startSession()`), a rolling `cookie.maxAge`, or a cookie to
 * clear (`req.session.close()` / `manager.destroy`, or a rejected cookie). Defaults: HttpOnly,
 * SameSite=Lax, Path=/, Secure on HTTPS (`cookie.secure: 'auto'`, with `trustProxy` for
 * `X-Forwarded-Proto`), no expiry (a browser-session cookie) unless `cookie.maxAge` (ms).
 *
 * A malformed, oversized, duplicated, badly signed, unknown or expired cookie means "no
 * session": the request goes on anonymously, the cookie is cleared and counted in
 * `manager.stats().rejectedCookies`.
 *
 * Types: the middleware is typed for node:http so it fits connect and express alike; cast the
 * request (`req as unknown as SessionRequest`) to read `session` and `startSession`. No global
 * augmentation is made, so it does not clash with `@types/express-session`.
 */
export function sessionMiddleware(
  manager: SessionManager,
  options?: SessionMiddlewareOptions,
): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  const sessions = sessionFor(manager, options)
  return function sessionkeeper(req, res, next) {
    let request: SessionRequest
    try {
      request = sessions.attach(req, res)
    } catch (error) {
      next(error)
      return
    }
    manager.run(request.session, () => next())
  }
}
