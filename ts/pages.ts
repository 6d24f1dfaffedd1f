// Per-slot (and per-number) arrays that grow a page at a time, so that no single call copies
// one whole: an array doubled in place copied up to 64 MiB, and rehashed nothing less, inside
// the create or close that needed room (README, A production `maxSessions` and Users). A page
// holds PAGE_SIZE records; readers treat a missing page as records never written. The facade's
// and persistence's; not public API (each export is @internal, stripped from the declarations).

/** @internal log2 of the records per page. */
export const PAGE_BITS = 12
/** @internal Records per page: 4,096. */
export const PAGE_SIZE = 1 << PAGE_BITS
/** @internal A record's place in its page: `index & PAGE_MASK`. */
export const PAGE_MASK = PAGE_SIZE - 1

/** @internal Files `page` as the page of record `index` in `pages` (the gaps below left undefined); returns it. */
export function addPage<T>(pages: (T | undefined)[], index: number, page: T): T {
  const at = index >>> PAGE_BITS
  while (pages.length <= at) pages.push(undefined)
  pages[at] = page
  return page
}
