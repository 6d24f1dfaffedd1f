import { performance } from 'node:perf_hooks'

/** Longest delay setTimeout honours; a later deadline is reached by re-arming. */
const MAX_DELAY = 2 ** 31 - 1

/**
 * Wakes the manager when the next session is due, never earlier than its deadline (by the
 * manager's clock) and never more often than every `resolution` ms (by real time). Its timers are
 * unref'd, so they never keep a process alive.
 */
export class ExpiryTimer {
  #timeout: NodeJS.Timeout | undefined
  #immediate: NodeJS.Immediate | undefined
  #armedFor = Infinity
  #lastFire = -Infinity
  #stopped = false

  constructor(
    private readonly clock: () => number,
    private readonly resolution: number,
    private readonly onDue: () => 'done' | 'more',
    private readonly nextDeadline: () => number,
    /** Gets what a wake-up threw: an exception from a timer callback would end the process. */
    private readonly onError: (error: unknown) => void,
  ) {}

  /** A session now has `deadline`; wake up for it if that is earlier than the armed wake-up. */
  note(deadline: number): void {
    if (deadline < this.#armedFor && this.#immediate === undefined) this.#arm(deadline)
  }

  /** Re-arms for the engine's next deadline, as after a manual sweep. */
  rearm(): void {
    if (this.#immediate === undefined) this.#arm(this.nextDeadline())
  }

  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timeout)
    if (this.#immediate !== undefined) clearImmediate(this.#immediate)
    this.#timeout = undefined
    this.#immediate = undefined
    this.#armedFor = Infinity
  }

  #arm(deadline: number): void {
    if (this.#stopped) return
    clearTimeout(this.#timeout)
    this.#timeout = undefined
    this.#armedFor = deadline
    if (deadline === Infinity) return
    const untilDue = deadline - this.clock()
    const untilAllowed = this.#lastFire + this.resolution - performance.now()
    const delay = Math.min(Math.max(untilDue, untilAllowed, 1), MAX_DELAY)
    this.#timeout = setTimeout(this.#fire, Math.ceil(delay)).unref()
  }

  #fire = (): void => {
    this.#timeout = undefined
    this.#immediate = undefined
    this.#armedFor = Infinity
    if (this.#stopped) return
    this.#lastFire = performance.now()
    let progress: 'done' | 'more'
    try {
      progress = this.onDue()
    } catch (error) {
      // Reported, and tried again at the next wake-up: the timer must outlive one bad slice.
      this.onError(error)
      progress = 'done'
    }
    // A listener inside the slice may have armed a timeout; the re-arm below supersedes it.
    clearTimeout(this.#timeout)
    this.#timeout = undefined
    this.#armedFor = Infinity
    if (progress === 'more') {
      // Yield to the event loop between slices so a mass expiry never blocks it for long.
      this.#immediate = setImmediate(this.#fire).unref()
      return
    }
    this.#armSafely()
  }

  #armSafely(): void {
    try {
      this.#arm(this.nextDeadline())
    } catch (error) {
      this.onError(error)
      if (!this.#stopped) this.#timeout = setTimeout(this.#fire, Math.max(this.resolution, 1)).unref()
    }
  }
}
