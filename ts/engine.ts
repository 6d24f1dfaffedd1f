/**
 * The contract between the SessionManager facade and a session engine.
 *
 * Two implementations exist: NativeEngine (the Rust core through N-API) and JsEngine (pure
 * TypeScript). The facade validates every argument before calling an engine, so engines may
 * assume well-typed input (strings are strings, timeouts are non-negative safe integers,
 * handles are numbers); they must still treat ids and keys coming from clients as untrusted
 * (validate length and alphabet before hashing).
 *
 * A handle names one session for its whole life: `slot + generation * SLOT_SPACE`, a safe
 * integer. A slot is reused only after `release`, which bumps its generation; a slot whose
 * generations are used up (GENERATION_SPACE) is retired instead of starting over at 0. No
 * handle is ever issued twice, so a stale handle never reaches a later session.
 *
 * docs/engine-algorithm.md describes the behaviour both implementations share exactly.
 *
 * A session is in one of three states:
 * - attached: indexed by id and filed in the deadline wheel; lookups can find it (while alive);
 * - detached: unindexed and unfiled (being closed), still readable and writable by handle, so
 *   close listeners can read it;
 * - released: its slot is free; every call with its handle answers "stale".
 *
 * Time is in milliseconds as JS numbers (the facade's clock). A session is alive while
 * `now < expiresAt`, where `expiresAt` is the earlier of `lastActivity + idleTimeout` and
 * `createdAt + absoluteTimeout`, a zero timeout meaning "none" (Infinity when neither applies).
 */
export interface Engine {
  /** Which implementation this is. */
  readonly kind: 'native' | 'js'

  /** Number of attached sessions (created and not yet detached), expired or not. */
  readonly size: number

  /**
   * Creates a session with a fresh random id (keys: 'random'). Returns its handle, or
   * CREATE_TABLE_FULL when the slot space is exhausted (every slot in use or retired).
   */
  create(now: number, idleTimeout: number, absoluteTimeout: number): number

  /**
   * `create`, then `setDataEntries(handle, entries)` when there are entries, then `id(handle)`:
   * the facade's create of a random-id session. The native engine does it in one binding call
   * (one crossing instead of three). Returns the handle or CREATE_TABLE_FULL; after a success,
   * `createdId` is the new session's id.
   */
  createSession(now: number, idleTimeout: number, absoluteTimeout: number, entries: string[]): number

  /** The id of the session the last successful `createSession` made. */
  readonly createdId: string

  /**
   * Creates a session under a caller-supplied key (keys: 'caller'; the facade has checked the
   * key is 1 to 255 UTF-8 bytes). Returns its handle, CREATE_KEY_EXISTS when an attached session
   * already has this key (alive or not), or CREATE_TABLE_FULL.
   */
  createWithKey(key: string, now: number, idleTimeout: number, absoluteTimeout: number): number

  /**
   * Re-creates a saved session (persistence, on load) with its own id, creation time, last
   * activity and timeouts, attached, whether or not it is still alive; nothing is emitted or
   * drawn from the random pool. Filed at its place by last activity (and creation time for the
   * absolute deadline): restoring in ascending last activity is O(1) each. Returns its handle,
   * CREATE_KEY_EXISTS when an attached session has this id, CREATE_TABLE_FULL, or
   * RESTORE_INVALID_ID when `id` is not an id of this engine's configuration (random ids: length,
   * alphabet, canonical spelling; caller keys: 1 to 255 UTF-8 bytes).
   */
  restore(id: string, createdAt: number, lastActivity: number, idleTimeout: number, absoluteTimeout: number): number

  /**
   * Finds the attached, alive session with this id. With `renew`, sets lastActivity to `now` and
   * refiles it (rolling idle deadline, recency). Returns the handle or -1. Malformed ids (wrong
   * length or alphabet for the mode) return -1 without touching the table.
   */
  lookup(id: string, now: number, renew: boolean): number

  /**
   * If an attached session with this id exists and is expired at `now`, detaches it and returns
   * its handle (so the facade can close it with reason 'expired'); otherwise -1.
   */
  detachIfExpired(id: string, now: number): number

