import { GENERATION_SPACE, SLOT_SPACE } from './engine'
import type { CloseReason } from './registry'

// Hooks and records the package's own modules share. Nothing here is exported from a package
// entry, so none of it is public API; what is marked @internal is also stripped from the
// published declarations (tsconfig.build.json's stripInternal).

/** @internal For the HTTP integrations: the SessionManager method that counts a rejected cookie. */
export const recordRejectedCookie = Symbol('sessionkeeper.recordRejectedCookie')

/** Reason codes; 0 is "no record". */
const REASONS: readonly (CloseReason | undefined)[] = [undefined, 'destroyed', 'expired', 'evicted', 'shutdown']
const CODES: Record<CloseReason, number> = { destroyed: 1, expired: 2, evicted: 3, shutdown: 4 }
/** Generations remembered per slot: eight 4-bit codes in one 32-bit word, the latest lowest. */
const DEPTH = 8
const BITS = 4

/**
 * Why sessions closed, so that a `Session` handle can tell `closeReason` after its
 * slot was released (and reused). Kept per engine slot, in typed arrays: no JS object per
 * session, O(1) to record and to read, memory bounded by the table's slot count (8 bytes a slot).
 *
 * A slot remembers the reasons of its last 8 sessions (generations). Sessions the engine
 * released without a record are expired ones (the sweep frees them inside the engine when no
 * listener or owned object needs to see them), so "no record" reads as undefined and the caller
 * treats it as `'expired'`; so does a handle whose slot has since held 8 more closed sessions,
 * unless the handle read its reason earlier (`Session` caches it).
 */
export class CloseRecords {
  /** Per slot: 1 + the latest generation recorded (0: none). */
  #latest = new Uint32Array(0)
  /** Per slot: the codes of the last 8 generations, the latest in the lowest 4 bits. */
  #codes = new Uint32Array(0)

  /** Records that the session `handle` closed for `reason`. Call once per close. */
  record(handle: number, reason: CloseReason): void {
    const slot = handle % SLOT_SPACE
    const generation = (handle - slot) / SLOT_SPACE
    if (slot >= this.#latest.length) this.#grow(slot)
    const latest = this.#latest[slot]
    const code = CODES[reason]
    if (latest === 0) {
      this.#codes[slot] = code
    } else {
      const shift = (generation - (latest - 1) + GENERATION_SPACE) % GENERATION_SPACE
      this.#codes[slot] = shift >= DEPTH ? code : ((this.#codes[slot] << (BITS * shift)) | code) >>> 0
    }
    this.#latest[slot] = generation + 1
  }

  /** The recorded reason of `handle`, or undefined when none is known. */
  reasonOf(handle: number): CloseReason | undefined {
    const slot = handle % SLOT_SPACE
    const latest = slot < this.#latest.length ? this.#latest[slot] : 0
    if (latest === 0) return undefined
    const generation = (handle - slot) / SLOT_SPACE
    const age = (latest - 1 - generation + GENERATION_SPACE) % GENERATION_SPACE
    if (age >= DEPTH) return undefined
    return REASONS[(this.#codes[slot] >>> (BITS * age)) & 0xf]
  }

  #grow(slot: number): void {
    const length = Math.min(SLOT_SPACE, Math.max(slot + 1, this.#latest.length * 2, 1024))
    const latest = new Uint32Array(length)
    latest.set(this.#latest)
    this.#latest = latest
    const codes = new Uint32Array(length)
    codes.set(this.#codes)
    this.#codes = codes
  }
}
