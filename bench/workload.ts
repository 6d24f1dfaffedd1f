/** What every benchmarked store is fed: ~200 bytes of string data per session, fresh id strings. */
import { performance } from 'node:perf_hooks'

export function sessionData(index: number): Record<string, string> {
  return {
    user: `user-${index}`,
    theme: 'dark',
    locale: 'en-GB',
    csrf: 'c2Vzc2lvbmtlZXBlciBjc3JmIHRva2VuIDEyMzQ1Njc4',
    cart: `sku-${index % 9973}:2,sku-${index % 7919}:1,sku-${index % 104729}:5;coupon=WINTER-${index % 97};updated=1700000000000`,
  }
}

/**
 * A fresh copy of each id per call, as parsing a cookie header yields it: a new string whose
 * hash V8 has not cached, so every store pays for hashing as it would in a server.
 */
export function freshIds(ids: string[]): (index: number) => string {
  const padded = ids.map((id) => `${id};`)
  return (index) => padded[index].slice(0, -1)
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

/** Median of `runs` timings of `body`, in ns per operation. */
export function medianNsPerOp(runs: number, operations: number, body: () => void): number {
  const samples: number[] = []
  for (let run = 0; run < runs; run++) {
    const start = performance.now()
    body()
    samples.push(((performance.now() - start) * 1e6) / operations)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)]
}

export function fullGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc')
  const start = performance.now()
  gc()
  return performance.now() - start
}

/**
 * The longest gap between event-loop turns while `until()` is false: a setImmediate chain
 * notices any synchronous block between two of its turns.
 */
export function longestBlock(until: () => boolean, timeoutMs: number): Promise<{ longestMs: number; elapsedMs: number }> {
  return new Promise((resolve) => {
    const start = performance.now()
    let last = start
    let longest = 0
    const tick = () => {
      const now = performance.now()
      longest = Math.max(longest, now - last)
      last = now
      if (until() || now - start > timeoutMs) resolve({ longestMs: longest, elapsedMs: now - start })
      else setImmediate(tick)
    }
    setImmediate(tick)
  })
}
