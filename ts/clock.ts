import { describe } from './validate'

/**
 * The manager's time: the `clock` option read once per operation, made safe for both engines.
 *
 * - Time never goes backwards: a reading earlier than the latest one (an NTP step, a VM resume)
 *   is clamped to the latest. Every expiry structure assumes a clock that only moves forward; a
 *   step back would otherwise file new sessions behind older ones and strand them. Clamping
 *   makes expiry late by at most the size of the step, never early.
 * - A reading that is not a finite safe number (NaN, Infinity, 2^53 + 1, a string, a throw) is
 *   not handed to an engine: it would poison deadlines for good (NaN never compares due) and make
 *   the engines disagree. The latest good reading is used instead, and the failure is reported
 *   once per run of bad readings through `report` (the manager's `'error'` event or a warning).
 */
export class ManagerClock {
  readonly #read: () => number
  readonly #report: (error: unknown) => void
  #latest: number
  /** True after a bad reading until a good one: a clock stuck on NaN reports once, not per call. */
  #failing = false
  /** Bad readings so far (each one counted; only the first of a run is reported). */
  failures = 0

  /** Reads `read` once: a clock that fails on its first reading is a bad option, not a runtime fault. */
  constructor(read: () => number, report: (error: unknown) => void) {
    this.#read = read
    this.#report = report
    let first: unknown
    try {
      first = read()
    } catch (error) {
      throw new TypeError('options.clock threw on its first reading', { cause: error })
    }
    if (!isTime(first)) {
      throw new RangeError(`options.clock must return a finite safe number of milliseconds, returned ${describe(first)}`)
    }
    this.#latest = first
  }

  /** The current time in ms: the clock's reading, or the latest good one when that is later. */
  now(): number {
    let reading: unknown
    try {
      reading = this.#read()
    } catch (error) {
      return this.#fail(() => new Error('options.clock threw; sessionkeeper uses its latest good reading until it recovers', { cause: error }))
    }
    if (!isTime(reading)) {
      return this.#fail(() => new RangeError(
        `options.clock returned ${describe(reading)}, not a finite safe number of milliseconds; ` +
        'sessionkeeper uses its latest good reading until it recovers',
      ))
    }
    this.#failing = false
    if (reading > this.#latest) this.#latest = reading
    return this.#latest
  }

  /**
   * Takes `time`, read from the clock before (a session file's latest activity), as the latest
   * reading when it is later: time stands still until the clock passes it, as after a step back
   * while running, so that no restored session is newer than the ones made after it.
   */
  atLeast(time: number): void {
    if (isTime(time) && time > this.#latest) this.#latest = time
  }

  /** The error is made only when reported: a stuck clock must not build a stack trace per call. */
  #fail(makeError: () => Error): number {
    this.failures++
    if (!this.#failing) {
      this.#failing = true
      this.#report(makeError())
    }
    return this.#latest
  }
}

/** NaN fails both comparisons, so this one test also refuses NaN. */
function isTime(value: unknown): value is number {
  return typeof value === 'number' && value >= -Number.MAX_SAFE_INTEGER && value <= Number.MAX_SAFE_INTEGER
}
