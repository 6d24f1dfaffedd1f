import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { COOKIE_LEGACY, COOKIE_OUT_LENGTH, COOKIE_SECRET, COOKIE_VALUE_END, COOKIE_VALUE_START } from '../engine'
import { cookieVerifier, readCookieHeader, recordRejectedCookie } from '../internal'
import type { SessionManager } from '../manager'
import { Session } from '../session'
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
/**
 * An unpadded base64url HMAC-SHA256 in its one canonical spelling: the last character's two
 * spare bits are zero, so decoding and comparing bytes accepts exactly the text the signer
 * writes (Buffer's decoder alone would skip stray characters and ignore the spare bits).
 */
const SIGNATURE = /[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/y
const EXPIRED = 'Thu, 01 Jan 1970 00:00:00 GMT'
const NO_SESSION = Object.freeze({ session: undefined, id: undefined, outdated: false, value: undefined })
/** Most ids whose verified signature a SessionCookie remembers for its Redis requests. */
const VERIFIED_LIMIT = 8192
/** Longest cookie value whose signature is remembered (a random id's value is 66 to 87 characters). */
const REMEMBERED_LENGTH = 256

/** @internal What `readAsync` found: the session, its id as read, and the cookie value to re-send as is (rolling, current signature). */
export interface AsyncCookieRead<S> {
  session: S | undefined
  id: string | undefined
  outdated: boolean
  value: string | undefined
}

/** `text` from `from` on equals `expected` (same length given), comparing every character whatever differs first. */
function sameText(text: string, from: number, expected: string): boolean {
  let differ = 0
  for (let index = 0; index < expected.length; index++) differ |= text.charCodeAt(from + index) ^ expected.charCodeAt(index)
  return differ === 0
}

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
  /** `; Max-Age=…; Expires=…` of a rolling cookie, made at most once a second: `Expires` has whole seconds. */
  #expiry = ''
  #expirySecond = Number.NaN
  /** Id to signature of values that verified under the first secret (see {@link #verifyRemembered}). */
  readonly #verified = new Map<string, string>()

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

  /** @internal The secrets, the signing one first, for a native verifier. */
  get secrets(): readonly string[] {
    return this.#secrets
  }

  /**
   * @internal {@link CookieReader.read} over a manager whose lookups are Promises
   * (RedisSessionManager): the same rules, the same counting of rejected cookies.
   */
  async readAsync<S extends { id: string }>(manager: AsyncLookups<S>, req: IncomingMessage): Promise<AsyncCookieRead<S>> {
    const values = findCookies(cookieHeader(req.headers.cookie), this.name)
    if (values.length === 0) return NO_SESSION as AsyncCookieRead<S>
    if (values.length === 1) {
      const verified = this.#verifyRemembered(values[0], manager.keys === 'random')
      const session = verified < 0 ? undefined : await manager.get(this.idOf(values[0]))
      if (session !== undefined) return { session, id: session.id, outdated: verified >= 2, value: this.rolling && verified === 0 ? values[0] : undefined }
    } else if (values.length <= MAX_SESSION_COOKIES) {
      let chosen: { value: string; secret: number; id: string } | undefined
      let ambiguous = false
      for (const value of values) {
        const secret = this.verify(value, manager.keys === 'random')
        if (secret < 0) continue
        const id = this.idOf(value)
        if (chosen?.id === id || !(await manager.has(id))) continue
        if (chosen !== undefined) {
          ambiguous = true
          break
        }
        chosen = { value, secret, id }
      }
      const session = chosen === undefined || ambiguous ? undefined : await manager.get(chosen.id)
      if (chosen !== undefined && session !== undefined) {
        return { session, id: session.id, outdated: chosen.secret >= 2, value: this.rolling && chosen.secret === 0 ? chosen.value : undefined }
      }
    }
    manager[recordRejectedCookie]()
    return NO_SESSION as AsyncCookieRead<S>
  }

  /**
   * {@link verify}, answered without an HMAC for a value whose signature verified under the
   * first secret before: a RedisSessionManager's requests have no native verifier, and the
   * same cookie comes back on every request of a session (two HMACs were a fifth of a cached
   * read's CPU, with the rolling re-send's). Only values that verified are remembered (a
   * forged one can neither enter nor evict), under their id, and a signature is compared with
   * a remembered one in constant time; secrets never change for a SessionCookie, so what
   * verified once verifies again. At most VERIFIED_LIMIT ids of values up to REMEMBERED_LENGTH
   * characters, oldest forgotten first.
   */
  #verifyRemembered(value: string, legacy: boolean): number {
    if (this.#secrets.length === 0) return this.verify(value, legacy)
    const dot = value.lastIndexOf('.')
    const remembered = dot > 0 ? this.#verified.get(value.slice(0, dot)) : undefined
    if (remembered !== undefined && value.length - dot - 1 === remembered.length && sameText(value, dot + 1, remembered)) return 0
    const verified = this.verify(value, legacy)
    // Long values (caller keys may take up to MAX_COOKIE_VALUE characters) are verified each
    // time rather than kept: the map stays under VERIFIED_LIMIT * REMEMBERED_LENGTH characters.
    if (verified === 0 && value.length <= REMEMBERED_LENGTH) {
      const verifiedMap = this.#verified
      if (verifiedMap.size >= VERIFIED_LIMIT) verifiedMap.delete(verifiedMap.keys().next().value as string)
      verifiedMap.set(value.slice(0, dot), value.slice(dot + 1))
    }
    return verified
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
    return this.serializeValue(req, this.#secrets.length === 0 ? id : `${id}.${this.#sign(0, id)}`)
  }

  /**
   * A `Set-Cookie` value that stores `value`, already what {@link serialize} would write (a
   * value as received that verified under the first secret's current signature).
   */
  serializeValue(req: IncomingMessage, value: string): string {
    return `${this.name}=${value}${this.#maxAge === undefined ? '' : this.#expiryAttributes(this.#maxAge)}${this.#attributes}${this.#isSecure(req) ? '; Secure' : ''}`
  }

  #expiryAttributes(maxAge: number): string {
    const expires = Date.now() + maxAge
    const second = Math.floor(expires / 1000)
    if (second !== this.#expirySecond) {
      this.#expirySecond = second
      this.#expiry = `; Max-Age=${Math.floor(maxAge / 1000)}; Expires=${new Date(expires).toUTCString()}`
    }
    return this.#expiry
  }

  /** A `Set-Cookie` value that removes the cookie. */
  serializeClear(req: IncomingMessage): string {
    return `${this.name}=; Max-Age=0; Expires=${EXPIRED}${this.#attributes}${this.#isSecure(req) ? '; Secure' : ''}`
  }

  /** @internal The id a verified value carries: before its last '.' when signed. */
  idOf(value: string): string {
    return this.#secrets.length === 0 ? value : value.slice(0, value.lastIndexOf('.'))
  }

  /** The signature of `id` in this cookie under secret `index`. */
  #sign(index: number, id: string): string {
    return createHmac('sha256', this.#keys[index]).update(`${this.name}=${id}`, 'utf8').digest('base64url')
  }

  /**
   * @internal How `value` verifies: -1 when it does not; else twice the index of the first
   * secret whose signature it carries (0 when unsigned cookies are used), plus 1 when that was
   * the 0.1.0 signature (the id's HMAC under the secret itself), which counts only with
   * `legacy`. Secrets are tried in order and the first that verifies ends the search; each
   * comparison is of the 32 raw digest bytes, in constant time.
   */
  verify(value: string, legacy: boolean): number {
    if (value.length > MAX_COOKIE_VALUE || !COOKIE_VALUE.test(value)) return -1
    const secrets = this.#secrets
    if (secrets.length === 0) return 0
    const dot = value.lastIndexOf('.')
    if (dot <= 0 || value.length - dot - 1 !== SIGNATURE_LENGTH) return -1
    SIGNATURE.lastIndex = dot + 1
    if (!SIGNATURE.test(value)) return -1
    const given = Buffer.from(value.slice(dot + 1), 'base64url') as unknown as Uint8Array
    const id = value.slice(0, dot)
    const message = `${this.name}=${id}`
    for (let index = 0; index < secrets.length; index++) {
      if (timingSafeEqual(given, createHmac('sha256', this.#keys[index]).update(message, 'utf8').digest() as unknown as Uint8Array)) return 2 * index
      if (legacy && timingSafeEqual(given, createHmac('sha256', secrets[index]).update(id, 'utf8').digest() as unknown as Uint8Array)) return 2 * index + 1
    }
    return -1
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

/** Where {@link CookieReader} puts what a request's cookie says: the integrations' per-request state. */
export interface CookieReadTarget {
  /** The live session the cookie names (renewed), else left undefined. */
  read: Session | undefined
  /** Its id as the cookie carried it. */
  readId: string | undefined
  /** True when the cookie verified under a secret other than the first: it should be signed again. */
  outdated: boolean
  /**
   * With a rolling cookie, the value as received when it is what `serialize` would write (the
   * first secret's current signature), so sending it again needs no signing.
   */
  readValue: string | undefined
}

/**
 * Reads the session cookie of one manager's requests. Over the native engine the whole read
 * (parse, verify, look up, renew) is one engine call with each secret's HMAC keys prepared
 * once; over the JsEngine (or a closed manager) it is the JS path below. Both follow the same rules.
 */
export class CookieReader {
  readonly cookie: SessionCookie
  readonly #manager: SessionManager
  /** The engine's verifier when it reads cookies itself. */
  readonly #native: object | undefined
  readonly #out = new Float64Array(COOKIE_OUT_LENGTH)

  /** `native: false` keeps to the JS path whatever the engine (the differential test compares both). */
  constructor(manager: SessionManager, cookie: SessionCookie, native = true) {
    this.#manager = manager
    this.cookie = cookie
    this.#native = native ? manager[cookieVerifier](cookie.name, cookie.secrets) : undefined
  }

  /** True when the engine reads the cookies (the native request path). */
  get native(): boolean {
    return this.#native !== undefined
  }

  /**
   * Reads `header` (a request's Cookie header) into `into`, looking the id up as `manager.get`
   * does (which renews). Only pairs named like the session cookie are judged: other cookies,
   * however many or large, change nothing. A value that is malformed, over
   * {@link MAX_COOKIE_VALUE}, badly signed or names no live session is ignored. When the name
   * occurs more than once (a cookie of a parent domain or another path beside ours), the one
   * value naming a live session is used (looked up without renewing first); two live sessions,
   * or more than {@link MAX_SESSION_COOKIES} values, give none. A header that carried the
   * cookie and got no session is counted in `manager.stats().rejectedCookies`. Cookies signed
   * by 0.1.0 (the bare id's HMAC under the secret itself) still verify where a signature
   * guards nothing an unguessable random id does not; never over caller keys.
   */
  read(given: string | readonly string[] | undefined, into: CookieReadTarget): void {
    const header = cookieHeader(given)
    if (header === undefined) return
    const native = this.#native
    if (native !== undefined) {
      const out = this.#out
      const found = this.#manager[readCookieHeader](native, header, out)
      if (found instanceof Session) {
        into.read = found
        into.readId = found.id
        into.outdated = out[COOKIE_SECRET] > 0
        if (this.cookie.rolling && out[COOKIE_SECRET] === 0 && out[COOKIE_LEGACY] === 0) {
          into.readValue = header.slice(out[COOKIE_VALUE_START], out[COOKIE_VALUE_END])
        }
        return
      }
      // A number: nothing found (and counted). Undefined: the manager is closed, and the JS
      // path below throws ManagerClosedError where it would look a cookie up.
      if (found !== undefined) return
    }
    const manager = this.#manager
    const cookie = this.cookie
    const values = findCookies(header, cookie.name)
    if (values.length === 0) return
    const legacy = manager.keys === 'random'
    let value: string | undefined
    let verified = -1
    if (values.length === 1) {
      value = values[0]
      verified = cookie.verify(value, legacy)
    } else if (values.length <= MAX_SESSION_COOKIES) {
      for (const candidate of values) {
        const secret = cookie.verify(candidate, legacy)
        if (secret < 0 || (value !== undefined && cookie.idOf(value) === cookie.idOf(candidate)) || !manager.has(cookie.idOf(candidate))) continue
        if (value !== undefined) {
          verified = -1
          break
        }
        value = candidate
        verified = secret
      }
    }
    const session = verified < 0 || value === undefined ? undefined : manager.get(cookie.idOf(value))
    if (session === undefined || value === undefined) {
      manager[recordRejectedCookie]()
      return
    }
    into.read = session
    into.readId = session.id
    into.outdated = verified >= 2
    if (cookie.rolling && verified === 0) into.readValue = value
  }
}

/**
 * A request's Cookie header as one string. Node joins duplicate Cookie headers with `'; '`, but a
 * request made elsewhere (Fastify's inject, a harness, a proxy library) may carry them as an
 * array: joined the same way, on both paths (the native read takes strings only). Anything else
 * is no header.
 */
export function cookieHeader(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (!Array.isArray(value)) return undefined
  let joined: string | undefined
  for (const part of value) {
    if (typeof part !== 'string') continue
    joined = joined === undefined ? part : `${joined}; ${part}`
  }
  return joined
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
