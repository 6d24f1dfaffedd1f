// Which record a @fastify/session request loaded, for SessionkeeperStore's saves. Not exported
// from a package entry.
//
// express-session hands the store's answer to the store's own `createSession`, which remembers
// the record on the request's session. @fastify/session copies the answer's properties into a
// Session of its own, and its cookie, by spread, into the options the Session keeps for its
// cookie (under a symbol described 'cookieOpts'). A spread copies enumerable symbol properties
// (JSON.stringify, for...in and both frameworks' cookie classes skip them), so the answer's
// cookie carries the sid and the record, and a save finds them on its Session's options: for
// as long as the request holds its Session, and no longer. A Session that @fastify/session's
// regenerate makes copies those options too, which is why the sid is checked. A release of
// @fastify/session that keeps its cookie options otherwise carries nothing across, and its saves
// are whole, as before. Every answer is marked (a store cannot tell which framework asks); the
// marks show to code that inspects or deep-compares an answer.

/** The sid the record was answered for, and the record (JSON text), on the answer's cookie. */
const LOADED_SID = Symbol('sessionkeeper loaded sid')
const LOADED_RECORD = Symbol('sessionkeeper loaded record')
/** On a cookie the store added to a record stored without one, only to carry the marks. */
const ADDED = Symbol('sessionkeeper added cookie')

/**
 * @internal SessionkeeperStore's. Marks `answer` (a record as `get` parsed it) as loaded from
 * `record` under `sid`, on its cookie, for `fastifyLoadIn` on the save.
 */
export function markFastifyLoad(answer: object, sid: string, record: string): void {
  let cookie = (answer as { cookie?: unknown }).cookie
  // A record stored without a cookie (other code's `set`): an empty one, which @fastify/session
  // restores as it restores none, carries the marks.
  if (cookie === undefined || cookie === null) cookie = (answer as { cookie?: unknown }).cookie = { [ADDED]: cookie }
  if (typeof cookie !== 'object') return
  const marked = cookie as Record<symbol, unknown>
  marked[LOADED_SID] = sid
  marked[LOADED_RECORD] = record
}

/**
 * @internal SessionkeeperStore's. Puts back the cookie of `answer` as stored when the store added
 * one (express-session reads the record as it is).
 */
export function dropAddedCookie(answer: unknown): void {
  if (typeof answer !== 'object' || answer === null) return
  const cookie = (answer as { cookie?: unknown }).cookie
  if (typeof cookie !== 'object' || cookie === null || !Object.hasOwn(cookie, ADDED)) return
  const stored = (cookie as Record<symbol, unknown>)[ADDED]
  if (stored === undefined) delete (answer as { cookie?: unknown }).cookie
  else (answer as { cookie?: unknown }).cookie = stored
}

/** The symbol of the last Session class seen for its cookie options (one class, in practice). */
let known: { prototype: object; optionsKey: symbol } | undefined

/**
 * @internal SessionkeeperStore's. The cookie options of `session` when it is a @fastify/session
 * Session (of a release that keeps them under 'cookieOpts'), else undefined.
 */
export function fastifyCookieOptions(session: object): object | undefined {
  const prototype = Object.getPrototypeOf(session) as object | null
  if (prototype === null || prototype === Object.prototype) return undefined
  if (known?.prototype !== prototype) {
    const optionsKey = Object.getOwnPropertySymbols(session).find((symbol) => symbol.description === 'cookieOpts')
    if (optionsKey === undefined) return undefined
    known = { prototype, optionsKey }
  }
  const options = (session as Record<symbol, unknown>)[known.optionsKey]
  return typeof options === 'object' && options !== null ? options : undefined
}

/**
 * @internal SessionkeeperStore's. The record that the request whose Session has these cookie
 * `options` loaded under `sid`; undefined for a session its request did not load under `sid`
 * (a new one, a regenerated one).
 */
export function fastifyLoadIn(options: object, sid: string): string | undefined {
  const marked = options as Record<symbol, unknown>
  const record = marked[LOADED_RECORD]
  return marked[LOADED_SID] === sid && typeof record === 'string' ? record : undefined
}
