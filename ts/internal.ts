import { GENERATION_SPACE, SLOT_SPACE, slotOf } from './engine'
import { addPage, PAGE_BITS, PAGE_MASK, PAGE_SIZE } from './pages'
import type { CloseReason } from './registry'

// Hooks and records the package's own modules share. Nothing here is exported from a package
// entry, so none of it is public API; what is marked @internal is also stripped from the
// published declarations (tsconfig.build.json's stripInternal).

/** @internal For the HTTP integrations: the SessionManager method that counts a rejected cookie. */
export const recordRejectedCookie = Symbol('sessionkeeper.recordRejectedCookie')

/**
 * @internal For the HTTP integrations: the SessionManager method that makes its engine's native
 * cookie verifier (undefined when the engine reads no cookies itself: the JsEngine).
 */
export const cookieVerifier = Symbol('sessionkeeper.cookieVerifier')

/**
 * @internal For the HTTP integrations: the SessionManager method that reads a Cookie header in
 * one engine call (the native request path), counting a rejected cookie.
 */
export const readCookieHeader = Symbol('sessionkeeper.readCookieHeader')

/**
 * @internal For the HTTP integrations: the SessionManager method that runs a request's handler
 * with the request bound as the async context; `current()` reads its `session` each time.
 */
export const runRequest = Symbol('sessionkeeper.runRequest')

/**
 * @internal For sessionMiddleware and sessionPlugin: where the object `sessionFor` returns over
 * an in-process manager keeps its request attacher (the shared per-request machinery), so the
 * integrations use it without a wrapper call and without it being an export of an entry.
 */
export const requestAttacher = Symbol('sessionkeeper.requestAttacher')

/** @internal What {@link requestAttacher} holds. */
export interface RequestAttacher {
  attach(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): unknown
}

/** @internal For the HTTP integrations: the Session method that sets its observer (see SessionObserver). */
export const observeSession = Symbol('sessionkeeper.observeSession')

/**
 * @internal What the HTTP integrations learn from the one handle a request holds on a session:
 * a `regenerate()` (checked first, told after) and a `close()` that closed it. Handles other
 * requests hold have no observer, so their changes go unseen here.
 */
export interface SessionObserver {
  /** Before anything changes: throws to refuse (a key that cannot be a cookie, headers already sent). */
  beforeRegenerate(session: object, newKey: unknown): void
  /** The handle's session now has `id`. */
  regenerated(session: object, id: string): void
  /** The handle's `close()` closed it. */
  closed(session: object): void
}

/**
 * @internal For the HTTP integrations' login: the SessionManager method that creates a session
 * to replace another, closing the old one first only where the new one needs its room or key.
 */
export const replaceSession = Symbol('sessionkeeper.replaceSession')

/**
 * @internal For SessionkeeperStore's Redis mode: the RedisSession method that writes fields
 * (data fields by their record names) and renews the session to a new idle timeout, in one step.
 */
export const writeAndRenew = Symbol('sessionkeeper.writeAndRenew')

/**
 * @internal For SessionkeeperStore's Redis mode: the data version of the record a RedisSession
 * holds (see the WRITE script), which a write merged against that copy expects.
 */
export const dataVersion = Symbol('sessionkeeper.dataVersion')

/** A RedisSession a create closed in its own step (a login's old session): marks the handle closed. */
export const closedByCreate = Symbol('sessionkeeper.closedByCreate')

/** @internal For SessionkeeperStore's Redis mode: a plain command on the RedisSessionManager's connection (its deadline, its errors). */
export const redisCommand = Symbol('sessionkeeper.redisCommand')

/** @internal For SessionkeeperStore's Redis mode: the RedisSessionManager's estimate of Redis's clock (ms). */
export const redisNow = Symbol('sessionkeeper.redisNow')

/** Reason codes; 0 is "no record". */
const REASONS: readonly (CloseReason | undefined)[] = [undefined, 'destroyed', 'expired', 'evicted', 'shutdown']
const CODES: Record<CloseReason, number> = { destroyed: 1, expired: 2, evicted: 3, shutdown: 4 }
/** Generations remembered per slot: eight 4-bit codes in one 32-bit word, the latest lowest. */
const DEPTH = 8
const BITS = 4
/** Most recent closes remembered by handle: 2^16 entries, 9 bytes each. */
const CACHE_LIMIT = 2 ** 16
/** Per slot in a page (of PAGE_SIZE slots, 32 KiB), two uint32s side by side (one cache line): 1 + the latest generation recorded (0: none), and the codes of the last 8 generations, the latest in the lowest 4 bits. */
const LATEST = 0
const CODES_AT = 1