  /** True when the session is attached and alive at `now` (not closed, not past its deadline). */
  isAlive(handle: number, now: number): boolean

  /** Renews an attached, alive session. False when stale, detached or expired. */
  touch(handle: number, now: number): boolean

  /** Attached -> detached. False when the handle is not attached. */
  detach(handle: number): boolean

  /**
   * Frees the slot of an attached or detached session: a later create reuses it, unless this
   * was its last generation (it retires then). False when already stale.
   */
  release(handle: number): boolean

  /**
   * Detaches up to `out.length` sessions expired at `now` and writes their handles into `out`.
   * Returns how many were written. Fewer than `out.length` means nothing more is due, unless
   * `nextDeadline() <= now`: the call stopped after its re-filing budget and another continues.
   */
  sweep(now: number, out: Float64Array): number

  /**
   * Detaches and releases up to `limit` sessions expired at `now` in one go, for when no
   * listener or owned object needs to see them. Returns how many were released; the same
   * budget rule as `sweep`.
   */
  sweepRelease(now: number, limit: number): number

  /**
   * A lower bound of the earliest deadline among attached sessions (Infinity when none): the
   * start of the earliest non-empty wheel slot, exact once a sweep has walked the current one.
   * Never later than the true earliest deadline.
   */
  nextDeadline(): number

  /**
   * The session to evict, or -1 when none: the earliest deadline (to within one wheel slot)
   * among sessions without a user, and only when none is left, among sessions with one;
   * docs/engine-algorithm.md gives the exact order. Re-files sessions whose deadline moved.
   */
  evictionCandidate(): number

  /**
   * Gives an attached, alive session a new random id (keys: 'random') and renews it. Returns the
   * new id, or undefined when the handle is not attached and alive.
   */
  regenerate(handle: number, now: number): string | undefined

  /**
   * Moves an attached, alive session to a caller-supplied key and renews it. Returns
   * REKEY_OK, REKEY_EXISTS (another attached session has that key) or REKEY_NOT_ATTACHED.
   */
  rekey(handle: number, key: string, now: number): number

  /** 0 when released/stale, 1 when attached, 2 when detached. */
  state(handle: number): number

  /** The session's id; undefined when stale. */
  id(handle: number): string | undefined
  /** Timestamps and timeouts; NaN when stale. */
  createdAt(handle: number): number
  lastActivity(handle: number): number
  expiresAt(handle: number): number
  idleTimeout(handle: number): number
  absoluteTimeout(handle: number): number

  /** Per-session timeout setters; re-file the session by its new deadline. False when stale. */
  setIdleTimeout(handle: number, timeout: number): boolean
  setAbsoluteTimeout(handle: number, timeout: number): boolean

  /** String data. getData: undefined when absent or stale. */
  getData(handle: number, key: string): string | undefined
  /**
   * Stores `value` under `key`. Returns SET_OK, SET_TOO_LARGE (the session's data would exceed
   * maxDataBytes; nothing changed) or SET_STALE. Data bytes are the UTF-8 lengths of all keys
   * and values.
   */
  setData(handle: number, key: string, value: string): number
  /**
   * Stores several entries in one call, `entries` being key, value, key, value...: a session's
   * initial data crosses the boundary once instead of once per key. Stops at the first entry
   * that does not fit and returns its result code; SET_OK when all were stored.
   */
  setDataEntries(handle: number, entries: string[]): number
  /** True when the key was present. */
  deleteData(handle: number, key: string): boolean
  /** Keys in insertion order (a replaced key keeps its place); [] when stale. */
  dataKeys(handle: number): string[]
  /** UTF-8 bytes of all keys and values; NaN when stale. */
  dataBytes(handle: number): number

  /** User name; undefined when unset or stale. */
  user(handle: number): string | undefined

  /**
   * Optional fast path of `session.user` (the native engine): the user of a session alive at
   * `now` or detached (closing), else undefined, in one call instead of `isAlive` and `user`.
   */
  readableUser?(handle: number, now: number): string | undefined

