/**
 * Per-slot (and per-number) arrays that grow a page at a time, so that no single call copies
 * one whole: an array doubled in place copied up to 64 MiB, and rehashed nothing less, inside
 * the create or close that needed room (README, A production `maxSessions` and Users). A page
 * holds PAGE_SIZE records; readers treat a missing page as records never written.
 *
 * @internal The facade's and persistence's; not public API.
 */

/** Records per page: 4,096. */
export const PAGE_BITS = 12
export const PAGE_SIZE = 1 << PAGE_BITS
export const PAGE_MASK = PAGE_SIZE - 1

/** Files `page` as the page of record `index` in `pages` (the gaps below left undefined); returns it. */
export function addPage<T>(pages: (T | undefined)[], index: number, page: T): T {
  const at = index >>> PAGE_BITS
  while (pages.length <= at) pages.push(undefined)
  pages[at] = page
  return page
}
