import { type IncomingMessage, ServerResponse } from 'node:http'
import { beforeAddingProperties } from './added-properties'
import { decodeValue, encodeDataValue, type JsonFields, type JsonValue } from '../data-codec'
import { observeSession, replaceSession, type RequestAttacher, requestAttacher, type SessionObserver } from '../internal'
import type { SessionInit, SessionManager } from '../manager'
import { RedisSessionManager } from '../redis/manager'
import { RedisSession } from '../redis/session'
import { Session } from '../session'
import { checkKnownKeys, checkPlainObject, checkRoles, checkString, checkTimeout } from '../validate'
import {
  appendSetCookie, CookieReader, type CookieReadTarget, SessionCookie, type SessionCookieAttributes, type SessionCookieOptions,
} from './cookies'

export type { SessionCookieAttributes, SessionCookieOptions }

/**
 * What `req.startSession(init)` accepts: a session's init, plus the data keys to carry over.
 * `Data` is the manager's data type.
 */
export interface StartSessionInit<Data extends JsonFields<Data> = Record<string, JsonValue>> extends SessionInit<Data> {
  /**
   * Data keys copied from the request's current session into the new one (an anonymous cart
   * that survives login), each value as it is stored; `init.data` wins over a kept key. User,
   * roles and owned objects are never carried over. Kept values come from whatever session the
   * browser presented (possibly one a third party planted): treat them as client input.
   */
  keep?: (keyof Data & string)[]
}

/** A request after `attach` (or `sessionMiddleware`) has run on it; `Data` is the manager's data type. */
export interface SessionRequest<Data extends JsonFields<Data> = Record<string, JsonValue>> extends IncomingMessage {
  /** The request's live session, or undefined. Updated by `startSession`. */
  session?: Session<Data>
  /**
   * A login: starts a fresh session from `init` alone and returns it. A session the request
   * already had is closed (reason `'destroyed'`); only the data keys listed in `init.keep` are
   * copied over, never its user, roles or objects. `req.session` (and `manager.current()` in
   * code run under `manager.run(() => req.session, …)`, as `sessionMiddleware` does) is the new
   * session from then on, and the response's `Set-Cookie` carries its id. With
   * `keys: 'caller'`, `init.key` is the new key: a key a live session holds or that cannot be a
   * cookie value is refused (SessionExistsError, RangeError) before anything changes. Once the
   * response's headers are out, it (and `regenerate()` on the request's session) throws an Error
   * with code `'ERR_HTTP_HEADERS_SENT'` and changes nothing: the new id could not reach the browser.
   */
  startSession(init?: StartSessionInit<Data>): Session<Data>
}

/** Session cookies of one manager for servers without a framework; see {@link sessionFor}. */
export interface HttpSessions<Data extends JsonFields<Data> = Record<string, JsonValue>> {
  /**
   * Reads the request's session (renewing it), sets `req.session` and `req.startSession`, and
   * makes the response write `Set-Cookie` when its headers go out, for this request's own doing
   * only: the id of a session it started (`startSession`) or regenerated (`req.session.regenerate()`),
   * the same id again for a rolling `cookie.maxAge` or a rotated secret, or a clearing cookie
   * when it closed the session it read (`req.session.close()`). What other requests do to the
   * session never reaches this response, and a cookie naming no live session is ignored, never
   * cleared. Call it once per request, before anything is written; then run the handler under
   * `manager.run(() => req.session, …)` so `manager.current()` follows `startSession`.
   */
  attach(req: IncomingMessage, res: ServerResponse): SessionRequest<Data>
  /**
   * The live session the request's cookie names (renewed), or undefined. A malformed,
   * oversized, badly signed or unknown cookie counts in `stats().rejectedCookies`.
   */
  read(req: IncomingMessage): Session<Data> | undefined
  /** Sets the cookie to a live session's id, or clears it for undefined or a closed session. */
  write(res: ServerResponse, session: Session<Data> | undefined): void
}