  /** undefined clears it; moves the session between eviction classes in O(1). False when stale. */
  setUser(handle: number, user: string | undefined): boolean
  /** Roles in the order given; [] when unset or stale. */
  roles(handle: number): string[]
  setRoles(handle: number, roles: string[]): boolean

  /**
   * Writes handles of attached sessions alive at `now`, in slot order, starting at slot
   * `fromSlot`, into `out`. Returns how many were written; fewer than `out.length` means the
   * scan reached the end. Continue from `slotOf(lastHandle) + 1`. With `now = -Infinity` every
   * attached session qualifies, expired or not: `close()` uses that, so shutting down never
   * depends on the order the expiry structure keeps.
   */
  scan(fromSlot: number, now: number, out: Float64Array): number

  /** Approximate bytes the engine holds outside the JS heap (native) or in typed arrays (js). */
  memoryBytes(): number

  /**
   * Native only: gives the memory freed on this thread back to the OS now (src/allocator.rs
   * `release_freed_memory`), for the whole process's native engines on this thread, not this
   * one alone. The manager calls it in steps while memoryBytes falls (ts/registry.ts).
   */
  releaseFreedMemory?(): void

  /**
   * Copies into `out` (EXPIRY_LAG_VALUES numbers) how late after their deadline `sweep` and
   * `sweepRelease` took sessions out, since the engine was built: sessions per bucket of
   * EXPIRY_LAG_BOUNDS (at most that bound, over the one before), those over the last bound,
   * then the lags' sum in ms. Sessions closed as expired any other way are the facade's to count.
   */
  expiryLag(out: Float64Array): void

  /** Room for `sessions` more sessions without growing (the loader knows how many it restores). */
  reserve?(sessions: number): void

  /**
   * Persistence in the native engine: replays a whole plain session file
   * (docs/persistence-format.md) into this empty engine, moving each last activity on by
   * `window` ms (not past `now`) unless the file is clean. On damage, the engine is left empty
   * and the outcome says why. Without it, ts/persist replays the file (ts/persist/replay.ts).
   */
  loadSessionFile?(bytes: Uint8Array, window: number, now: number): LoadSessionFileOutcome

  /**
   * {@link loadSessionFile} of the plain file at `path`, read by the engine in pieces, so no
   * buffer of the file's size is made. Throws when the file cannot be read.
   */
  loadSessionFileAt?(path: string, window: number, now: number): LoadSessionFileOutcome

  /** Every attached session's handle and last activity, as pairs (handle, time, handle, ...). */
  attachedActivity?(): Float64Array

  /** Optional fast path of persistence: a Session record per attached session, in slot order. */
  snapshotRecords?(): Uint8Array

  /** Optional fast path of persistence: a Session record for each of the first `count` handles. */
  sessionRecords?(handles: Float64Array, count: number): Uint8Array

  /**
   * The same records appended to `out` from byte `at`: returns the end, or -1 (nothing
   * written) when they do not fit.
   */
  sessionRecordsInto?(handles: Float64Array, count: number, out: Uint8Array, at: number): number

  /**
   * Optional fast path of the HTTP integrations (the native engine): a verifier of session
   * cookies named `name` signed with `secrets` (none: unsigned), each secret's HMAC keys
   * prepared once, for {@link readCookie}.
   */
  createCookieVerifier?(name: string, secrets: readonly string[]): object

  /**
   * Optional fast path of the HTTP integrations: reads a request's Cookie header in one call,
   * by the rules of ts/integrations/cookies.ts (find the session cookie's values, verify them,
   * look the session up): the handle of the live session it names, renewed at `now`, or
   * COOKIE_NONE, COOKIE_REJECTED or COOKIE_NOT_FOUND. With a handle, `out` holds the COOKIE_*
   * positions (JS string indices into `header`), the index of the secret that verified it and
   * whether that was the 0.1.0 signature. Over random ids the 0.1.0 signature verifies too.
   */
  readCookie?(verifier: object, header: string, now: number, out: Float64Array): number
}