/**
 * Why sessions closed, so that a `Session` handle can tell `closeReason` after its
 * slot was released (and reused). Kept per engine slot, in typed arrays: no JS object per
 * session, O(1) to record and to read, memory bounded by the table's slot count (8 bytes a slot).
 *
 * A slot remembers the reasons of its last 8 sessions (generations). The free stack hands a
 * freed slot to the very next create, so under churn (anonymous sessions made and dropped) one
 * slot can see 8 closes while a request still holds the handle of a logged-out session; a
 * direct-mapped cache of recent closes, keyed by the whole handle and as large as the slot
 * arrays (up to 2^16 entries), answers for those. Sessions the engine released without a record
 * are expired ones (the sweep frees them inside the engine when no listener or owned object needs
 * to see them), so "no record" reads as undefined and the caller treats it as `'expired'`; so
 * does a handle whose record has been pushed out of both, unless the handle read its reason
 * earlier (`Session` caches it).
 *
 * The per-slot records live in pages of 4,096 slots, each made when a slot in it first closes:
 * one array doubled in place copied 4 MiB and touched 8 MiB of new pages inside a single close
 * (at slot 2^19), a 2-12 ms block in the middle of a mass logout.
 */
export class CloseRecords {
  /** Pages of per-slot records, by slot >>> PAGE_BITS; undefined until a slot in it closes. */
  readonly #pages: (Uint32Array | undefined)[] = []
  /** Recent closes by handle, whatever their slot: entry i holds a handle hashing to i. */
  #cachedHandles = new Float64Array(0)
  #cachedCodes = new Uint8Array(0)

  /** Records that the session `handle` closed for `reason`. Call once per close. */
  record(handle: number, reason: CloseReason): void {
    const slot = slotOf(handle)
    const generation = (handle - slot) / SLOT_SPACE
    const page = this.#pages[slot >>> PAGE_BITS] ?? this.#addPage(slot)
    const at = (slot & PAGE_MASK) * 2
    const latest = page[at + LATEST]
    const code = CODES[reason]
    if (latest === 0) {
      page[at + CODES_AT] = code
    } else {
      const shift = (generation - (latest - 1) + GENERATION_SPACE) % GENERATION_SPACE
      page[at + CODES_AT] = shift >= DEPTH ? code : ((page[at + CODES_AT] << (BITS * shift)) | code) >>> 0
    }
    page[at + LATEST] = generation + 1
    const entry = this.#cacheEntry(slot, generation)
    this.#cachedHandles[entry] = handle
    this.#cachedCodes[entry] = code
  }

  /** The recorded reason of `handle`, or undefined when none is known. */
  reasonOf(handle: number): CloseReason | undefined {
    const slot = slotOf(handle)
    const page = this.#pages[slot >>> PAGE_BITS]
    if (page === undefined) return undefined
    const at = (slot & PAGE_MASK) * 2
    const latest = page[at + LATEST]
    if (latest === 0) return undefined
    const generation = (handle - slot) / SLOT_SPACE
    // Only a handle an engine made has a reason: an integer, so that the mask and the division
    // are exact (a subnormal masks to slot 0 and divides to 0), of a generation that exists.
    if (!Number.isInteger(handle) || !(handle >= 0) || generation >= GENERATION_SPACE) return undefined
    const age = (latest - 1 - generation + GENERATION_SPACE) % GENERATION_SPACE
    if (age < DEPTH) return REASONS[(page[at + CODES_AT] >>> (BITS * age)) & 0xf]
    const entry = this.#cacheEntry(slot, generation)
    return this.#cachedHandles[entry] === handle ? REASONS[this.#cachedCodes[entry]] : undefined
  }

  /** Consecutive generations of one slot land far apart, so churn in one slot does not evict itself. */
  #cacheEntry(slot: number, generation: number): number {
    return (Math.imul(generation, 0x9e3779b1) ^ slot) & (this.#cachedHandles.length - 1)
  }

  /** Makes the page of `slot`, and the cache as large as the slots so far (up to CACHE_LIMIT). */
  #addPage(slot: number): Uint32Array {
    const page = addPage(this.#pages, slot, new Uint32Array(PAGE_SIZE * 2))
    // Rehashing would cost a pass; a larger cache starts empty (the per-slot records carry on).
    const cacheLength = Math.min(CACHE_LIMIT, 2 ** Math.ceil(Math.log2(((slot >>> PAGE_BITS) + 1) * PAGE_SIZE)))
    if (cacheLength > this.#cachedHandles.length) {
      this.#cachedHandles = new Float64Array(cacheLength).fill(-1)
      this.#cachedCodes = new Uint8Array(cacheLength)
    }
    return page
  }
}