/** A request after `attach` of a RedisSessionManager's {@link RedisHttpSessions}. */
export interface RedisSessionRequest<Data extends JsonFields<Data> = Record<string, JsonValue>> extends IncomingMessage {
  /** The request's live session (loaded before the handler runs), or undefined. Updated by `startSession`. */
  session?: RedisSession<Data>
  /**
   * A login, as {@link SessionRequest.startSession}: resolves the new session once Redis holds
   * it, after the request's previous session (if any) is closed everywhere.
   */
  startSession(init?: StartSessionInit<Data>): Promise<RedisSession<Data>>
}

/** {@link HttpSessions} over a RedisSessionManager: the lookup is awaited. */
export interface RedisHttpSessions<Data extends JsonFields<Data> = Record<string, JsonValue>> {
  /** As {@link HttpSessions.attach}; resolves once the session is loaded. Rejects with RedisUnavailableError when Redis is. */
  attach(req: IncomingMessage, res: ServerResponse): Promise<RedisSessionRequest<Data>>
  read(req: IncomingMessage): Promise<RedisSession<Data> | undefined>
  write(res: ServerResponse, session: RedisSession<Data> | undefined): void
}

const INIT_KEYS = ['key', 'user', 'roles', 'data', 'idleTimeout', 'absoluteTimeout', 'keep'] as const

/**
 * Validates `options` once and returns the session cookie helpers of `manager`.
 *
 * ```ts
 * const sessions = sessionFor(manager, { secret: process.env.COOKIE_SECRET })
 * http.createServer((req, res) => {
 *   const request = sessions.attach(req, res)
 *   manager.run(() => request.session, () => handle(request, res))
 * })
 * ```
 *
 * Signed cookies read `<id>.<base64url HMAC-SHA256 of <name>=<id>>` (under a key derived from the
 * secret); unsigned ones the bare id.
 * Options: `cookieName` (default `'sid'`), `secret` (string or array: the first signs and must
 * be at least 32 characters, all verify; required over a `keys: 'caller'` manager, since
 * unsigned a client could name any key), `trustProxy` (default false), `cookie: { secure
 * ('auto'), sameSite ('lax'), path ('/'), domain, maxAge (ms, none), httpOnly (true) }`.
 * TypeError/RangeError name the option.
 */
export function sessionFor<Data extends JsonFields<Data> = Record<string, JsonValue>>(
  manager: RedisSessionManager<Data>, options?: SessionCookieOptions,
): RedisHttpSessions<Data>
// The in-process signature last: `ReturnType<typeof sessionFor>` reads the last overload.
export function sessionFor<Data extends JsonFields<Data> = Record<string, JsonValue>>(
  manager: SessionManager<Data>, options?: SessionCookieOptions,
): HttpSessions<Data>
export function sessionFor<Data extends JsonFields<Data> = Record<string, JsonValue>>(
  manager: SessionManager<Data> | RedisSessionManager<Data>, options?: SessionCookieOptions,
): HttpSessions<Data> | RedisHttpSessions<Data> {
  if (manager instanceof RedisSessionManager) return redisSessionsFor(manager as unknown as RedisSessionManager, options) as unknown as RedisHttpSessions<Data>
  const untyped = manager as unknown as SessionManager
  const http = new HttpCookies(untyped, new CookieReader(untyped, cookieFor(untyped, options)))
  const sessions: HttpSessions<Data> & { [requestAttacher]: RequestAttacher } = {
    attach: (req, res) => http.attach(req, res) as unknown as SessionRequest<Data>,
    read: (req) => http.read(req) as Session<Data> | undefined,
    write: (res, session) => writeCookie(http.reader.cookie, res, session as Session | undefined),
    [requestAttacher]: http,
  }
  return sessions
}

/**
 * One-off {@link HttpSessions.read}; options are validated on every call (prefer `sessionFor`),
 * and over a `keys: 'caller'` manager a `secret` is required (TypeError).
 */
export function readSession<Data extends JsonFields<Data> = Record<string, JsonValue>>(
  manager: SessionManager<Data>, req: IncomingMessage, options?: SessionCookieOptions,
): Session<Data> | undefined {
  const untyped = manager as unknown as SessionManager
  return new HttpCookies(untyped, new CookieReader(untyped, cookieFor(untyped, options))).read(req) as Session<Data> | undefined
}

