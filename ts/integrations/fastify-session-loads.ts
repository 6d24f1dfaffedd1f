// Which record a @fastify/session request loaded, for SessionkeeperStore's saves. Not exported
// from a package entry.
//
// express-session hands the store's answer to the store's own `createSession`, which remembers
// the record on the request's session. @fastify/session copies the answer's properties into a
// Session of its own and keeps nothing of it but a hash of that state (sha256 of its stable
// JSON without the cookie, which the Session computes with a method of its class, to tell
// whether the request changed anything). So the store keeps each record it answered for a sid
// until a save of that sid comes, and takes as the save's base the one whose hash, computed by
// that same method, is the hash the Session holds. Found by symbol descriptions: a release of
// @fastify/session that names them otherwise, or hashes otherwise, matches nothing, and its
// saves are whole, as before.

/** Sids whose loads are kept at most; past it the oldest sid's go (those saves are whole). */
const MAX_SIDS = 4096
/** Loads kept per sid (requests of one session in flight at once); past it the oldest go. */
const MAX_LOADS = 4

/** A @fastify/session Session as a save sees it: its state's hash, and the class's way of hashing. */
interface HashedSession {
  hash: string
  hashOf: (state: object) => string
}

/** @internal SessionkeeperStore's: the records it answered, until the saves they were loaded for. */
export class FastifyLoads {
  /**
   * Records answered per sid, oldest first, not yet matched to a save. Kept after the session
   * ends too: the save of a request that loaded it before a logout must find what it loaded, and
   * so write nothing. A load whose request never saves stays until the caps push it out.
   */
  readonly #loads = new Map<string, string[]>()
  /** Set once a save came from @fastify/session: express-session's loads are never kept. */
  #seen = false

  /** `get` answered `record` for `sid`. */
  answered(sid: string, record: string): void {
    if (!this.#seen) return
    let loads = this.#loads.get(sid)
    if (loads === undefined) {
      if (this.#loads.size >= MAX_SIDS) this.#loads.delete(this.#loads.keys().next().value!)
      loads = []
      this.#loads.set(sid, loads)
    }
    if (loads.length >= MAX_LOADS) loads.shift()
    loads.push(record)
  }

  /**
   * The record that the request saving `session` (a @fastify/session Session) under `sid`
   * loaded, taken out of the kept ones; undefined for any other object, a session it did not
   * load (a new one, a regenerated one), or a load no longer kept.
   */
  baseOf(sid: string, session: object): string | undefined {
    const hashed = hashedSession(session)
    if (hashed === undefined) return undefined
    this.#seen = true
    const loads = this.#loads.get(sid)
    if (loads === undefined) return undefined
    for (let index = loads.length - 1; index >= 0; index--) {
      const record = loads[index]
      if (hashed.hashOf(stateOf(record)) !== hashed.hash) continue
      loads.splice(index, 1)
      if (loads.length === 0) this.#loads.delete(sid)
      return record
    }
    return undefined
  }
}

/** The symbols of the last Session class seen (one per process, in practice). */
let known: { prototype: object; hashKey: symbol; method: () => unknown } | undefined

function hashedSession(session: object): HashedSession | undefined {
  const prototype = Object.getPrototypeOf(session) as Record<symbol, unknown> | null
  if (prototype === null || prototype === Object.prototype) return undefined
  if (known?.prototype !== prototype) {
    const hashKey = Object.getOwnPropertySymbols(session).find((symbol) => symbol.description === 'persistedHash')
    const methodKey = Object.getOwnPropertySymbols(prototype).find((symbol) => symbol.description === 'hash')
    const method = methodKey === undefined ? undefined : prototype[methodKey]
    if (hashKey === undefined || typeof method !== 'function') return undefined
    known = { prototype, hashKey, method: method as () => unknown }
  }
  const { hashKey, method } = known
  const hash = (session as Record<symbol, unknown>)[hashKey]
  if (typeof hash !== 'string') return undefined
  return { hash, hashOf: (state) => method.call(state) as string }
}

/**
 * The state a Session made from `record` starts with, as its hash sees it: the record's
 * properties without the three the Session keeps apart (its cookie, its id, its signed id).
 */
function stateOf(record: string): object {
  // A rest object rather than deletes, which would leave a slow dictionary object to stringify.
  const { cookie: _cookie, sessionId: _sessionId, encryptedSessionId: _encryptedSessionId, ...state } = JSON.parse(record) as Record<string, unknown>
  return state
}
