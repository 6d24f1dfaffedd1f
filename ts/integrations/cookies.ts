import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { recordRejectedCookie } from '../internal'
import type { SessionManager } from '../manager'
import type { Session } from '../session'
import { checkChoice, checkInteger, checkKnownKeys, checkPlainObject } from '../validate'

/** Attributes of the session cookie. Every field is optional. */
export interface SessionCookieAttributes {
  /**
   * `'auto'` (default): `Secure` on HTTPS requests. Under express, express decides
   * (`req.secure`, which follows its `trust proxy` setting); elsewhere a TLS socket, or with
   * `trustProxy` the `X-Forwarded-Proto` value of the trusted hop. `true`: always; `false`:
   * never. A `__Host-` or `__Secure-` cookie name always gets `Secure` (`false` is refused).
   */
  secure?: 'auto' | boolean
  /** `'lax'` (default), `'strict'` or `'none'` (`'none'` needs `secure` other than `false`). */
  sameSite?: 'lax' | 'strict' | 'none'
  /** Cookie path; default `'/'` (the only one a `__Host-` name accepts). */
  path?: string
  /** Cookie domain; default none (host-only cookie; a `__Host-` name accepts no domain). */
  domain?: string
  /**
   * Lifetime of the cookie in ms. Default none: a browser-session cookie with neither `Expires`
   * nor `Max-Age`. When set, the cookie is rolling: every response for a live session sends it
   * again with a fresh expiry.
   */
  maxAge?: number
  /** `HttpOnly` (default `true`). */
  httpOnly?: boolean
}

/** Options shared by `sessionMiddleware` and the node:http helpers. Every field is optional. */
export interface SessionCookieOptions {
  /**
   * Name of the session cookie; default `'sid'`. An RFC 6265 token. A `__Host-` prefix (Secure,
   * `Path=/`, no `Domain`) stops sibling subdomains from planting or shadowing the cookie.
   */
  cookieName?: string
  /**
   * Signs the cookie with HMAC-SHA256 when given (required over a `keys: 'caller'` manager). The
   * first secret signs and must be at least 32 characters; every secret verifies, so a new
   * secret can be put first while the old one still accepts existing cookies (an older secret
   * shorter than 32 characters is accepted, with one warning, so rotating away from it logs no
   * one out).
   */
  secret?: string | string[]
  /**
   * For `cookie.secure: 'auto'` outside express: how many proxies in front of the server to
   * trust (`true` is 1). `X-Forwarded-Proto` is then read from the value the outermost trusted
   * proxy wrote (that many from the right), never from values a client put before it. Default
   * `false` (0). Under express, set express's `trust proxy` instead: its `req.secure` decides.
   */
  trustProxy?: boolean | number
  /** Attributes of the cookie. */
  cookie?: SessionCookieAttributes
}

/** What a request's Cookie header says about the session. */
export interface CookieRead {
  /** The live session it names (renewed), or undefined. */
  session: Session | undefined
  /** That session's id as the cookie carried it, or undefined. */
  id: string | undefined
  /** True when the cookie verified under a secret other than the first: it should be signed again. */
  outdated: boolean
}

/** @internal What `readAsync` needs of a manager whose lookups are Promises. */
export interface AsyncLookups<S> {
  readonly keys: 'random' | 'caller'
  get(id: string): Promise<S | undefined>
  has(id: string): Promise<boolean>
  [recordRejectedCookie](): void
}

/** Longest session cookie value read (characters); a longer one names no session. */
export const MAX_COOKIE_VALUE = 4096
/**
 * Most session cookies (pairs with the session cookie's name) judged in one header; a header
 * with more names no session.
 */
export const MAX_SESSION_COOKIES = 8
/** Shortest signing secret, as @fastify/session requires. */
export const MIN_SECRET_LENGTH = 32
/** Most proxies `trustProxy` may name. */
const MAX_PROXY_HOPS = 32