/**
 * One-off {@link HttpSessions.write}: sets the cookie to a live session's id, or clears it for
 * undefined or a closed session. Call before the headers are sent; options as for `sessionFor`.
 */
export function writeSessionCookie<Data extends JsonFields<Data> = Record<string, JsonValue>>(
  res: ServerResponse, session: Session<Data> | undefined, options?: SessionCookieOptions,
): void {
  writeCookie(new SessionCookie(options), res, session as Session | undefined)
}

function cookieFor(manager: SessionManager, options: SessionCookieOptions | undefined): SessionCookie {
  const cookie = new SessionCookie(options)
  if (manager.keys === 'caller' && !cookie.signed) {
    throw new TypeError("options.secret is required over a keys: 'caller' manager: an unsigned cookie would let a client name any session key (Cookie: sid=user-alice)")
  }
  return cookie
}

function redisSessionsFor(manager: RedisSessionManager, options: SessionCookieOptions | undefined): RedisHttpSessions {
  const cookie = new SessionCookie(options)
  if (manager.keys === 'caller' && !cookie.signed) {
    throw new TypeError("options.secret is required over a keys: 'caller' manager: an unsigned cookie would let a client name any session key (Cookie: sid=user-alice)")
  }
  return {
    attach: (req, res) => attachRedis(manager, cookie, req, res),
    read: async (req) => (await cookie.readAsync(manager, req)).session,
    write: (res, session) => {
      const value = session === undefined || session.closed ? cookie.serializeClear(res.req) : cookie.serialize(res.req, session.id)
      appendSetCookie(res, value)
    },
  }
}

/** {@link HttpCookies.attach} over a RedisSessionManager: the same cookie rules, with the lookup, login, regenerate and close awaited. */
async function attachRedis(manager: RedisSessionManager, cookie: SessionCookie, req: IncomingMessage, res: ServerResponse): Promise<RedisSessionRequest> {
  const read = await cookie.readAsync(manager, req)
  const request = req as RedisSessionRequest
  const state = new RedisRequestState(cookie, req, res, read.session, read.id, read.outdated, read.value)
  read.session?.[observeSession](state)
  beforeAddingProperties(request)
  request.session = read.session
  request.startSession = async (init?: StartSessionInit): Promise<RedisSession> => {
    if (state.settled()) throw headersSentError('req.startSession()')
    const { init: checked, keep } = checkStartInit(cookie, init)
    const previous = request.session !== undefined && !request.session.closed ? request.session : undefined
    const data: Record<string, JsonValue> = Object.create(null)
    for (const key of previous === undefined ? [] : keep) {
      const value = previous?.get(key)
      if (value !== undefined) data[key] = value
    }
    for (const key of Object.keys(checked.data)) data[key] = checked.data[key]
    const created = await manager[replaceSession](previous, { ...checked, data })
    if (previous !== undefined && !previous.closed) await previous.close()
    created[observeSession](state)
    state.issued = created
    state.issuedId = created.id
    request.session = created
    return created
  }
  const writeHead = res.writeHead as (...args: unknown[]) => ServerResponse
  beforeAddingProperties(res)
  res.writeHead = function (this: ServerResponse, ...args: unknown[]): ServerResponse {
    if (!state.written) {
      state.written = true
      const value = state.decide()
      if (value !== undefined) addSetCookie(this, args, value)
    }
    return writeHead.apply(this, args)
  } as ServerResponse['writeHead']
  return request
}

/**
 * One request over a RedisSessionManager, as {@link RequestState} for a SessionManager: what
 * its cookie named and what the request did to sessions, observing its own handles (a
 * `regenerate()` gives the response the new id, its key checked as a cookie value before
 * anything changes; a `close()` of the session the cookie named clears the cookie), which
 * alone decides its `Set-Cookie`. One object per request instead of a closure per hooked method.
 */
class RedisRequestState implements SessionObserver {
  /** The session this request last created or regenerated, and the id it gave it. */
  issued: RedisSession | undefined = undefined
  issuedId: string | undefined = undefined
  /** True once this request closed the session its cookie named. */
  closedRead = false
  /** True once the headers went out through the hook. */
  written = false

