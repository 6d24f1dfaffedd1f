import { EXPIRY_LAG_BOUNDS, EXPIRY_LAG_VALUES } from './engine'

const BOUNDS = EXPIRY_LAG_BOUNDS.length
const SUM = BOUNDS + 1
/**
 * Octaves of lag, [2^k, 2^(k+1)) ms for k in 0..OCTAVES; a lag under 1 ms counts in the first,
 * and the last starts past every bound (crates/core engine/lag.rs: the same lookup).
 */
const OCTAVES = 18
const PAST_EVERY_BOUND = 2 ** (OCTAVES - 1)
/** Per octave: how many bounds lie below its start, and the bound inside it (no octave holds two). */
const BELOW = new Uint8Array(OCTAVES)
const INSIDE = new Float64Array(OCTAVES).fill(Infinity)
for (let octave = 0; octave < OCTAVES; octave++) {
  for (const bound of EXPIRY_LAG_BOUNDS) {
    if (bound < 2 ** octave) BELOW[octave]++
    else if (bound < 2 ** (octave + 1)) {
      if (INSIDE[octave] !== Infinity) throw new Error('two expiry-lag bounds in one octave')
      INSIDE[octave] = bound
    }
  }
}

/**
 * Sessions counted by how late after their deadline they closed (ms), in the buckets of
 * EXPIRY_LAG_BOUNDS, and the lags' sum: `Engine.expiryLag`'s layout. The JsEngine counts its
 * sweeps in one, the facade the expired sessions it closes outside a sweep in another.
 */
export class ExpiryLagCounts {
  /** A count per bound, the count over the last bound, the sum. */
  readonly values = new Float64Array(EXPIRY_LAG_VALUES)

  /**
   * Counts one session closed `lag` ms after its deadline; NaN (no deadline, or gone) is none.
   * The bucket comes from the lag's octave and one comparison: a sweep calls this per session,
   * and a search over the bounds that stops at the first one above the lag mispredicts its exit.
   */
  record(lag: number): void {
    let late = lag
    if (!(late > 0)) {
      if (Number.isNaN(late)) return
      late = 0
    }
    const octave = late >= PAST_EVERY_BOUND ? OCTAVES - 1 : late < 1 ? 0 : 31 - Math.clz32(late)
    this.values[BELOW[octave] + (late > INSIDE[octave] ? 1 : 0)]++
    this.values[SUM] += late
  }

  /** Writes these counts and sum into `out` (EXPIRY_LAG_VALUES numbers). */
  copyTo(out: Float64Array): void {
    out.set(this.values)
  }

  /** Adds these counts and sum into `out` (EXPIRY_LAG_VALUES numbers). */
  addTo(out: Float64Array): void {
    for (let index = 0; index < EXPIRY_LAG_VALUES; index++) out[index] += this.values[index]
  }
}