const KNOWN = ['cookieName', 'secret', 'trustProxy', 'cookie'] as const
const KNOWN_ATTRIBUTES = ['secure', 'sameSite', 'path', 'domain', 'maxAge', 'httpOnly'] as const
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** RFC 6265 cookie-octets: visible ASCII except `"`, `,`, `;` and `\`. */
const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+$/
const PATH = /^\/[\x20-\x3A\x3C-\x7E]*$/
const DOMAIN = /^\.?[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/
/** Length of a base64url HMAC-SHA256 without padding. */
const SIGNATURE_LENGTH = 43
const EXPIRED = 'Thu, 01 Jan 1970 00:00:00 GMT'
/** Encodes signatures for the timing-safe compare (they are ASCII: base64url). */
const ascii = new TextEncoder()
const NO_SESSION: CookieRead = Object.freeze({ session: undefined, id: undefined, outdated: false })

let shortSecretWarned = false

const describe = (value: unknown): string =>
  typeof value === 'string' ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
    : value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : String(value)

/**
 * The session cookie's codec: validated options, reading (parse, verify, look up) and writing
 * (`Set-Cookie` values). Shared by `sessionMiddleware` and the node:http helpers.
 *
 * Signed cookie format: `<id>.<signature>`, the signature being the base64url (no padding)
 * HMAC-SHA256 of `<cookie name>=<id>` under a key derived from the secret (see {@link signingKey}),
 * so that no other signer sharing the secret (cookie-parser, @fastify/cookie, express-session,
 * another cookie name) makes a value this one accepts. Unsigned: the id alone. Values are written raw (ids
 * are base64url or hex), never percent-encoded, and read raw: no percent-decoding.
 */
export class SessionCookie {
  readonly name: string
  readonly #secrets: string[]
  /** The key each secret signs with, derived from it: see {@link signingKey}. */
  readonly #keys: KeyObject[]
  readonly #proxyHops: number
  readonly #secure: 'auto' | boolean
  readonly #attributes: string
  readonly #maxAge: number | undefined

  constructor(options: SessionCookieOptions | undefined, label = 'options') {
    const given = options === undefined ? {} : checkPlainObject(label, options)
    checkKnownKeys(label, given, KNOWN)
    this.name = given.cookieName === undefined ? 'sid' : checkToken(`${label}.cookieName`, given.cookieName)
    this.#secrets = given.secret === undefined ? [] : checkSecrets(`${label}.secret`, given.secret)
    this.#keys = this.#secrets.map(signingKey)
    this.#proxyHops = given.trustProxy === undefined ? 0 : checkHops(`${label}.trustProxy`, given.trustProxy)
    const cookieLabel = `${label}.cookie`
    const cookie = given.cookie === undefined ? {} : checkPlainObject(cookieLabel, given.cookie)
    checkKnownKeys(cookieLabel, cookie, KNOWN_ATTRIBUTES)
    // Browsers match the prefixes without regard to case, so a `__host-` name is held to them too.
    const prefix = /^__(host|secure)-/i.exec(this.name)?.[1].toLowerCase()
    const secure = cookie.secure === undefined ? 'auto' : checkSecure(`${cookieLabel}.secure`, cookie.secure)
    if (prefix !== undefined && secure === false) {
      throw new RangeError(`${cookieLabel}.secure false is refused for ${label}.cookieName ${describe(this.name)}: browsers drop a __${prefix === 'host' ? 'Host' : 'Secure'}- cookie without Secure`)
    }
    const sameSite = cookie.sameSite === undefined ? 'lax'
      : checkChoice(`${cookieLabel}.sameSite`, cookie.sameSite, ['lax', 'strict', 'none'] as const)
    if (sameSite === 'none' && secure === false) {
      throw new RangeError(`${cookieLabel}.sameSite 'none' needs ${cookieLabel}.secure 'auto' or true (browsers drop SameSite=None cookies without Secure)`)
    }
    const path = cookie.path === undefined ? '/' : checkPattern(`${cookieLabel}.path`, cookie.path, PATH, "a path starting with '/' without ';' or control characters")
    const domain = cookie.domain === undefined ? undefined : checkPattern(`${cookieLabel}.domain`, cookie.domain, DOMAIN, 'a domain name')
    if (prefix === 'host' && path !== '/') {
      throw new RangeError(`${cookieLabel}.path must be '/' for ${label}.cookieName ${describe(this.name)} (a __Host- cookie), received ${describe(path)}`)
    }
    if (prefix === 'host' && domain !== undefined) {
      throw new RangeError(`${cookieLabel}.domain must be absent for ${label}.cookieName ${describe(this.name)} (a __Host- cookie is host-only), received ${describe(domain)}`)
    }
    this.#maxAge = cookie.maxAge === undefined ? undefined : checkInteger(`${cookieLabel}.maxAge`, cookie.maxAge, 1000, 400 * 24 * 3600_000)
    const httpOnly = cookie.httpOnly === undefined ? true : checkBoolean(`${cookieLabel}.httpOnly`, cookie.httpOnly)
    this.#secure = prefix === undefined ? secure : true
    this.#attributes = `; Path=${path}${domain === undefined ? '' : `; Domain=${domain}`}${httpOnly ? '; HttpOnly' : ''}` +
      `; SameSite=${sameSite === 'lax' ? 'Lax' : sameSite === 'strict' ? 'Strict' : 'None'}`
  }

  /** True when a cookie with an expiry is configured: it must be re-sent to move the expiry. */
  get rolling(): boolean {
    return this.#maxAge !== undefined
  }

  /** True when cookies are signed. */
  get signed(): boolean {
    return this.#secrets.length > 0
  }

  /**
   * Reads the session cookie of `req` and looks its id up with `manager.get` (which renews).
   * Only pairs named like the session cookie are judged: other cookies, however many or large,
   * change nothing. A value that is malformed, over {@link MAX_COOKIE_VALUE}, badly signed or
   * names no live session is ignored. When the name occurs more than once (a cookie of a parent
   * domain or another path beside ours), the one value naming a live session is used; two live
   * sessions, or more than {@link MAX_SESSION_COOKIES} values, give none. A request that carried
   * the cookie and got no session is counted in `manager.stats().rejectedCookies`.
   */
  read(manager: SessionManager, req: IncomingMessage): CookieRead {
    const values = findCookies(req.headers.cookie, this.name)
    if (values.length === 0) return NO_SESSION
    // Cookies signed by 0.1.0 (the bare id's HMAC under the secret itself) still verify where a
    // signature guards nothing an unguessable random id does not; never over caller keys.
    const legacy = manager.keys === 'random'
    if (values.length === 1) {
      const verified = this.#verify(values[0], legacy)
      const session = verified < 0 ? undefined : manager.get(this.#idOf(values[0]))
      if (session !== undefined) return { session, id: session.id, outdated: verified > 0 }
    } else if (values.length <= MAX_SESSION_COOKIES) {
      const chosen = this.#choose(manager, values, legacy)
      const session = chosen === undefined ? undefined : manager.get(this.#idOf(chosen.value))
      if (chosen !== undefined && session !== undefined) return { session, id: session.id, outdated: chosen.secret > 0 }
    }
    manager[recordRejectedCookie]()
    return NO_SESSION
  }

  /**
   * @internal {@link read} over a manager whose lookups are Promises (RedisSessionManager): the
   * same rules, the same counting of rejected cookies.
   */
  async readAsync<S extends { id: string }>(manager: AsyncLookups<S>, req: IncomingMessage): Promise<{ session: S | undefined; id: string | undefined; outdated: boolean }> {
    const values = findCookies(req.headers.cookie, this.name)
    if (values.length === 0) return NO_SESSION as { session: undefined; id: undefined; outdated: false }
    if (values.length === 1) {
      const verified = this.#verify(values[0], manager.keys === 'random')
      const session = verified < 0 ? undefined : await manager.get(this.#idOf(values[0]))
      if (session !== undefined) return { session, id: session.id, outdated: verified > 0 }
    } else if (values.length <= MAX_SESSION_COOKIES) {
      let chosen: { value: string; secret: number; id: string } | undefined
      let ambiguous = false
      for (const value of values) {
        const secret = this.#verify(value, manager.keys === 'random')
        if (secret < 0) continue
        const id = this.#idOf(value)
        if (chosen?.id === id || !(await manager.has(id))) continue
        if (chosen !== undefined) {
          ambiguous = true
          break
        }
        chosen = { value, secret, id }
      }
      const session = chosen === undefined || ambiguous ? undefined : await manager.get(chosen.id)
      if (chosen !== undefined && session !== undefined) return { session, id: session.id, outdated: chosen.secret > 0 }
    }
    manager[recordRejectedCookie]()
    return NO_SESSION as { session: undefined; id: undefined; outdated: false }
  }

  /**
   * Throws a RangeError naming `label` unless `id` can be stored in the cookie. Called before a
   * session takes a caller key, so a bad key fails where it is given, never as headers go out.
   */
  checkStorable(label: string, id: string): void {
    if (!COOKIE_VALUE.test(id) || id.length > MAX_COOKIE_VALUE - SIGNATURE_LENGTH - 1) {
      throw new RangeError(`${label} ${describe(id)} cannot be a session cookie value: it needs 1 to ${MAX_COOKIE_VALUE - SIGNATURE_LENGTH - 1} RFC 6265 cookie characters (visible ASCII except '"', ',', ';' and '\\')`)
    }
  }

  /** A `Set-Cookie` value that stores `id` (signed when secrets are configured). */
  serialize(req: IncomingMessage, id: string): string {
    this.checkStorable('session id', id)
    const value = this.#secrets.length === 0 ? id : `${id}.${this.#sign(0, id)}`
    const expiry = this.#maxAge === undefined ? ''
      : `; Max-Age=${Math.floor(this.#maxAge / 1000)}; Expires=${new Date(Date.now() + this.#maxAge).toUTCString()}`
    return `${this.name}=${value}${expiry}${this.#attributes}${this.#isSecure(req) ? '; Secure' : ''}`
  }

  /** A `Set-Cookie` value that removes the cookie. */
  serializeClear(req: IncomingMessage): string {
    return `${this.name}=; Max-Age=0; Expires=${EXPIRED}${this.#attributes}${this.#isSecure(req) ? '; Secure' : ''}`
  }

  /** Of several values, the one naming a live session (peeked: nothing is renewed), if exactly one does. */
  #choose(manager: SessionManager, values: string[], legacy: boolean): { value: string; secret: number } | undefined {
    let chosen: { value: string; secret: number; id: string } | undefined
    for (const value of values) {
      const secret = this.#verify(value, legacy)
      if (secret < 0) continue
      const id = this.#idOf(value)
      if (chosen?.id === id || !manager.has(id)) continue
      if (chosen !== undefined) return undefined
      chosen = { value, secret, id }
    }
    return chosen
  }

  #idOf(value: string): string {
    return this.#secrets.length === 0 ? value : value.slice(0, value.lastIndexOf('.'))
  }

  /** The signature of `id` in this cookie under secret `index`. */
  #sign(index: number, id: string): string {
    return createHmac('sha256', this.#keys[index]).update(`${this.name}=${id}`, 'utf8').digest('base64url')
  }

  /**
   * Index of the secret whose signature `value` carries (0 when unsigned cookies are used), or -1.
   * With `legacy`, a 0.1.0 signature (the id's HMAC under the secret itself) counts too.
   */
  #verify(value: string, legacy: boolean): number {
    if (value.length > MAX_COOKIE_VALUE || !COOKIE_VALUE.test(value)) return -1
    if (this.#secrets.length === 0) return 0
    const dot = value.lastIndexOf('.')
    if (dot <= 0 || value.length - dot - 1 !== SIGNATURE_LENGTH) return -1
    const id = value.slice(0, dot)
    const given = ascii.encode(value.slice(dot + 1))
    let matched = -1
    // Every secret is tried (no early exit), so timing does not tell which one matched.
    this.#secrets.forEach((secret, index) => {
      let ok = timingSafeEqual(given, ascii.encode(this.#sign(index, id)))
      if (legacy) ok = timingSafeEqual(given, ascii.encode(legacySign(secret, id))) || ok
      if (ok && matched < 0) matched = index
    })
    return matched
  }

  #isSecure(req: IncomingMessage): boolean {
    if (this.#secure !== 'auto') return this.#secure
    // express's request says what express decided, with its `trust proxy` setting.
    const decided = (req as { secure?: unknown }).secure
    if (typeof decided === 'boolean') return decided
    if ((req.socket as TLSSocket | null)?.encrypted === true) return true
    if (this.#proxyHops === 0) return false
    const header = req.headers['x-forwarded-proto']
    if (header === undefined) return false
    // Each proxy that appends adds its value on the right; values further left are the client's.
    const values = (Array.isArray(header) ? header.join(',') : header).split(',')
    return trimSpaceAndTab(values[Math.max(0, values.length - this.#proxyHops)]).toLowerCase() === 'https'
  }
}

/** Adds a `Set-Cookie` value to a response, keeping the ones already set. */
export function appendSetCookie(res: { getHeader(name: string): unknown; setHeader(name: string, value: string[]): unknown }, cookie: string): void {
  const existing = res.getHeader('set-cookie')
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing.map(String) : [String(existing)]
  list.push(cookie)
  res.setHeader('set-cookie', list)
}

/**
 * The raw values of every pair named `name` in a Cookie header, in order. Pairs are split on
 * `;`, the name ends at the first `=`, and only spaces and tabs around names and values are
 * trimmed (as the `cookie` package does); pairs without `=` are skipped. Only the session
 * cookie's own values are returned: other cookies are never decoded or judged, and the header's
 * size is left to Node's own limit on headers.
 */
export function findCookies(header: string | undefined, name: string): string[] {
  const found: string[] = []
  if (header === undefined) return found
  let start = 0
  // The next '=' at or after `start`, kept across pairs: searching afresh for each pair would
  // rescan the rest of the header every time, quadratic in a header of pairs without '='.
  let equals = -1
  while (start < header.length) {
    let end = header.indexOf(';', start)
    if (end < 0) end = header.length
    if (equals < start) {
      equals = header.indexOf('=', start)
      if (equals < 0) break
    }
    if (equals < end && trimSpaceAndTab(header.slice(start, equals)) === name) {
      found.push(trimSpaceAndTab(header.slice(equals + 1, end)))
    }
    start = end + 1
  }
  return found
}

/** `text` without the spaces and tabs at either end (String#trim also takes \v, \f, U+00A0…). */
function trimSpaceAndTab(text: string): string {
  let start = 0
  let end = text.length
  while (start < end && (text.charCodeAt(start) === 0x20 || text.charCodeAt(start) === 0x09)) start++
  while (end > start && (text.charCodeAt(end - 1) === 0x20 || text.charCodeAt(end - 1) === 0x09)) end--
  return start === 0 && end === text.length ? text : text.slice(start, end)
}

/** What a derived signing key is for: no other use of the secret derives the same key. */
const SIGNING_CONTEXT = 'sessionkeeper session cookie signature v1'

/**
 * The key a secret signs session cookies with: HMAC-SHA256 of a fixed context under the secret.
 * cookie-signature (cookie-parser, express-session) and @fastify/cookie sign `value` with the
 * secret itself in the same HMAC-SHA256, base64 instead of base64url: an application sharing
 * the secret and signing a value a client chooses (a remembered user name) would otherwise hand
 * that client a session cookie for a caller key equal to that value.
 */
function signingKey(secret: string): KeyObject {
  return createSecretKey(createHmac('sha256', secret).update(SIGNING_CONTEXT, 'utf8').digest('base64url'), 'base64url')
}

/** 0.1.0's signature: the bare id's HMAC under the secret itself. Verified over random ids only. */
function legacySign(secret: string, id: string): string {
  return createHmac('sha256', secret).update(id, 'utf8').digest('base64url')
}

function checkToken(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, received ${describe(value)}`)
  if (!TOKEN.test(value)) throw new RangeError(`${name} must be a cookie name (an RFC 7230 token), received ${describe(value)}`)
  return value
}

/**
 * The secrets, the signing one (the first) at least {@link MIN_SECRET_LENGTH} characters. Shorter
 * verify-only secrets are kept, with one process warning, so cookies signed before a rotation
 * away from a short secret still verify.
 */
function checkSecrets(name: string, value: unknown): string[] {
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list)) throw new TypeError(`${name} must be a string or an array of strings, received ${describe(value)}`)
  if (list.length === 0) throw new RangeError(`${name} must hold at least one secret, received an empty array`)
  const secrets = list.map((secret, index) => {
    const label = typeof value === 'string' ? name : `${name}[${index}]`
    if (typeof secret !== 'string') throw new TypeError(`${label} must be a string, received ${describe(secret)}`)
    if (secret.length === 0) throw new RangeError(`${label} must not be empty`)
    // HMAC keys are UTF-8: every lone surrogate becomes U+FFFD, so distinct secrets would collide.
    if (!secret.isWellFormed()) throw new RangeError(`${label} must be well-formed text (it holds a lone UTF-16 surrogate, which has no UTF-8 form)`)
    if (index === 0 && secret.length < MIN_SECRET_LENGTH) {
      throw new RangeError(`${label} signs the cookies and must be at least ${MIN_SECRET_LENGTH} characters, received ${secret.length} (generate one with: node -p "require('crypto').randomBytes(32).toString('base64url')")`)
    }
    return secret
  })
  if (!shortSecretWarned && secrets.some((secret) => secret.length < MIN_SECRET_LENGTH)) {
    shortSecretWarned = true
    process.emitWarning(
      `${name} holds a verify-only secret shorter than ${MIN_SECRET_LENGTH} characters; it still verifies cookies signed with it, remove it once they have expired`,
      { type: 'SessionkeeperShortSecretWarning', code: 'SESSIONKEEPER_SHORT_SECRET' },
    )
  }
  return secrets
}

function checkHops(name: string, value: unknown): number {
  if (typeof value === 'boolean') return value ? 1 : 0
  if (typeof value !== 'number') throw new TypeError(`${name} must be a boolean or a number of proxies, received ${describe(value)}`)
  return checkInteger(name, value, 0, MAX_PROXY_HOPS)
}

function checkSecure(name: string, value: unknown): 'auto' | boolean {
  if (value === 'auto' || typeof value === 'boolean') return value
  const error = typeof value === 'string' ? RangeError : TypeError
  throw new error(`${name} must be 'auto', true or false, received ${describe(value)}`)
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean, received ${describe(value)}`)
  return value
}

function checkPattern(name: string, value: unknown, pattern: RegExp, what: string): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, received ${describe(value)}`)
  if (!pattern.test(value)) throw new RangeError(`${name} must be ${what}, received ${describe(value)}`)
  return value
}
