/** Which session count a figure "at 10⁶ sessions" is read at when a profile did not reach 10⁶. */
import type { BenchResults } from '../results-schema'

export const REFERENCE_SIZE = 1_000_000

/** Every session count measured by a store or the floor, ascending. */
export function measuredSizes(results: Pick<BenchResults, 'stores' | 'floor'>): number[] {
  const sizes = new Set([...results.stores.map((figures) => figures.size), ...results.floor.map((floor) => floor.size)])
  return [...sizes].sort((a, b) => a - b)
}

/** 10⁶ first, then each smaller measured size, largest first: the order to look for a figure in. */
export function sizesUpToReference(sizes: readonly number[]): number[] {
  return sizes.filter((size) => size <= REFERENCE_SIZE).sort((a, b) => b - a)
}

/** The size a chart shows: the reference size, else the largest below it, else the smallest above. */
export function chartSize(sizes: readonly number[]): number | undefined {
  return sizesUpToReference(sizes)[0] ?? [...sizes].sort((a, b) => a - b)[0]
}
