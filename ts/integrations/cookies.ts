import { createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { recordRejectedCookie } from '../internal'
import type { SessionManager } from '../manager'
import type { Session } from '../session'
import { checkChoice, checkInteger, checkKnownKeys, checkPlainObject } from '../validate'

/** Attributes of the session cookie. Every field is optional. */
export interface SessionCookieAttributes {
  /**
   * `'auto'` (default): `Secure` on HTTPS requests (a TLS socket, or with `trustProxy: true` an
   * `X-Forwarded-Proto: https` header); `true`: always; `false`: never.
   */
  secure?: 'auto' | boolean
  /** `'lax'` (default), `'strict'` or `'none'` (`'none'` needs `secure` other than `false`). */
  sameSite?: 'lax' | 'strict' | 'none'
  /** Cookie path; default `'/'`. */
  path?: string
  /** Cookie domain; default none (host-only cookie). */
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
  /** Name of the session cookie; default `'sid'`. An RFC 6265 token. */
  cookieName?: string
  /**
   * Signs the cookie with HMAC-SHA256 when given. The first secret signs; every secret verifies,
   * so a new secret can be put first while the old one still accepts existing cookies.
   */
  secret?: string | string[]
  /** Trust `X-Forwarded-Proto` for `cookie.secure: 'auto'` (behind a TLS-terminating proxy). Default false. */
  trustProxy?: boolean
  /** Attributes of the cookie. */
  cookie?: SessionCookieAttributes
}

/** What a request's Cookie header says about the session. */
export interface CookieRead {
  /** The live session it names (renewed), or undefined. */
  session: Session | undefined
  /** The session id the cookie carried (verified when signed), or undefined. */
  id: string | undefined
  /** True when the request carried a session cookie (valid or not). */
  present: boolean
  /** True when the cookie was treated as "no session" (and counted in `rejectedCookies`). */
  rejected: boolean
  /** True when the cookie verified under a secret other than the first: it should be signed again. */
  outdated: boolean
}

/** Longest session cookie value read (bytes); longer ones are rejected unread. */
export const MAX_COOKIE_VALUE = 4096
/** Longest Cookie header scanned; a longer one is rejected as a whole. */
export const MAX_COOKIE_HEADER = 8192
/** Most cookie pairs scanned in one header; more is rejected. */
export const MAX_COOKIE_PAIRS = 200

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

const describe = (value: unknown): string =>
  typeof value === 'string' ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
    : value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : String(value)

/**
 * The session cookie's codec: validated options, reading (parse, verify, look up) and writing
 * (`Set-Cookie` values). Shared by `sessionMiddleware` and the node:http helpers.
 *
 * Signed cookie format: `<id>.<signature>`, the signature being the base64url (no padding)
 * HMAC-SHA256 of the id under the secret. Unsigned: the id alone. Values are written raw (ids
 * are base64url or hex), never percent-encoded, and read raw: no percent-decoding.
 */
export class SessionCookie {
  readonly name: string
  readonly #secrets: string[]
  readonly #trustProxy: boolean
  readonly #secure: 'auto' | boolean
  readonly #attributes: string
  readonly #maxAge: number | undefined

  constructor(options: SessionCookieOptions | undefined, label = 'options') {
    const given = options === undefined ? {} : checkPlainObject(label, options)
    checkKnownKeys(label, given, KNOWN)
    this.name = given.cookieName === undefined ? 'sid' : checkToken(`${label}.cookieName`, given.cookieName)
    this.#secrets = given.secret === undefined ? [] : checkSecrets(`${label}.secret`, given.secret)
    this.#trustProxy = given.trustProxy === undefined ? false : checkBoolean(`${label}.trustProxy`, given.trustProxy)
    const cookieLabel = `${label}.cookie`
    const cookie = given.cookie === undefined ? {} : checkPlainObject(cookieLabel, given.cookie)
    checkKnownKeys(cookieLabel, cookie, KNOWN_ATTRIBUTES)
    const secure = cookie.secure === undefined ? 'auto' : checkSecure(`${cookieLabel}.secure`, cookie.secure)
    const sameSite = cookie.sameSite === undefined ? 'lax'
      : checkChoice(`${cookieLabel}.sameSite`, cookie.sameSite, ['lax', 'strict', 'none'] as const)
    if (sameSite === 'none' && secure === false) {
      throw new RangeError(`${cookieLabel}.sameSite 'none' needs ${cookieLabel}.secure 'auto' or true (browsers drop SameSite=None cookies without Secure)`)
    }
    const path = cookie.path === undefined ? '/' : checkPattern(`${cookieLabel}.path`, cookie.path, PATH, "a path starting with '/' without ';' or control characters")
    const domain = cookie.domain === undefined ? undefined : checkPattern(`${cookieLabel}.domain`, cookie.domain, DOMAIN, 'a domain name')
    this.#maxAge = cookie.maxAge === undefined ? undefined : checkInteger(`${cookieLabel}.maxAge`, cookie.maxAge, 1000, 400 * 24 * 3600_000)
    const httpOnly = cookie.httpOnly === undefined ? true : checkBoolean(`${cookieLabel}.httpOnly`, cookie.httpOnly)
    this.#secure = secure
    this.#attributes = `; Path=${path}${domain === undefined ? '' : `; Domain=${domain}`}${httpOnly ? '; HttpOnly' : ''}` +
      `; SameSite=${sameSite === 'lax' ? 'Lax' : sameSite === 'strict' ? 'Strict' : 'None'}`
  }

  /** True when a cookie with an expiry is configured: it must be re-sent to move the expiry. */
  get rolling(): boolean {
    return this.#maxAge !== undefined
  }

  /**
   * Reads the session cookie of `req` and looks its id up with `manager.get` (which renews).
   * A cookie that is malformed, oversized, duplicated, badly signed or names no live session
   * gives no session and is counted in `manager.stats().rejectedCookies`.
   */
  read(manager: SessionManager, req: IncomingMessage): CookieRead {
    const value = findCookie(req.headers.cookie, this.name)
    if (value === undefined) return { session: undefined, id: undefined, present: false, rejected: false, outdated: false }
    let id: string | undefined
    let secret = -1
    if (value !== null) {
      secret = this.#verify(value)
      if (secret >= 0) id = this.#secrets.length === 0 ? value : value.slice(0, value.lastIndexOf('.'))
    }
    const session = id === undefined ? undefined : manager.get(id)
    if (session === undefined) {
      manager[recordRejectedCookie]()
      return { session: undefined, id, present: true, rejected: true, outdated: false }
    }
    return { session, id, present: true, rejected: false, outdated: secret > 0 }
  }

  /** A `Set-Cookie` value that stores `id` (signed when secrets are configured). */
  serialize(req: IncomingMessage, id: string): string {
    if (!COOKIE_VALUE.test(id) || id.length > MAX_COOKIE_VALUE - SIGNATURE_LENGTH - 1) {
      throw new RangeError(`session id ${describe(id)} cannot be stored in a cookie (it needs RFC 6265 cookie characters)`)
    }
    const value = this.#secrets.length === 0 ? id : `${id}.${sign(this.#secrets[0], id)}`
    const expiry = this.#maxAge === undefined ? ''
      : `; Max-Age=${Math.floor(this.#maxAge / 1000)}; Expires=${new Date(Date.now() + this.#maxAge).toUTCString()}`
    return `${this.name}=${value}${expiry}${this.#attributes}${this.#isSecure(req) ? '; Secure' : ''}`
  }

  /** A `Set-Cookie` value that removes the cookie. */
  serializeClear(req: IncomingMessage): string {
    return `${this.name}=; Max-Age=0; Expires=${EXPIRED}${this.#attributes}${this.#isSecure(req) ? '; Secure' : ''}`
  }

  /** Index of the secret whose signature `value` carries (0 when unsigned cookies are used), or -1. */
  #verify(value: string): number {
    if (this.#secrets.length === 0) return 0
    const dot = value.lastIndexOf('.')
    if (dot <= 0 || value.length - dot - 1 !== SIGNATURE_LENGTH) return -1
    const id = value.slice(0, dot)
    const given = ascii.encode(value.slice(dot + 1))
    let matched = -1
    // Every secret is tried (no early exit), so timing does not tell which one matched.
    this.#secrets.forEach((secret, index) => {
      if (timingSafeEqual(given, ascii.encode(sign(secret, id))) && matched < 0) matched = index
    })
    return matched
  }

  #isSecure(req: IncomingMessage): boolean {
    if (this.#secure !== 'auto') return this.#secure
    if ((req.socket as TLSSocket | null)?.encrypted === true) return true
    if (!this.#trustProxy) return false
    const header = req.headers['x-forwarded-proto']
    const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0]
    return first !== undefined && first.trim().toLowerCase() === 'https'
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
 * The raw value of cookie `name` in a Cookie header: undefined when absent, null when the header
 * cannot be trusted to name one session (oversized header or value, too many pairs, the name
 * twice, characters outside RFC 6265 cookie-octets). Only the header's pairs are split; values
 * of other cookies are never decoded.
 */
export function findCookie(header: string | undefined, name: string): string | null | undefined {
  if (header === undefined || header.length === 0) return undefined
  if (header.length > MAX_COOKIE_HEADER) return null
  let found: string | null | undefined
  let pairs = 0
  let start = 0
  while (start < header.length) {
    if (++pairs > MAX_COOKIE_PAIRS) return null
    let end = header.indexOf(';', start)
    if (end < 0) end = header.length
    const equals = header.indexOf('=', start)
    if (equals >= 0 && equals < end && header.slice(start, equals).trim() === name) {
      if (found !== undefined) return null
      const value = header.slice(equals + 1, end).trim()
      found = value.length > MAX_COOKIE_VALUE || !COOKIE_VALUE.test(value) ? null : value
    }
    start = end + 1
  }
  return found
}

function sign(secret: string, id: string): string {
  return createHmac('sha256', secret).update(id, 'utf8').digest('base64url')
}

function checkToken(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, received ${describe(value)}`)
  if (!TOKEN.test(value)) throw new RangeError(`${name} must be a cookie name (an RFC 7230 token), received ${describe(value)}`)
  return value
}

function checkSecrets(name: string, value: unknown): string[] {
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list)) throw new TypeError(`${name} must be a string or an array of strings, received ${describe(value)}`)
  if (list.length === 0) throw new RangeError(`${name} must hold at least one secret, received an empty array`)
  return list.map((secret, index) => {
    const label = typeof value === 'string' ? name : `${name}[${index}]`
    if (typeof secret !== 'string') throw new TypeError(`${label} must be a string, received ${describe(secret)}`)
    if (secret.length === 0) throw new RangeError(`${label} must not be empty`)
    return secret
  })
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
