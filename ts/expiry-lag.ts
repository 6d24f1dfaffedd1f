import { EXPIRY_LAG_BOUNDS, EXPIRY_LAG_VALUES } from './engine'

const BOUNDS = EXPIRY_LAG_BOUNDS.length

/**
 * Sessions counted by how late after their deadline they closed (ms), in the buckets of
 * EXPIRY_LAG_BOUNDS, and the lags' sum: `Engine.expiryLag`'s layout. The JsEngine counts its
 * sweeps in one, the facade the expired sessions it closes outside a sweep in another.
 */
export class ExpiryLagCounts {
  /** A count per bound, the count over the last bound, the sum. */
  readonly #values = new Float64Array(EXPIRY_LAG_VALUES)

  /** Counts one session closed `lag` ms after its deadline; NaN (no deadline, or gone) is none. */
  record(lag: number): void {
    if (Number.isNaN(lag)) return
    const late = lag > 0 ? lag : 0
    let bucket = 0
    while (bucket < BOUNDS && late > EXPIRY_LAG_BOUNDS[bucket]) bucket++
    this.#values[bucket]++
    this.#values[BOUNDS + 1] += late
  }

  /** Writes these counts and sum into `out` (EXPIRY_LAG_VALUES numbers). */
  copyTo(out: Float64Array): void {
    out.set(this.#values)
  }

  /** Adds these counts and sum into `out` (EXPIRY_LAG_VALUES numbers). */
  addTo(out: Float64Array): void {
    for (let index = 0; index < EXPIRY_LAG_VALUES; index++) out[index] += this.#values[index]
  }
}
