import type { IncomingMessage, ServerResponse } from 'node:http'
import type { SessionInit, SessionManager } from '../manager'
import type { Session } from '../session'
import { checkKnownKeys, checkPlainObject, checkRoles, checkString, checkTimeout } from '../validate'
import { appendSetCookie, SessionCookie, type SessionCookieAttributes, type SessionCookieOptions } from './cookies'

export type { SessionCookieAttributes, SessionCookieOptions }

/** A request after `attach` (or `sessionMiddleware`) has run on it. */
export interface SessionRequest extends IncomingMessage {
  /** The request's live session, or undefined. Updated by `startSession`. */
  session?: Session
  /**
   * Starts a session for this request and returns it. Without one, creates a session from
   * `init`. With one, gives it a new id (session-fixation defence; with `keys: 'caller'` the new
   * id is `init.key`), keeps its data and applies `init` (user, roles, data entries, timeouts).
   * The response's `Set-Cookie` follows either way.
   */
  startSession(init?: SessionInit): Session
}

/** Session cookies of one manager for servers without a framework; see {@link sessionFor}. */
export interface HttpSessions {
  /**
   * Reads the request's session (renewing it), sets `req.session` and `req.startSession`, and
   * makes the response write `Set-Cookie` when its headers go out, only when needed: a new
   * session, a new id (`regenerate`, `startSession`), a rolling `cookie.maxAge`, or a cookie
   * to clear (session closed during the request, or a rejected cookie). Call it once per request,
   * before anything is written.
   */
  attach(req: IncomingMessage, res: ServerResponse): SessionRequest
  /**
   * The live session the request's cookie names (renewed), or undefined. A malformed,
   * oversized, duplicated, badly signed or unknown cookie counts in `stats().rejectedCookies`.
   */
  read(req: IncomingMessage): Session | undefined
  /** Sets the cookie to a live session's id, or clears it for undefined or a closed session. */
  write(res: ServerResponse, session: Session | undefined): void
}

const INIT_KEYS = ['key', 'user', 'roles', 'data', 'idleTimeout', 'absoluteTimeout'] as const

/**
 * Validates `options` once and returns the session cookie helpers of `manager`.
 *
 * ```ts
 * const sessions = sessionFor(manager, { secret: process.env.COOKIE_SECRET })
 * http.createServer((req, res) => {
 *   const { session } = sessions.attach(req, res)
 *   manager.run(session, () => handle(req, res))
 * })
 * ```
 *
 * Signed cookies read `<id>.<base64url HMAC-SHA256 of the id>`; unsigned ones the bare id.
 * Options: `cookieName` (default `'sid'`), `secret` (string or array: the first signs, all
 * verify), `trustProxy` (default false), `cookie: { secure ('auto'), sameSite ('lax'), path
 * ('/'), domain, maxAge (ms, none), httpOnly (true) }`. TypeError/RangeError name the option.
 */
export function sessionFor(manager: SessionManager, options?: SessionCookieOptions): HttpSessions {
  const cookie = new SessionCookie(options)
  return {
    attach: (req, res) => attach(manager, cookie, req, res),
    read: (req) => cookie.read(manager, req).session,
    write: (res, session) => writeCookie(cookie, res, session),
  }
}

/** One-off {@link HttpSessions.read}; options are validated on every call (prefer `sessionFor`). */
export function readSession(manager: SessionManager, req: IncomingMessage, options?: SessionCookieOptions): Session | undefined {
  return new SessionCookie(options).read(manager, req).session
}

/**
 * One-off {@link HttpSessions.write}: sets the cookie to a live session's id, or clears it for
 * undefined or a closed session. Call before the headers are sent; options as for `sessionFor`.
 */
export function writeSessionCookie(res: ServerResponse, session: Session | undefined, options?: SessionCookieOptions): void {
  writeCookie(new SessionCookie(options), res, session)
}

function writeCookie(cookie: SessionCookie, res: ServerResponse, session: Session | undefined): void {
  const value = session === undefined || session.closed ? cookie.serializeClear(res.req) : cookie.serialize(res.req, session.id)
  appendSetCookie(res, value)
}

function attach(manager: SessionManager, cookie: SessionCookie, req: IncomingMessage, res: ServerResponse): SessionRequest {
  const read = cookie.read(manager, req)
  const request = req as SessionRequest
  request.session = read.session
  request.startSession = (init?: SessionInit): Session => {
    const current = request.session
    if (current === undefined || current.closed) {
      const created = manager.create(init)
      // Fail here, not when the headers go out, if a caller key cannot be a cookie value.
      try {
        cookie.serialize(req, created.id)
      } catch (error) {
        created.close()
        throw error
      }
      request.session = created
      return created
    }
    const given = init === undefined ? {} : checkPlainObject('init', init)
    checkKnownKeys('init', given, INIT_KEYS)
    // Everything is checked before the id changes, so a bad init leaves the session as it was.
    const user = given.user === undefined ? undefined : checkString('init.user', given.user)
    const roles = given.roles === undefined ? undefined : checkRoles('init.roles', given.roles)
    const idle = given.idleTimeout === undefined ? undefined : checkTimeout('init.idleTimeout', given.idleTimeout)
    const absolute = given.absoluteTimeout === undefined ? undefined : checkTimeout('init.absoluteTimeout', given.absoluteTimeout)
    const data = given.data === undefined ? {} : checkPlainObject('init.data', given.data)
    const entries = Object.keys(data).map((key) => [key, checkString(`init.data.${key}`, data[key])] as const)
    current.regenerate(given.key as string | undefined)
    if (user !== undefined) current.user = user
    if (roles !== undefined) current.roles = roles
    if (idle !== undefined) current.idleTimeout = idle
    if (absolute !== undefined) current.absoluteTimeout = absolute
    for (const [key, value] of entries) current.set(key, value)
    return current
  }
  const writeHead = res.writeHead as (...args: unknown[]) => ServerResponse
  let written = false
  // Node sends implicit headers (write, end, flushHeaders) through res.writeHead, so this one
  // hook sees every response, at the last moment the headers can change.
  res.writeHead = function (this: ServerResponse, ...args: unknown[]): ServerResponse {
    if (!written) {
      written = true
      const session = request.session
      let value: string | undefined
      if (session !== undefined && !session.closed) {
        if (session.id !== read.id || read.outdated || cookie.rolling) value = cookie.serialize(req, session.id)
      } else if (read.present) {
        value = cookie.serializeClear(req)
      }
      if (value !== undefined) addSetCookie(this, args, value)
    }
    return writeHead.apply(this, args)
  } as ServerResponse['writeHead']
  return request
}

/**
 * Adds `value` to the response's `Set-Cookie`. A `Set-Cookie` in a headers object passed to
 * `writeHead` would replace the response's own, so the cookie joins that one instead.
 */
function addSetCookie(res: ServerResponse, args: unknown[], value: string): void {
  const headers = args.at(-1)
  if (typeof headers === 'object' && headers !== null && !Array.isArray(headers)) {
    const name = Object.keys(headers).find((key) => key.toLowerCase() === 'set-cookie')
    if (name !== undefined) {
      const given = (headers as Record<string, unknown>)[name]
      const list = Array.isArray(given) ? given.map(String) : given === undefined ? [] : [String(given)]
      args[args.length - 1] = { ...headers, [name]: [...list, value] }
      return
    }
  }
  appendSetCookie(res, value)
}