/** What `loadSessionFile` did. */
export interface LoadSessionFileOutcome {
  restored: number
  records: number
  tornAt: number | undefined
  clean: boolean
  /** Set when nothing was restored: 'not-ours', 'mismatch' or 'corrupt'. */
  damage: string | undefined
  offset: number | undefined
  why: string | undefined
  /** Records that gave a restored session a user: 0 when none has one. */
  users: number
  /** Some session's data was cut to maxDataBytes (a cap lowered since): the file must be rewritten. */
  cut: boolean
}

/** Handles pack a slot in the low 25 bits and a generation above them. */
export const SLOT_BITS = 25
export const SLOT_SPACE = 2 ** SLOT_BITS
/**
 * Generations per slot, so that a handle stays a safe integer. They never wrap: a slot that has
 * issued generation 2^28 - 1 retires on its release (docs/engine-algorithm.md).
 */
export const GENERATION_SPACE = 2 ** 28

/**
 * A handle's slot: its low SLOT_BITS bits (a handle is an integer below 2^53, and `&` keeps the
 * low 32 bits of one). `handle % SLOT_SPACE` compiles to the x87 remainder loop for a double:
 * about twice the time of this in a loop of nothing else.
 */
export const slotOf = (handle: number): number => handle & (SLOT_SPACE - 1)

export const CREATE_KEY_EXISTS = -1
export const CREATE_TABLE_FULL = -2
export const RESTORE_INVALID_ID = -3

export const REKEY_OK = 0
export const REKEY_EXISTS = 1
export const REKEY_NOT_ATTACHED = 2

export const SET_OK = 0
export const SET_TOO_LARGE = 1
export const SET_STALE = 2

/** `readCookie`: the header holds no value of the session cookie. */
export const COOKIE_NONE = -1
/** `readCookie`: values were refused (format, size, signature, more than 8, two live sessions). */
export const COOKIE_REJECTED = -2
/** `readCookie`: a value verified but names no live session. */
export const COOKIE_NOT_FOUND = -3
/** `readCookie`'s `out`: where the chosen value starts, where its id ends, where it ends. */
export const COOKIE_VALUE_START = 0
export const COOKIE_ID_END = 1
export const COOKIE_VALUE_END = 2
/** `readCookie`'s `out`: index of the secret that verified the value (0 when unsigned). */
export const COOKIE_SECRET = 3
/** `readCookie`'s `out`: 1 when the 0.1.0 signature verified it, else 0. */
export const COOKIE_LEGACY = 4
/** Length of `readCookie`'s `out`. */
export const COOKIE_OUT_LENGTH = 5

export const STATE_STALE = 0
export const STATE_ATTACHED = 1
export const STATE_DETACHED = 2

/**
 * Upper bounds (ms, inclusive) of the expiry-lag buckets, as crates/core `EXPIRY_LAG_BOUNDS`:
 * the default resolution (1000 ms, how late a healthy process may be) a hundredfold down and
 * sixtyfold up, where a blocked event loop or a clock step shows.
 */
export const EXPIRY_LAG_BOUNDS: readonly number[] = Object.freeze([
  1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000,
])
/** What `Engine.expiryLag` writes: a count per bound, one over the last, and the sum. */
export const EXPIRY_LAG_VALUES = EXPIRY_LAG_BOUNDS.length + 2

/** What an engine is built with; the facade has validated every field. */
export interface EngineConfig {
  /** Random id length in bytes, 16 to 64. */
  idBytes: number
  idEncoding: 'base64url' | 'hex'
  keys: 'random' | 'caller'
  /** Cap on one session's data bytes; Infinity for none. */
  maxDataBytes: number
  /** Tick of the deadline wheel in ms, an integer >= 1: expiry is at most this late. */
  resolution: number
  /**
   * The manager's maxSessions (Infinity or absent: no cap). Above 2^16 the JsEngine makes its
   * per-slot arrays that size at once, so that no create below the cap copies them; the native engine
   * grows in pages and needs no such hint.
   */
  maxSessions?: number
}