  constructor(
    readonly cookie: SessionCookie, readonly req: IncomingMessage, readonly res: ServerResponse,
    readonly read: RedisSession | undefined, readonly readId: string | undefined, readonly outdated: boolean,
    /** The cookie value as received when re-sending it needs no signing (rolling, first secret's current signature). */
    readonly readValue: string | undefined,
  ) {}

  /** Once the headers are out, a new id can no longer reach the browser. */
  settled(): boolean {
    return this.written || this.res.headersSent
  }

  beforeRegenerate(session: object, newKey: unknown): void {
    if (typeof newKey === 'string') this.cookie.checkStorable('newKey', newKey)
    if (this.settled() && !(session as RedisSession).closed) throw headersSentError('session.regenerate()')
  }

  regenerated(session: object, id: string): void {
    this.issued = session as RedisSession
    this.issuedId = id
  }

  closed(session: object): void {
    if (session === this.read) this.closedRead = true
  }

  /** As {@link RequestState.decide}: an id this request issued, else a clear after closing the session read, else the id read again (rolling, outdated). */
  decide(): string | undefined {
    const { cookie, issued, issuedId, read, readId } = this
    if (issued !== undefined && issuedId !== undefined && !issued.closed && issued.id === issuedId) return cookie.serialize(this.req, issuedId)
    if (this.closedRead) return cookie.serializeClear(this.req)
    if (read !== undefined && readId !== undefined && (this.outdated || cookie.rolling) && !read.closed && read.id === readId) {
      return this.readValue === undefined ? cookie.serialize(this.req, readId) : cookie.serializeValue(this.req, this.readValue)
    }
    return undefined
  }
}

function writeCookie(cookie: SessionCookie, res: ServerResponse, session: Session | undefined): void {
  const value = session === undefined || session.closed ? cookie.serializeClear(res.req) : cookie.serialize(res.req, session.id)
  appendSetCookie(res, value)
}

/**
 * The session cookies of one manager's requests, made once by `sessionFor` (or the middleware):
 * the reader and the functions every request shares. A request gets one {@link RequestState},
 * reached from its request under this instance's own key (and from its response through
 * `res.req`), so two middlewares over one response keep apart; nothing else is made per request.
 */
class HttpCookies implements RequestAttacher {
  readonly manager: SessionManager
  readonly reader: CookieReader
  /**
   * Where a request holds its RequestState; a response holds it too only when its `req` is not
   * that request (a hand-made response): every property added to a request or response costs a
   * new hidden class where Node 20 gives each request its own, about 1.5 µs apiece there.
   */
  readonly key: symbol = Symbol('sessionkeeper.request')
  /** `res.writeHead` of every response that may carry a cookie (RequestState.hook): sets it at the last moment headers can change. */
  readonly writeHead: (this: ServerResponse, ...args: unknown[]) => ServerResponse
  /** `req.startSession` of every attached request. */
  readonly startSession: (this: IncomingMessage, init?: StartSessionInit) => Session

  constructor(manager: SessionManager, reader: CookieReader) {
    this.manager = manager
    this.reader = reader
    const key = this.key
    // Node sends implicit headers (write, end, flushHeaders) through res.writeHead, so this one
    // hook sees every response it is put on.
    this.writeHead = function writeHead(this: ServerResponse): ServerResponse {
      const state = stateOf(this, key)
      // Called on another response than the one it was installed on (copied over by some
      // wrapper): nothing of this request to add, and the original is the prototype's.
      if (state === undefined) return ServerResponse.prototype.writeHead.apply(this, arguments as unknown as Parameters<ServerResponse['writeHead']>)
      if (!state.written) {
        state.written = true
        if (state.staged !== undefined) removeSetCookie(this, state.staged)
        const value = state.decide()
        if (value !== undefined) {
          const headers: unknown = arguments[arguments.length - 1]
          if (typeof headers === 'object' && headers !== null) {
            const args: unknown[] = Array.prototype.slice.call(arguments)
            addSetCookie(this, args, value)
            return state.writeHead.apply(this, args)
          }
          appendSetCookie(this, value)
        }
      }
      return state.writeHead.apply(this, arguments as unknown as unknown[])
    }
    this.startSession = function startSession(this: IncomingMessage, init?: StartSessionInit): Session {
      const state = (this as unknown as Record<symbol, RequestState | undefined> | undefined)?.[key]
      if (state === undefined) throw new TypeError('req.startSession(init) must be called on the request (as req.startSession(...)), not detached from it')
      return state.startSession(init)
    }
  }

