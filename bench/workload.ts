/**
 * The workload every benchmarked store gets (~200 bytes of string data per session, a fresh id
 * string per call, a fixed random visiting order) and the loops that time it. Operations report
 * through a `done` callback so synchronous stores and callback stores share every loop.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'

export function sessionData(index: number): Record<string, string> {
  return {
    user: `user-${index}`,
    theme: 'dark',
    locale: 'en-GB',
    csrf: 'c2Vzc2lvbmtlZXBlciBjc3JmIHRva2VuIDEyMzQ1Njc4',
    cart: `sku-${index % 9973}:2,sku-${index % 7919}:1,sku-${index % 104729}:5;coupon=WINTER-${index % 97};updated=1700000000000`,
  }
}

/** Characters of a 128-bit id in base64url: every store's ids have this length. */
export const ID_LENGTH = 22

/**
 * Every live session's id, off the JS heap: holding them as strings would add ~40 bytes per
 * session to the heap figures of stores (ours) that do not keep a JS string per id.
 */
export class IdTable {
  readonly #bytes: Buffer

  constructor(readonly count: number) {
    // Filled, not just allocated, so its pages are resident before the baseline RSS reading.
    this.#bytes = Buffer.alloc(count * ID_LENGTH, 0x41)
  }

  get(index: number): string {
    return this.#bytes.toString('latin1', index * ID_LENGTH, (index + 1) * ID_LENGTH)
  }

  set(index: number, id: string): void {
    if (id.length !== ID_LENGTH) throw new Error(`id of ${id.length} characters, expected ${ID_LENGTH}: ${id}`)
    this.#bytes.write(id, index * ID_LENGTH, 'latin1')
  }
}

/**
 * Ids handed out as a fresh string per call, as parsing a cookie header yields them: a new
 * string whose hash V8 has not cached, so every store pays for hashing as it would in a server.
 */
export class FreshIds {
  readonly #padded: string[]

  constructor(ids: Iterable<string>) {
    this.#padded = Array.from(ids, (id) => `${id};`)
  }

  get count(): number {
    return this.#padded.length
  }

  at(index: number): string {
    return this.#padded[index].slice(0, -1)
  }

  replace(index: number, id: string): void {
    this.#padded[index] = `${id};`
  }
}

/** A fixed random visiting order, so lookups miss the CPU caches as real traffic does. */
export function shuffledOrder(count: number, seed = 42): Uint32Array {
  const order = new Uint32Array(count)
  for (let index = 0; index < count; index++) order[index] = index
  let state = seed
  for (let index = count - 1; index > 0; index--) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0
    const other = state % (index + 1)
    const swap = order[index]
    order[index] = order[other]
    order[other] = swap
  }
  return order
}

/** One store operation on item `index`; it calls `done` once, now or on a later turn. */
export type Operation = (index: number, done: (ok: boolean) => void) => void

/** Operations in flight at once for callback stores (synchronous ones finish each at once). */
const WINDOW = 256

/**
 * Runs `operation` for indexes 0..count-1, at most WINDOW in flight, and resolves with how many
 * reported failure. Synchronous stores never leave the loop, so their timing has no turns in it.
 */
export function runOperations(count: number, operation: Operation): Promise<number> {
  return new Promise((resolve) => {
    let next = 0
    let completed = 0
    let failed = 0
    let windowEnd = 0
    let issuing = false
    const issue = () => {
      issuing = true
      while (next < count) {
        windowEnd = Math.min(next + WINDOW, count)
        for (; next < windowEnd; next++) operation(next, done)
        if (completed < windowEnd) {
          issuing = false
          return
        }
      }
      issuing = false
      if (completed === count) resolve(failed)
    }
    const done = (ok: boolean) => {
      if (!ok) failed++
      completed++
      if (completed === windowEnd && !issuing) issue()
    }
    issue()
  })
}

/** Operations per second of one timed `runOperations`; any failure fails the benchmark. */
export async function timedOpsPerSec(label: string, count: number, operation: Operation): Promise<number> {
  const start = performance.now()
  const failed = await runOperations(count, operation)
  const elapsedMs = performance.now() - start
  if (failed > 0) throw new Error(`${label}: ${failed} of ${count} operations failed`)
  return (count * 1000) / elapsedMs
}

export function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

export function fullGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc')
  const start = performance.now()
  gc()
  return performance.now() - start
}

export interface ServingFigures {
  operations: number
  elapsedMs: number
  eventLoopDelayP99Ms: number
  eventLoopDelayMaxMs: number
}

/** Calls issued per event-loop turn while serving: a busy server's worth of requests. */
const SERVING_BATCH = 256

/**
 * Serves a steady load for `durationMs`: SERVING_BATCH operations on random items per
 * setImmediate turn, with the event-loop delay recorded at 1 ms resolution. Operations still in
 * flight at the end are waited for but not counted.
 */
export function serve(durationMs: number, items: number, operation: Operation): Promise<ServingFigures> {
  return new Promise((resolve, reject) => {
    const delay = monitorEventLoopDelay({ resolution: 1 })
    let state = 0x9e3779b9
    let completed = 0
    let inFlight = 0
    let failed = 0
    const done = (ok: boolean) => {
      inFlight--
      if (ok) completed++
      else failed++
    }
    delay.enable()
    const start = performance.now()
    let countedOperations = 0
    let elapsedMs = 0
    const finish = () => {
      if (inFlight > 0) {
        setImmediate(finish)
        return
      }
      delay.disable()
      if (failed > 0) reject(new Error(`serving: ${failed} operations missed a live session`))
      else resolve({
        operations: countedOperations,
        elapsedMs,
        eventLoopDelayP99Ms: delay.percentile(99) / 1e6,
        eventLoopDelayMaxMs: delay.max / 1e6,
      })
    }
    const turn = () => {
      const now = performance.now()
      if (now - start >= durationMs) {
        countedOperations = completed
        elapsedMs = now - start
        finish()
        return
      }
      for (let call = 0; call < SERVING_BATCH; call++) {
        // xorshift32: cheap, and the same sequence for every store.
        state ^= state << 13
        state ^= state >>> 17
        state ^= state << 5
        inFlight++
        operation((state >>> 0) % items, done)
      }
      setImmediate(turn)
    }
    setImmediate(turn)
  })
}

/**
 * Calls `start`, then follows the event loop with a setImmediate chain until `isEmpty()`: the
 * time until then (null past `timeoutMs`) and the longest gap between two turns, i.e. the
 * longest synchronous block, the first one (`start` itself) included.
 */
export function watchUntilEmpty(start: () => void, isEmpty: () => boolean, timeoutMs: number): Promise<{ emptyAfterMs: number | null; longestBlockMs: number }> {
  return new Promise((resolve) => {
    const begin = performance.now()
    let last = begin
    let longest = 0
    const tick = () => {
      const now = performance.now()
      longest = Math.max(longest, now - last)
      last = now
      if (isEmpty()) resolve({ emptyAfterMs: now - begin, longestBlockMs: longest })
      else if (now - begin > timeoutMs) resolve({ emptyAfterMs: null, longestBlockMs: longest })
      else setImmediate(tick)
    }
    start()
    setImmediate(tick)
  })
}