  /** Reads `req`'s session and hooks `req` and `res`; see {@link HttpSessions.attach}. */
  attach(req: IncomingMessage, res: ServerResponse): SessionRequest {
    const state = new RequestState(this, req, res)
    this.reader.read(req.headers.cookie, state)
    state.read?.[observeSession](state)
    const request = req as SessionRequest & Record<symbol, RequestState>
    const attached = stateOf(res, this.key)
    if (attached !== undefined) {
      // Attached again: a hook already on the response finds this state from now on.
      state.writeHead = attached.writeHead
      state.written = attached.written
      state.hooked = attached.hooked
      state.staging = attached.staging
      state.staged = attached.staged
    }
    beforeAddingProperties(request)
    request[this.key] = state
    if (res.req !== req) (res as ServerResponse & Record<symbol, RequestState | undefined>)[this.key] = state
    request.session = state.read
    request.startSession = this.startSession
    if (state.read !== undefined && (state.outdated || this.reader.cookie.rolling)) state.hook(true)
    return request
  }

  /** The live session `req`'s cookie names (renewed), or undefined; see {@link HttpSessions.read}. */
  read(req: IncomingMessage): Session | undefined {
    const target: CookieReadTarget = { read: undefined, readId: undefined, outdated: false, readValue: undefined }
    this.reader.read(req.headers.cookie, target)
    return target.read
  }
}

/**
 * One request's session state, which alone decides its `Set-Cookie`: what its cookie named and
 * what the request itself did (a login, a regenerate, a close of the session it read). It
 * observes only this request's own handles, so what other requests do never shows here.
 */
class RequestState implements CookieReadTarget, SessionObserver {
  read: Session | undefined = undefined
  readId: string | undefined = undefined
  outdated = false
  readValue: string | undefined = undefined
  /** The session this request last created or regenerated, and the id it gave it. */
  issued: Session | undefined = undefined
  issuedId: string | undefined = undefined
  /** True once this request closed the session its cookie named. */
  closedRead = false
  /** True once the headers went out through the hook. */
  written = false
  /** The response's writeHead before the hook. */
  writeHead: (this: ServerResponse, ...args: unknown[]) => ServerResponse = noWriteHead
  /**
   * True once the response's writeHead is hooked. Only a response that may carry a `Set-Cookie`
   * is: one whose cookie is rolling or outdated, or whose request starts, regenerates or closes
   * a session. Hooking every response (a property set on it) cost ~4 µs a request on Node 20
   * (bench/http/path-inproc.ts), where each response then gets a hidden class of its own.
   */
  hooked = false
  /** True when the hook went over another writeHead wrapper, which may be running (see hook). */
  staging = false
  /** The Set-Cookie value put on the response ahead of writeHead, which the hook takes back. */
  staged: string | undefined = undefined
  readonly #http: HttpCookies
  readonly #req: IncomingMessage
  readonly #res: ServerResponse

  constructor(http: HttpCookies, req: IncomingMessage, res: ServerResponse) {
    this.#http = http
    this.#req = req
    this.#res = res
  }

  /** True when `res` is the response this request's state was attached with. */
  answers(res: ServerResponse): boolean {
    return this.#res === res
  }

  /**
   * Once the headers are out, a new id can no longer reach the browser: a login or regenerate
   * then would close or move the session the browser holds and log it out without a word.
   */
  settled(): boolean {
    return this.written || this.#res.headersSent
  }

  beforeRegenerate(session: object, newKey: unknown): void {
    if (typeof newKey === 'string') this.#http.reader.cookie.checkStorable('newKey', newKey)
    if (this.settled() && !(session as Session).closed) throw headersSentError('session.regenerate()')
  }

  regenerated(session: object, id: string): void {
    this.issued = session as Session
    this.issuedId = id
    this.hook()
  }

  closed(session: object): void {
    if (session === this.read) {
      this.closedRead = true
      this.hook()
    }
  }

  /**
   * Hooks the response's writeHead (as it is now, so a wrapper another middleware put there
   * meanwhile still runs) to add the cookie `decide` makes; nothing once the headers are out.
   */
  hook(atAttach = false): void {
    // Attached again since (the middleware mounted twice), the response's hook finds the later
    // state: that one must hold the writeHead it calls, or the headers never go out.
    const current = stateOf(this.#res, this.#http.key)
    if (current !== undefined && current !== this) return current.hook()
    if (this.settled()) return
    const res = this.#res
    if (!this.hooked) {
      this.hooked = true
      // A wrapper there (on-headers style) may be the writeHead running now, this login or close
      // made by its listener: it then calls the writeHead it found, never this hook. Not at
      // attach, where a wrapper is one put on before and runs after the hook. (A hand-made
      // response may have no header methods: it is left to the hook alone.)
      this.staging = !atAttach && Object.hasOwn(res, 'writeHead') && typeof res.getHeader === 'function'
      this.writeHead = res.writeHead as RequestState['writeHead']
      beforeAddingProperties(res)
      res.writeHead = this.#http.writeHead as ServerResponse['writeHead']
    }
    if (this.staging) {
      // So the cookie goes on the response at once too, and the hook, if it runs, takes it back.
      const value = this.decide()
      if (value === this.staged) return
      if (this.staged !== undefined) removeSetCookie(res, this.staged)
      if (value !== undefined) appendSetCookie(res, value)
      this.staged = value
    }
  }

  startSession(init: StartSessionInit | undefined): Session {
    if (this.settled()) throw headersSentError('req.startSession()')
    const cookie = this.#http.reader.cookie
    const { init: checked, keep } = checkStartInit(cookie, init)
    const request = this.#req as SessionRequest
    const previous = request.session !== undefined && !request.session.closed ? request.session : undefined
    // No prototype, so a kept or given '__proto__' key is data like any other, not dropped.
    const data: Record<string, JsonValue> = Object.create(null)
    for (const key of previous === undefined ? [] : keep) {
      const value = previous?.get(key)
      if (value !== undefined) data[key] = value
    }
    for (const key of Object.keys(checked.data)) data[key] = checked.data[key]
    // The manager checks the init whole before anything changes, then makes the new session
    // first, so a refused init leaves the old one as it was; it closes the old one first only
    // where the new one needs its caller key or its place at maxSessions.
    const created = this.#http.manager[replaceSession](previous, { ...checked, data })
    previous?.close()
    created[observeSession](this)
    this.issued = created
    this.issuedId = created.id
    this.hook()
    request.session = created
    return created
  }

  /**
   * The response's `Set-Cookie`, from what this request did alone: an id it issued that is still
   * its session's id; else a clearing cookie if it closed the session it read; else the id it
   * read again (rolling expiry, rotated secret) if that is still the session's id. Another
   * request's regenerate or close never shows here: its own response carries it. A request that
   * did nothing, with a cookie neither rolling nor outdated, asks the engine nothing.
   */
  decide(): string | undefined {
    const cookie = this.#http.reader.cookie
    const { issued, issuedId, read, readId } = this
    if (issued !== undefined && issuedId !== undefined && !issued.closed && issued.id === issuedId) return cookie.serialize(this.#req, issuedId)
    if (this.closedRead) return cookie.serializeClear(this.#req)
    if (read !== undefined && readId !== undefined && (this.outdated || cookie.rolling) && !read.closed && read.id === readId) {
      return this.readValue === undefined ? cookie.serialize(this.#req, readId) : cookie.serializeValue(this.#req, this.readValue)
    }
    return undefined
  }
}

/**
 * The RequestState `key` of the response `res`: its own when attach gave it one, else its `req`'s
 * if attach was given that response (another response made for the same request is not it).
 */
function stateOf(res: ServerResponse, key: symbol): RequestState | undefined {
  const own = (res as ServerResponse & Record<symbol, RequestState | undefined>)[key]
  if (own !== undefined) return own
  const state = (res.req as (IncomingMessage & Record<symbol, RequestState | undefined>) | undefined)?.[key]
  return state !== undefined && state.answers(res) ? state : undefined
}

/** Takes `value` (once) out of the response's Set-Cookie header. */
function removeSetCookie(res: ServerResponse, value: string): void {
  const existing = res.getHeader('set-cookie')
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing.map(String) : [String(existing)]
  const at = list.indexOf(value)
  if (at < 0) return
  list.splice(at, 1)
  if (list.length === 0) res.removeHeader('set-cookie')
  else res.setHeader('set-cookie', list)
}

function noWriteHead(this: ServerResponse): ServerResponse {
  return this
}

/** Checks `init` whole before anything changes; returns it without `keep`, and `keep`. */
function checkStartInit(cookie: SessionCookie, init: unknown): { init: SessionInit & { data: Record<string, JsonValue> }; keep: string[] } {
  const given = init === undefined ? {} : checkPlainObject('init', init)
  checkKnownKeys('init', given, INIT_KEYS)
  if (given.key !== undefined) cookie.checkStorable('init.key', checkString('init.key', given.key))
  if (given.user !== undefined) checkString('init.user', given.user)
  if (given.roles !== undefined) checkRoles('init.roles', given.roles)
  if (given.idleTimeout !== undefined) checkTimeout('init.idleTimeout', given.idleTimeout)
  if (given.absoluteTimeout !== undefined) checkTimeout('init.absoluteTimeout', given.absoluteTimeout)
  const givenData = given.data === undefined ? {} : checkPlainObject('init.data', given.data)
  // Each value read and checked once, then kept as the copy it will be stored as: a getter in
  // init.data (or inside a value) cannot answer the check one thing and the manager another.
  const data: Record<string, JsonValue> = Object.create(null)
  for (const key of Object.keys(givenData)) data[key] = decodeValue(encodeDataValue(key, givenData[key], true)) as JsonValue
  let keep: string[] = []
  if (given.keep !== undefined) {
    if (!Array.isArray(given.keep)) throw new TypeError(`init.keep must be an array of data keys, received ${typeof given.keep}`)
    keep = given.keep.map((key: unknown, index: number) => checkString(`init.keep[${index}]`, key))
  }
  const { keep: _keep, ...rest } = given
  return { init: { ...(rest as SessionInit), data: data as Record<string, JsonValue> }, keep }
}

/** Thrown, before anything changes, by a login or regenerate once the response's headers are out. */
function headersSentError(what: string): Error {
  return Object.assign(
    new Error(`${what} after the response's headers were sent: the new id could not reach the browser's cookie, so nothing was changed`),
    { code: 'ERR_HTTP_HEADERS_SENT' },
  )
}

/**
 * Adds `value` to the response's `Set-Cookie`. A `Set-Cookie` in the headers passed to
 * `writeHead` (an object, or Node's flat `[name, value, …]` array) would replace the response's
 * own, so the cookie joins that one instead.
 */
function addSetCookie(res: ServerResponse, args: unknown[], value: string): void {
  const headers = args.at(-1)
  if (Array.isArray(headers)) {
    // Node sets (Node 20: later pairs replace earlier ones) or replaces-then-appends (Node 22)
    // the array's names over the response's headers, so every Set-Cookie of the array and the
    // session cookie go in one pair, where the first Set-Cookie was.
    let merged: [unknown, string[]] | undefined
    const pairs: unknown[] = []
    for (let index = 0; index + 1 < headers.length; index += 2) {
      const [name, given] = [headers[index], headers[index + 1]]
      if (typeof name !== 'string' || name.toLowerCase() !== 'set-cookie') {
        pairs.push(name, given)
        continue
      }
      if (merged === undefined) {
        merged = [name, []]
        pairs.push(name, merged[1])
      }
      merged[1].push(...(Array.isArray(given) ? given.map(String) : [String(given)]))
    }
    if (merged !== undefined && headers.length % 2 === 0) {
      merged[1].push(value)
      args[args.length - 1] = pairs
      return
    }
  }
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
